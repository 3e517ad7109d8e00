"""Stand-in for `event_shape.EventReader` (events-shape helper) until that lands: DROP AT MERGE.

Same interface (`EventReader(logger)`, `.page(payload, start_after=...)`, `.event_record(event)`,
`.task_record(event)`, `EventPage`) over today's `event_shape` functions, so `events.py` is written
against the new API; at merge `events.py` imports both names from `tap_aphex.event_shape` instead.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from tap_aphex import event_shape
from tap_aphex.event_shape import Event

if t.TYPE_CHECKING:
    import logging


@dataclass(frozen=True)
class EventPage:
    """The events of one 200 response and where the next page starts (None: the end)."""

    events: list[Event]
    next_start_after: str | None


class EventReader:
    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._warned: set[str] = set()

    def page(self, payload: object, *, start_after: str | None = None) -> EventPage:
        events, next_start_after = event_shape.parse_page(payload)
        return EventPage(events, next_start_after)

    def event_record(self, event: Event) -> dict[str, t.Any]:
        return event_shape.event_record(event)

    def task_record(self, event: Event) -> dict[str, t.Any] | None:
        record = event_shape.task_record(event)
        if record is None and event["type"] not in self._warned:
            self._warned.add(event["type"])
            self.logger.warning(
                "Event %s has type %r, which says nothing documented about the task: it is in "
                "task_events and changes no task (said once per type).",
                event["eventId"],
                event["type"],
            )
        return record
