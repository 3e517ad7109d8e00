"""The position in the task-event log: where a run starts and how it moves page to page.

Event ids are random strings, so the position is "the last event delivered", never "the largest id".
"""

from __future__ import annotations

import logging
import typing as t
import weakref
from http import HTTPStatus

from singer_sdk.pagination import BaseAPIPaginator

from tap_aphex.client import read_json
from tap_aphex.errors import PaginationLoopError
from tap_aphex.event_shape import EventPage, EventReader

if t.TYPE_CHECKING:
    from collections.abc import Sequence

    import requests
    from singer_sdk.streams import Stream

logger = logging.getLogger(__name__)


# The stream and the paginator both need a page's contents; a page of 4,000 events is parsed once.
_pages: weakref.WeakKeyDictionary[requests.Response, EventPage] = weakref.WeakKeyDictionary()


def read_page(response: requests.Response, reader: EventReader) -> EventPage:
    """The events in a Data API response (none for 204), parsed once per response."""
    if response.status_code == HTTPStatus.NO_CONTENT:
        return EventPage([], None)
    if response not in _pages:
        _pages[response] = reader.page(read_json(response, "The Data API"))
    return _pages[response]


class EventCursorPaginator(BaseAPIPaginator["str | None"]):
    """Follows ``nextStartAfter``; refuses to loop when the API gives no way forward."""

    def __init__(self, start_value: str | None, reader: EventReader) -> None:
        super().__init__(start_value)
        self.reader = reader

    def get_next(self, response: requests.Response) -> str | None:
        page = read_page(response, self.reader)
        if not page.events:
            return None
        if page.next_start_after is None:
            msg = (
                f"The Data API returned {len(page.events)} events without a nextStartAfter; "
                "stopping instead of guessing the next cursor (the state keeps the last event "
                "delivered)."
            )
            raise PaginationLoopError(msg)
        if page.next_start_after == self.current_value:
            msg = (
                f"The Data API answered startAfter={self.current_value} with the same "
                "nextStartAfter; stopping instead of reading the same page forever."
            )
            raise PaginationLoopError(msg)
        return page.next_start_after


def bookmark(stream: Stream) -> str | None:
    """The last event id ``stream`` delivered in an earlier run, from its state.

    Read from the state itself: the SDK's starting value would fall back to a configured
    ``start_date``, which is a date and never an event id.
    """
    state = stream.stream_state
    if state.get("replication_key") != stream.replication_key:
        return None
    value = state.get("replication_key_value")
    return value if isinstance(value, str) and value else None


def resume_cursor(streams: Sequence[Stream], start_after: str | None) -> str | None:
    """Where a run that feeds ``streams`` (the selected ones) starts reading the log.

    Streams fed by one pass checkpoint together, so their bookmarks agree. They differ only when the
    selection changed between runs; positions in the log cannot be compared, so the only start that
    loses nothing for any of them is the configured beginning.
    """
    bookmarks = {bookmark(stream) for stream in streams}
    if len(bookmarks) == 1:
        (shared,) = bookmarks
        return shared if shared is not None else start_after
    names = ", ".join(sorted(stream.name for stream in streams))
    logger.warning(
        "The bookmarks of %s differ (the selection changed since the last run); reading from %s "
        "so that none of them misses an event. Records already delivered may be sent again.",
        names,
        f"start_after={start_after}" if start_after else "the first event",
    )
    return start_after
