"""The Data API's task-event endpoints: cursor paging, daily quota, faults.

All three known paths speak one protocol (the vendor documents V2; V1 and the newer `/taskEvents`
are known to share its cursor and header, nothing more), so they share one implementation and
one organisation-wide quota.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Mapping
from typing import Any

from .event_log import EventLog, UnknownCursorError
from .faults import EVENT_FAULTS, FaultQueue, replacing_response
from .responses import Response, error_response, json_response

MAX_PAGE_SIZE = 4000  # "Responses have a page limit of 4000 events"
DEFAULT_DAILY_QUOTA = 20_000  # "Organisations have a daily limit of 20,000 task events per day"

# path -> default pageSize (None: the simulator's page size).
DATA_PATHS: dict[str, int | None] = {
    "/apiTaskEventsV2": None,
    "/apiTaskEvents": None,
    "/taskEvents": 2000,  # the newer endpoint documents "pageSize (default 2,000)"
}
_KNOWN_PARAMS = frozenset({"startAfter", "pageSize"})


class _BadQuery(ValueError):
    pass


def _single(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    if values is None:
        return None
    if len(values) != 1:
        raise _BadQuery(f"{name} given more than once")
    return values[0]


class TaskEventsApi:
    """Answers task-event requests from an EventLog. Thread-safe."""

    def __init__(
        self,
        log: EventLog,
        *,
        api_key: str,
        page_size: int = MAX_PAGE_SIZE,
        daily_quota: int | None = DEFAULT_DAILY_QUOTA,
        stall_seconds: float = 5.0,
        grow_per_start: int = 0,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}")
        if daily_quota is not None and daily_quota < 0:
            raise ValueError("daily_quota must be >= 0 or None")
        if grow_per_start < 0:
            raise ValueError("grow_per_start must be >= 0")
        self.log = log
        self._api_key = api_key
        self.page_size = page_size
        self.daily_quota = daily_quota
        self.stall_seconds = stall_seconds
        self.grow_per_start = grow_per_start
        self.faults = FaultQueue(EVENT_FAULTS)
        self._served_today = 0
        self._lock = threading.Lock()

    @property
    def served_today(self) -> int:
        with self._lock:
            return self._served_today

    def new_day(self) -> None:
        """Midnight at the vendor: the organisation's daily quota starts again."""
        with self._lock:
            self._served_today = 0

    def handle(
        self, method: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str]
    ) -> Response:
        """Answer one request. `headers` keys are lower-case."""
        if method != "GET":
            return error_response(403, "Forbidden: only GET is allowed")
        key = headers.get("x-api-key")
        if key is None or not hmac.compare_digest(key.encode(), self._api_key.encode()):
            return error_response(401, "Unauthorized: missing or wrong x-api-key")

        # Faults model the infrastructure in front of the function: they strike before the
        # request is even looked at, and a fault never spends the organisation's quota.
        fault = self.faults.pop()
        if fault is not None:
            replaced = replacing_response(fault)
            if replaced is not None:
                return replaced

        try:
            unknown = set(query) - _KNOWN_PARAMS
            if unknown:
                raise _BadQuery(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
            start_after = _single(query, "startAfter")
            if start_after == "":
                raise _BadQuery("startAfter is empty")
            limit = self._page_limit(path, _single(query, "pageSize"))
        except _BadQuery as exc:
            return error_response(400, f"Bad Request: {exc}")

        with self._lock:
            try:
                page = self.log.page_after(start_after, limit)
            except UnknownCursorError:
                return error_response(400, "Bad Request: startAfter is not a known eventId")
            if not page:
                # --grow-per-start: a client that has read to the end finds new events on its
                # next run, as it would the next day at a real site.
                if fault is None and self.grow_per_start:
                    self.log.append(self.grow_per_start)
            elif self.daily_quota is not None:
                # Quota is checked only when there is something to serve: a caught-up client
                # gets 204, not 503 (the vendor does not say which comes first; both are legal
                # for a client, which must stop on either and resume from its last cursor).
                remaining = self.daily_quota - self._served_today
                if remaining <= 0:
                    return error_response(
                        503, "Service Unavailable: daily organisation limit reached"
                    )
                page = page[:remaining]
            if fault is None:
                self._served_today += len(page)

        # Serialize outside the lock: a 4,000-event page takes a while to encode.
        if page:
            response = self._page_response(page, start_after, fault.kind if fault else None)
        else:
            response = Response(status=204)
        if fault is not None:  # only "stall" and the cursor faults reach here
            response.fault = fault.kind
            if fault.kind == "stall":
                stall = fault.stall_seconds
                response.delay_seconds = self.stall_seconds if stall is None else stall
        return response

    def _page_limit(self, path: str, page_size: str | None) -> int:
        default = DATA_PATHS.get(path)
        if page_size is None:
            requested = default if default is not None else self.page_size
        else:
            # Digits only: int() would also accept "+5", " 5" and "4_000".
            if not page_size.isascii() or not page_size.isdigit():
                raise _BadQuery("pageSize must be an integer")
            requested = int(page_size)
            if not 1 <= requested <= MAX_PAGE_SIZE:
                raise _BadQuery(f"pageSize must be between 1 and {MAX_PAGE_SIZE}")
        # The simulator's page size is the server's own maximum: a request cannot exceed it.
        return min(requested, self.page_size)

    @staticmethod
    def _page_response(
        page: list[dict[str, Any]], start_after: str | None, fault: str | None
    ) -> Response:
        payload: dict[str, Any] = {"data": page}
        if fault == "same_cursor":
            # The cursor does not advance (null when the request had none).
            payload["nextStartAfter"] = start_after
        elif fault != "missing_cursor":
            payload["nextStartAfter"] = page[-1]["eventId"]
        response = json_response(200, payload)
        response.events = len(page)
        return response
