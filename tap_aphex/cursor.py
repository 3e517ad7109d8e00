"""The position in the task-event log: where a run starts, how it moves, and when it must stop.

Event ids are random strings, so the position is "the last event delivered", never "the largest id".
The rules here are pure (no HTTP, no SDK state) so that they can be tested on their own.
"""

from __future__ import annotations

import bisect
import operator
import typing as t
from array import array
from dataclasses import dataclass

from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

from tap_aphex.errors import PaginationLoopError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import requests

    from tap_aphex.event_shape import EventPage


class EventCursorPaginator(BaseAPIPaginator["str | None"]):
    """Follows ``nextStartAfter`` until a page gives none; never sends the same cursor twice.

    The page itself lives on the stream (``current_page``): it is decoded once, there.
    """

    def __init__(self, start: str | None, current_page: Callable[[], EventPage | None]) -> None:
        super().__init__(start)
        self._current_page = current_page
        self._sent = {start} if start else set()

    @override
    def get_next(self, response: requests.Response) -> str | None:
        page = self._current_page()
        if page is None or not page.events or page.next_start_after is None:
            return None  # the end of the log: the last event delivered is the bookmark
        cursor = page.next_start_after
        if cursor in self._sent:
            msg = (
                f"The Data API answered startAfter={self.current_value} with nextStartAfter="
                f"{cursor}, a cursor this run already sent: following it would read the same "
                "events again (a loop in the log's cursors). Stopped; the state keeps the last "
                "event delivered. Report this to Aphex if it happens again."
            )
            raise PaginationLoopError(msg)
        self._sent.add(cursor)
        return cursor


class DeliveredEvents:
    """The events this run delivered, to refuse a page that starts a second lap of the log.

    Kept as one sorted array of 64-bit hashes per page (8 bytes an event, not ~120 for a set of
    ids), so memory stays flat in the log's length; a false match is a 1-in-10^14 chance per page.
    """

    def __init__(self) -> None:
        self._pages: list[array[int]] = []

    def check_new_page(self, page: EventPage, cursor_sent: str | None) -> None:
        """Raise if ``page`` starts with an event this run already delivered; else remember it."""
        if not page.events:
            return
        first = page.events[0]["eventId"]
        if any(_holds(hashes, hash(first)) for hashes in self._pages):
            msg = (
                f"The Data API answered startAfter={cursor_sent} with a page that starts at event "
                f"{first}, which this run already delivered: the cursors lead back into the log. "
                "Stopped instead of reading it again; the state keeps the last event delivered."
            )
            raise PaginationLoopError(msg)
        ids = map(operator.itemgetter("eventId"), page.events)
        self._pages.append(array("q", sorted(map(hash, ids))))


def _holds(sorted_hashes: array[int], value: int) -> bool:
    index = bisect.bisect_left(sorted_hashes, value)
    return index < len(sorted_hashes) and sorted_hashes[index] == value


@dataclass(frozen=True)
class Bookmark:
    """One stream's position in the state: an event id, nothing (first run), or unusable."""

    stream: str
    value: str | None
    problem: str | None = None  # why the state's entry cannot be used, said in the warning


def read_bookmark(stream: str, entry: object, replication_key: str) -> Bookmark:
    """The bookmark in ``entry`` (the stream's part of the state, as the SDK holds it).

    Read from the state itself: the SDK's starting value would fall back to a configured
    ``start_date``, which is a date and never an event id.
    """
    if not isinstance(entry, dict):
        return Bookmark(stream, None, f"its entry is {_shown(entry)}, not an object")
    if "replication_key" not in entry and "replication_key_value" not in entry:
        return Bookmark(stream, None)  # never delivered anything: not a problem
    key, value = entry.get("replication_key"), entry.get("replication_key_value")
    if key != replication_key:
        return Bookmark(
            stream, None, f"its replication_key is {_shown(key)}, not {replication_key}"
        )
    if not isinstance(value, str):
        return Bookmark(stream, None, f"its replication_key_value is {_shown(value)}, not an id")
    if not value.strip():
        return Bookmark(stream, None, "its replication_key_value is empty")
    return Bookmark(stream, value)


def _shown(value: object) -> str:
    return f"{type(value).__name__} {value!r:.40}" if value is not None else "missing"


@dataclass(frozen=True)
class Start:
    """Where a run starts reading the log, where that came from, and what to warn about."""

    cursor: str | None
    origin: t.Literal["state", "start_after", "beginning"]
    warning: str | None = None

    def describe(self) -> str:
        if self.cursor is None:
            return "from the first event"
        source = "the state" if self.origin == "state" else "`start_after`"
        return f"after event {self.cursor} ({source})"


def start_of_run(bookmarks: Iterable[Bookmark], start_after: str | None) -> Start:
    """Where a run that feeds the streams of ``bookmarks`` (the selected ones) starts.

    Streams fed by one pass checkpoint together, so their bookmarks agree. They differ only when
    the selection changed between runs (or the state was edited); positions in the log cannot be
    compared, so the only start that loses nothing for any of them is the configured beginning.
    """
    marks = sorted(bookmarks, key=lambda mark: mark.stream)
    fallback = Start(start_after, "start_after") if start_after else Start(None, "beginning", None)
    values = {mark.value for mark in marks}
    problems = [mark for mark in marks if mark.problem]
    if not problems and len(values) == 1:
        (shared,) = values
        return Start(shared, "state") if shared is not None else fallback
    where = f"after start_after={start_after}" if start_after else "from the first event of the log"
    if problems:
        by_problem: dict[str, list[str]] = {}
        for mark in problems:
            by_problem.setdefault(str(mark.problem), []).append(mark.stream)
        why = "; ".join(
            f"the bookmark of {' and '.join(names)} is unusable: {problem}"
            for problem, names in by_problem.items()
        )
    else:
        listed = ", ".join(f"{mark.stream}={mark.value or 'none'}" for mark in marks)
        why = f"the bookmarks differ ({listed}; the selection changed since the last run)"
    warning = (
        f"State: {why}. Reading {where} so that no stream misses an event; records already "
        "delivered may be sent again. To start elsewhere, set `start_after` or fix the state."
    )
    return Start(fallback.cursor, fallback.origin, warning)


def resume_words(last_delivered: str | None, start: Start | None) -> str:
    """Where the next run resumes, in words for the closing summary."""
    if last_delivered is not None:
        return f"after event {last_delivered}"
    return start.describe() if start is not None else "from the first event"
