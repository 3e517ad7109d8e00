"""The organisation's task-event log: deterministic generation, continuation and replay.

The log is what the Data API pages through. Everything is drawn from one RNG seeded by `seed`,
one event at a time, so `EventLog(seed).append(a)` followed by `.append(b)` yields exactly the
events of `generate_events(seed, a + b)`: a log that grows later is a valid continuation of the
one a client has already read. With variations (see `variations.py`) some events are served
altered, from a second RNG, so the same holds with them.

Events are immutable snapshots shared with the HTTP layer without copying: callers must treat
`EventLog.events` as read-only.
"""

from __future__ import annotations

import bisect
import json
import random
import threading
from collections.abc import Collection, Iterable
from typing import Any

from .ids import random_id
from .projects import ProjectIdentity, project_identities
from .settings import DEFAULT_START_MS, SimulatorSettings
from .task_changes import Task, TaskChanges
from .variations import EventVariations, Variation

Event = dict[str, Any]

API_VERSION = "v1"  # the vendor's V2 sample: "apiVersion": "v1"

_SAME_MS_SHARE = 0.12  # bursts (bulk edits) share a createdAt: ids, not times, are the position
_MAX_GAP_MS = 180_000

__all__ = ["DEFAULT_START_MS", "Event", "EventLog", "Task", "current_tasks", "generate_events"]


class UnknownCursorError(KeyError):
    """`startAfter` named an event id that is not in the log."""


class EventLog:
    """A growing, deterministic task-event log for one organisation. Thread-safe."""

    def __init__(
        self,
        seed: int,
        *,
        start_ms: int = DEFAULT_START_MS,
        projects: int = SimulatorSettings.projects,
        variations: Collection[str] = (),
    ) -> None:
        if projects < 1:
            raise ValueError("projects must be at least 1")
        self.seed = seed
        self.start_ms = start_ms
        self.projects: list[ProjectIdentity] = project_identities(seed, projects)
        self._rng = random.Random(f"aphex-events:{seed}")
        self._changes = TaskChanges(self._rng, self.projects)
        self._variations = EventVariations(seed, variations)
        self._lock = threading.RLock()
        self._events: list[Event] = []
        self._position: dict[str, int] = {}  # eventId -> index in _events
        self._varied_at: list[int] = []  # indexes of varied events, ascending
        self._varied: list[list[Variation]] = []  # their variations, same order
        self._clock_ms = start_ms

    # ----------------------------------------------------------------------------------- reading

    @property
    def events(self) -> list[Event]:
        """The whole log, oldest first, as served. Read-only: never mutate it or its events."""
        return self._events

    def __len__(self) -> int:
        return len(self._events)

    @property
    def last_event_id(self) -> str | None:
        with self._lock:
            return self._events[-1]["eventId"] if self._events else None

    def index_of(self, event_id: str | None) -> int:
        """The index of the event after which `event_id` starts (-1 for None: the very first)."""
        if event_id is None:
            return -1
        with self._lock:
            try:
                return self._position[event_id]
            except KeyError:
                raise UnknownCursorError(event_id) from None

    def page_after(self, start_after: str | None, limit: int) -> list[Event]:
        """Up to `limit` events strictly after `start_after` (None: from the first event).

        Raises UnknownCursorError if `start_after` is not an event id of this log.
        """
        with self._lock:
            first = self.index_of(start_after) + 1
            return self._events[first : first + limit]

    def variations_between(self, first: int, end: int) -> list[Variation]:
        """The variations of the events at indexes first..end-1."""
        with self._lock:
            lo = bisect.bisect_left(self._varied_at, first)
            hi = bisect.bisect_left(self._varied_at, end)
            return [v for group in self._varied[lo:hi] for v in group]

    def current_tasks(self) -> dict[str, Task]:
        """The tasks as they stand after replaying the whole log (independent copies)."""
        with self._lock:
            return current_tasks(self._events)

    # ----------------------------------------------------------------------------------- growing

    def append(self, n: int) -> list[Event]:
        """Generate `n` more events continuing the log; returns the new events."""
        if n < 0:
            raise ValueError("n must be >= 0")
        with self._lock:
            return [self._next_event() for _ in range(n)]

    def _next_event(self) -> Event:
        rng = self._rng
        if self._events and rng.random() >= _SAME_MS_SHARE:
            self._clock_ms += rng.randint(1, _MAX_GAP_MS)
        event_type, task = self._changes.next_change(self._clock_ms)
        event_id = random_id(rng)
        while event_id in self._position:  # astronomically rare, but ids must be unique
            event_id = random_id(rng)
        # "Any task created will return an event payload with same attributes and order as
        # below": the vendor's sample lists the event's keys alphabetically.
        event: Event = {
            "apiVersion": API_VERSION,
            "createdAt": self._clock_ms,
            "eventId": event_id,
            "task": task,
            "type": event_type,
        }
        event, varied = self._variations.vary(event)
        if varied:
            self._varied_at.append(len(self._events))
            self._varied.append(varied)
        self._position[event_id] = len(self._events)
        self._events.append(event)
        return event


def generate_events(
    seed: int,
    size: int,
    *,
    start_ms: int = DEFAULT_START_MS,
    projects: int = SimulatorSettings.projects,
) -> list[Event]:
    """`size` events of the log for `seed` (the same seed always gives the same events)."""
    log = EventLog(seed, start_ms=start_ms, projects=projects)
    log.append(size)
    return log.events


def current_tasks(events: Iterable[Event]) -> dict[str, Task]:
    """Replay events in order: Created/Updated replace the task by id, Deleted removes it.

    This is the ground truth a client's replay must equal (values as served: see
    `variations.py` for how to compare varied ones). The result is an independent deep copy (a
    JSON round trip), so callers may modify it freely.
    """
    tasks: dict[str, Task] = {}
    for event in events:
        task = event["task"]
        if event["type"] == "TaskDeleted":
            tasks.pop(task["id"], None)
        else:
            tasks[task["id"]] = task
    copied: dict[str, Task] = json.loads(json.dumps(tasks))
    return copied
