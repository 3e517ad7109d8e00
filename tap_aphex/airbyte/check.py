"""`check`: one authenticated request per configured API, through the tap's own streams.

The Data API: the first page after `start_after` (or the first event), so a check costs up to one
page of the daily event quota. Each project: its published plans with `limit=1`.
"""

from __future__ import annotations

import typing as t

from singer_sdk.exceptions import ConfigValidationError, FatalAPIError

from tap_aphex.airbyte.running import new_tap
from tap_aphex.errors import describe
from tap_aphex.settings import account_id, project_label

if t.TYPE_CHECKING:
    from singer_sdk.streams import RESTStream


class CheckResult(t.NamedTuple):
    succeeded: bool
    message: str


def check_connection(config: dict[str, t.Any]) -> CheckResult:
    try:
        tap = new_tap(config={**config, "published_plans_limit": 1})
    except ConfigValidationError as error:
        return CheckResult(False, config_error_text(error))
    outcomes: list[tuple[str, Exception | None]] = []
    events = tap.streams.get("task_events")
    if events is not None:
        outcomes.append(("Data API", _first_page(t.cast("RESTStream[t.Any]", events), None)))
    plans = tap.streams.get("published_plans")
    if plans is not None:
        for project in config.get("projects") or []:
            context = {"accountId": account_id(project["url"])}
            outcome = _first_page(t.cast("RESTStream[t.Any]", plans), context)
            outcomes.append((f"project {project_label(project)}", outcome))
    failed = [f"{what}: {failure_text(error)}" for what, error in outcomes if error is not None]
    if failed:
        return CheckResult(False, " | ".join(failed))
    return CheckResult(True, "Credentials accepted by " + ", ".join(what for what, _ in outcomes))


def _first_page(stream: RESTStream[t.Any], context: dict[str, t.Any] | None) -> Exception | None:
    """Read the stream's first response only (one request); the error it raised, if any."""
    records = iter(stream.request_records(context))
    try:
        next(records, None)
    except Exception as error:  # reported in the check's message, whatever it is
        return error
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()  # no second request
    return None


def failure_text(error: Exception) -> str:
    """One line for the user; our errors say what to do, others say what happened."""
    if isinstance(error, FatalAPIError):
        return str(error)
    if not str(error) and error.__doc__:  # e.g. the daily-quota stop, whose name says it all
        return error.__doc__.strip().splitlines()[0]
    return describe(error)


def config_error_text(error: ConfigValidationError) -> str:
    return "Config is not valid: " + "; ".join(error.errors or [str(error)])
