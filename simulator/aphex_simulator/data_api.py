"""The Data API's task-event endpoints: cursor paging, daily quota, faults, variations.

Traceable to "Aphex Data API V2" (quoted below). All three known paths speak one protocol (the
vendor documents V2; V1 and the newer `/taskEvents` are known to share its cursor and header,
nothing more), so they share one implementation and one organisation-wide quota.
"""

from __future__ import annotations

import hmac
import random
import threading
from collections.abc import Mapping
from typing import Any

from .event_log import Event, EventLog, UnknownCursorError
from .faults import (
    EVENT_FAULTS,
    SERVICE_UNAVAILABLE,
    Fault,
    FaultQueue,
    replacing_response,
    stalled,
)
from .responses import Response, error_response, json_response
from .settings import DEFAULT_DAILY_QUOTA, MAX_PAGE_SIZE, SimulatorSettings
from .variations import ServedVariations, Variation

__all__ = ["DATA_PATHS", "DEFAULT_DAILY_QUOTA", "MAX_PAGE_SIZE", "TaskEventsApi"]

# path -> default pageSize (None: the simulator's page size).
DATA_PATHS: dict[str, int | None] = {
    "/apiTaskEventsV2": None,  # "https://europe-west2-aphex-prod.cloudfunctions.net/apiTaskEventsV2"
    "/apiTaskEvents": None,  # V1, "Is your Organisation still using V1?"
    "/taskEvents": 2000,  # the newer endpoint documents "pageSize (default 2,000)"
}
_KNOWN_PARAMS = frozenset({"startAfter", "pageSize"})  # "we support the following query parameter"


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
        self, log: EventLog, settings: SimulatorSettings, served: ServedVariations
    ) -> None:
        self.log = log
        self.settings = settings
        self.faults = FaultQueue(EVENT_FAULTS)
        self._served = served
        self._served_today = 0
        self._lock = threading.Lock()
        self._cycle: tuple[int, int] | None = None  # (back to index, from the page holding index)
        self._requests = 0  # authorised requests no injected fault consumed (for passing 503s)
        self._passing_503_at = _passing_503_schedule(settings)
        if settings.cursor_cycle_pages:
            self.set_cycle(settings.cursor_cycle_pages)

    @property
    def served_today(self) -> int:
        with self._lock:
            return self._served_today

    def new_day(self) -> None:
        """Midnight at the vendor: "a daily limit of 20,000 task events per day" starts again."""
        with self._lock:
            self._served_today = 0

    def set_cycle(self, pages: int, after_pages: int = 1) -> None:
        """From now on the cursor leads back: pages after_pages+1 .. after_pages+pages repeat.

        The page that holds event number (after_pages + pages) * page_size answers with the
        `nextStartAfter` of page `after_pages`. 0 pages: no cycle. ValueError if the log is short.
        """
        if pages <= 0:
            self._cycle = None
            return
        if after_pages < 1:
            raise ValueError("after_pages must be >= 1 (a cycle needs a cursor to go back to)")
        size = self.settings.page_size
        needed = (after_pages + pages) * size
        if len(self.log) < needed:
            raise ValueError(f"a {pages}-page cursor cycle needs at least {needed} events")
        self._cycle = (after_pages * size - 1, needed - 1)

    def handle(
        self, method: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str]
    ) -> Response:
        """Answer one request. `headers` keys are lower-case."""
        if method != "GET":
            return error_response(403, "Forbidden: only GET is allowed")  # "ensure ... a GET"
        key = headers.get("x-api-key")  # "a custom header, x-api-key"
        if key is None or not hmac.compare_digest(key.encode(), self.settings.api_key.encode()):
            return error_response(401, "Unauthorized: missing or wrong x-api-key")

        # Faults model the infrastructure in front of the function: they strike before the
        # request is even looked at, and a fault never spends the organisation's quota.
        fault = self.faults.pop()
        if fault is not None:
            replaced = replacing_response(fault)
            if replaced is not None:
                return replaced
        else:
            ordinal = self._passing_503()
            if ordinal is not None:
                self._served.mark([Variation("passing_503", "", ordinal)])
                response = error_response(503, SERVICE_UNAVAILABLE)
                response.fault = "503"  # recorded like an injected one; the body is the quota's
                return response

        try:
            unknown = set(query) - _KNOWN_PARAMS
            if unknown:
                raise _BadQuery(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
            start_after = _single(query, "startAfter")
            if start_after == "":
                raise _BadQuery("startAfter is empty")
            limit = self._page_limit(path, _single(query, "pageSize"))
        except _BadQuery as exc:
            return error_response(400, f"Bad Request: {exc}")  # "check your query parameters"

        with self._lock:
            try:
                first = self.log.index_of(start_after) + 1
            except UnknownCursorError:
                return error_response(400, "Bad Request: startAfter is not a known eventId")
            page = self.log.page_after(start_after, limit)
            if page and self.settings.daily_quota is not None:
                # Quota is checked only when there is something to serve: a caught-up client
                # gets 204, not 503 (the vendor does not say which comes first; both are legal
                # for a client, which must stop on either and resume from its last cursor).
                remaining = self.settings.daily_quota - self._served_today
                if remaining <= 0:
                    return error_response(503, SERVICE_UNAVAILABLE)
                page = page[:remaining]
            if fault is None:
                self._served_today += len(page)
            at_end = first + len(page) == len(self.log)
            null_end = at_end and "null_next_start_after" in self.settings.variations
            if fault is None and (not page or null_end) and self.settings.grow_per_start:
                # --grow-per-start: a client that has read to the end (a 204, or a last page
                # without a cursor) finds new events on its next run, as it would the next day
                # at a real site.
                self.log.append(self.settings.grow_per_start)

        if not page:
            return stalled(Response(status=204), fault, self.settings.stall_seconds)  # "No Data"
        self._served.mark(self.log.variations_between(first, first + len(page)))
        # Serialize outside the lock: a 4,000-event page takes a while to encode.
        payload: dict[str, Any] = {"data": page}
        next_start_after, cycled = self._next_start_after(page, first, start_after, fault, at_end)
        if next_start_after is not _ABSENT:
            payload["nextStartAfter"] = next_start_after
        response = json_response(200, payload)
        response.events = len(page)
        if cycled:
            response.fault = "cycle"  # opt-in, like a fault: recorded as one
        return stalled(response, fault, self.settings.stall_seconds)

    def _next_start_after(
        self, page: list[Event], first: int, start_after: str | None, fault: Fault | None, end: bool
    ) -> tuple[object, bool]:
        """The page's cursor ("the nextStartAfter property at the root"), and if it cycles."""
        if fault is not None and fault.kind == "missing_cursor":
            return _ABSENT, False
        if fault is not None and fault.kind == "same_cursor":
            return start_after, False  # it does not advance (null when the request had none)
        cycle = self._cycle
        if fault is None and cycle is not None and first <= cycle[1] < first + len(page):
            self._served.mark([Variation("cursor_cycle", "", first)])
            return self.log.events[cycle[0]]["eventId"], True
        if end and "null_next_start_after" in self.settings.variations:
            # The documents do not say what the last page carries.
            self._served.mark([Variation("null_next_start_after", "", page[-1]["eventId"])])
            return None, False
        return page[-1]["eventId"], False

    def _passing_503(self) -> int | None:
        """This request's ordinal if it is to get a passing 503 (variations), else None."""
        with self._lock:
            ordinal = self._requests
            self._requests += 1
        return ordinal if ordinal in self._passing_503_at else None

    def _page_limit(self, path: str, page_size: str | None) -> int:
        default = DATA_PATHS.get(path)
        if page_size is None:
            requested = default if default is not None else self.settings.page_size
        else:
            # Digits only: int() would also accept "+5", " 5" and "4_000".
            if not page_size.isascii() or not page_size.isdigit():
                raise _BadQuery("pageSize must be an integer")
            requested = int(page_size)
            if not 1 <= requested <= MAX_PAGE_SIZE:
                raise _BadQuery(f"pageSize must be between 1 and {MAX_PAGE_SIZE}")
        # The simulator's page size is the server's own maximum: a request cannot exceed it.
        return min(requested, self.settings.page_size)


_ABSENT = object()


def _passing_503_schedule(settings: SimulatorSettings) -> frozenset[int]:
    """Which requests get a passing 503: one of the first two, then two in a row later."""
    if "passing_503" not in settings.variations:
        return frozenset()
    rng = random.Random(f"aphex-503:{settings.seed}")
    single = rng.randint(0, 1)
    pair = single + rng.randint(2, 3)
    return frozenset({single, pair, pair + 1})
