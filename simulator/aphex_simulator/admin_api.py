"""`/_sim/...`: control endpoints, so a script in another process can drive a running simulator.

They need no key: the simulator only listens on 127.0.0.1 and holds nothing secret.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from .responses import Response, error_response, json_response

if TYPE_CHECKING:
    from .simulator import Simulator

ADMIN_PREFIX = "/_sim/"

Query = Mapping[str, list[str]]


class _BadRequest(ValueError):
    pass


def _param(query: Query, name: str, default: str | None = None) -> str:
    values = query.get(name)
    if not values:
        if default is None:
            raise _BadRequest(f"{name} is required")
        return default
    return values[-1]


def _int_param(query: Query, name: str, default: int | None = None) -> int:
    raw = _param(query, name, None if default is None else str(default))
    try:
        return int(raw)
    except ValueError:
        raise _BadRequest(f"{name} must be an integer") from None


def _optional_number(query: Query, name: str) -> float | None:
    values = query.get(name)
    if not values:
        return None
    try:
        return float(values[-1])
    except ValueError:
        raise _BadRequest(f"{name} must be a number") from None


def _new_day(sim: Simulator, query: Query) -> Response:
    sim.new_day()
    return json_response(200, {"ok": True, "served_today": sim.served_today})


def _append(sim: Simulator, query: Query) -> Response:
    added = sim.append_events(_int_param(query, "count"))
    return json_response(200, {"ok": True, "appended": len(added), "events": len(sim.event_log)})


def _fault_options(query: Query) -> dict[str, Any]:
    retry_after = _optional_number(query, "retry_after")
    return {
        "count": _int_param(query, "count", 1),
        "retry_after": None if retry_after is None else int(retry_after),
        "stall_seconds": _optional_number(query, "stall_seconds"),
    }


def _fault(sim: Simulator, query: Query) -> Response:
    sim.inject_fault(_param(query, "kind"), **_fault_options(query))
    return json_response(200, {"ok": True})


def _plan_fault(sim: Simulator, query: Query) -> Response:
    account_id = _param(query, "account_id")
    sim.set_plan_fault(account_id, _param(query, "kind"), **_fault_options(query))
    return json_response(200, {"ok": True})


def _cycle(sim: Simulator, query: Query) -> Response:
    sim.set_cursor_cycle(_int_param(query, "pages"), _int_param(query, "after_pages", 1))
    return json_response(200, {"ok": True})


def _variations(sim: Simulator, query: Query) -> Response:
    return json_response(200, [asdict(served) for served in sim.variations_served])


def _publish(sim: Simulator, query: Query) -> Response:
    same_time = _param(query, "same_time", "0") not in ("0", "false", "")
    version = sim.publish_version(_param(query, "account_id"), same_time=same_time)
    return json_response(200, {"ok": True, "version": version})


def _expire_token(sim: Simulator, query: Query) -> Response:
    sim.expire_token(_param(query, "account_id"))
    return json_response(200, {"ok": True})


def _issue_token(sim: Simulator, query: Query) -> Response:
    token = sim.issue_token(_param(query, "account_id"))
    return json_response(200, {"ok": True, "token": token})


def _tasks(sim: Simulator, query: Query) -> Response:
    return json_response(200, sim.current_tasks())


def _info(sim: Simulator, query: Query) -> Response:
    return json_response(200, sim.info())


def _requests(sim: Simulator, query: Query) -> Response:
    return json_response(200, [asdict(record) for record in sim.requests])


_Action = Callable[["Simulator", Query], Response]
_ROUTES: dict[str, tuple[str, _Action]] = {
    "new-day": ("POST", _new_day),
    "append": ("POST", _append),
    "fault": ("POST", _fault),
    "plan-fault": ("POST", _plan_fault),
    "cycle": ("POST", _cycle),
    "variations": ("GET", _variations),
    "publish": ("POST", _publish),
    "expire-token": ("POST", _expire_token),
    "issue-token": ("POST", _issue_token),
    "tasks": ("GET", _tasks),
    "info": ("GET", _info),
    "requests": ("GET", _requests),
}


def handle_admin(
    sim: Simulator, method: str, path: str, query: Query, headers: Mapping[str, str]
) -> Response:
    route = _ROUTES.get(path[len(ADMIN_PREFIX) :])
    if route is None:
        return error_response(404, f"unknown admin endpoint; known: {', '.join(sorted(_ROUTES))}")
    allowed, action = route
    if method != allowed:
        return error_response(405, f"use {allowed}", {"Allow": allowed})
    try:
        return action(sim, query)
    except _BadRequest as exc:
        return error_response(400, str(exc))
    except KeyError as exc:  # an unknown account id
        return error_response(404, str(exc.args[0]) if exc.args else "not found")
    except ValueError as exc:  # e.g. an unknown fault kind or a negative count
        return error_response(400, str(exc))
