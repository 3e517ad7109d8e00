"""The organisation's task-event log: deterministic generation, continuation and replay.

The log is what the Data API pages through. Everything is drawn from one RNG seeded by `seed`,
one event at a time, so `EventLog(seed).append(a)` followed by `.append(b)` yields exactly the
events of `generate_events(seed, a + b)`: a log that grows later is a valid continuation of the
one a client has already read.

Events are stored copy-on-write: a task dict, once placed in an event, is never mutated again
(an update builds a new dict), so the stored events are immutable snapshots that may be shared
with the HTTP layer without copying. Callers must treat `EventLog.events` as read-only.
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections.abc import Iterable
from typing import Any

from .ids import DAY_MS, day_floor, random_id
from .projects import ProjectIdentity, project_identities
from .vocabulary import (
    CALENDARS,
    DELAY_CATEGORIES,
    DELAY_REASONS,
    LABOUR,
    LOCATIONS,
    MATERIALS,
    PACKAGES,
    PEOPLE,
    PLANT,
    SHIFTS,
    STATUS_NAMES,
    SUBCONTRACTORS,
    TRADES,
    WBS_PATHS,
)

Event = dict[str, Any]
Task = dict[str, Any]

# 2025-06-02T06:00:00Z: a fixed default so that the same seed gives the same log on any day.
DEFAULT_START_MS = 1_748_844_000_000

API_VERSION = "v1"  # what the vendor's V2 sample carries in every event

# Shares of event types once some tasks exist (the remainder are updates). Updates dominate, as
# on a real site, so that tasks accumulate several status entries.
_CREATE_SHARE = 0.22
_DELETE_SHARE = 0.05
_MIN_LIVE_TASKS = 8  # below this, always create: keeps updates spread over several tasks
_RECATEGORISE_SHARE = 0.002  # per event: a user moves a delay reason to another category
_SAME_MS_SHARE = 0.12  # bursts (bulk edits) share a createdAt: ids, not times, are the position
_MAX_GAP_MS = 180_000


class UnknownCursorError(KeyError):
    """`startAfter` named an event id that is not in the log."""


class EventLog:
    """A growing, deterministic task-event log for one organisation. Thread-safe."""

    def __init__(self, seed: int, *, start_ms: int = DEFAULT_START_MS, projects: int = 4) -> None:
        if projects < 1:
            raise ValueError("projects must be at least 1")
        self.seed = seed
        self.start_ms = start_ms
        self.projects: list[ProjectIdentity] = project_identities(seed, projects)
        self._rng = random.Random(f"aphex-events:{seed}")
        self._lock = threading.RLock()
        self._events: list[Event] = []
        self._position: dict[str, int] = {}  # eventId -> index in _events
        self._clock_ms = start_ms
        # Live tasks: id -> latest snapshot, plus a list for O(1) random choice and removal.
        self._live: dict[str, Task] = {}
        self._live_ids: list[str] = []
        self._live_index: dict[str, int] = {}
        self._task_ids: set[str] = set()  # every id ever used, so a deleted id is never reused
        self._packages = {
            project.id: [random_id(self._rng) for _ in PACKAGES] for project in self.projects
        }
        self._reason_category: dict[str, str] = dict(DELAY_REASONS)
        self._external_counter = 0

    # ----------------------------------------------------------------------------------- reading

    @property
    def events(self) -> list[Event]:
        """The whole log, oldest first. Read-only: never mutate the list or its events."""
        return self._events

    def __len__(self) -> int:
        return len(self._events)

    @property
    def last_event_id(self) -> str | None:
        with self._lock:
            return self._events[-1]["eventId"] if self._events else None

    def page_after(self, start_after: str | None, limit: int) -> list[Event]:
        """Up to `limit` events strictly after `start_after` (None: from the first event).

        Raises UnknownCursorError if `start_after` is not an event id of this log.
        """
        with self._lock:
            if start_after is None:
                first = 0
            else:
                try:
                    first = self._position[start_after] + 1
                except KeyError:
                    raise UnknownCursorError(start_after) from None
            return self._events[first : first + limit]

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
            new = [self._next_event() for _ in range(n)]
            return new

    def _next_event(self) -> Event:
        rng = self._rng
        if self._events and rng.random() >= _SAME_MS_SHARE:
            self._clock_ms += rng.randint(1, _MAX_GAP_MS)
        if rng.random() < _RECATEGORISE_SHARE:
            reason = rng.choice(sorted(self._reason_category))
            self._reason_category[reason] = rng.choice(DELAY_CATEGORIES)

        roll = rng.random()
        if len(self._live_ids) < _MIN_LIVE_TASKS or roll < _CREATE_SHARE:
            event_type, task = "TaskCreated", self._create_task()
        elif roll < _CREATE_SHARE + _DELETE_SHARE:
            event_type, task = "TaskDeleted", self._delete_task()
        else:
            event_type, task = "TaskUpdated", self._update_task()

        event_id = random_id(rng)
        while event_id in self._position:  # astronomically rare, but ids must be unique
            event_id = random_id(rng)
        # Key order follows the vendor's sample (alphabetical).
        event: Event = {
            "apiVersion": API_VERSION,
            "createdAt": self._clock_ms,
            "eventId": event_id,
            "task": task,
            "type": event_type,
        }
        self._position[event_id] = len(self._events)
        self._events.append(event)
        return event

    # ------------------------------------------------------------------------------ task changes

    def _new_task_id(self) -> str:
        task_id = random_id(self._rng)
        while task_id in self._task_ids:
            task_id = random_id(self._rng)
        self._task_ids.add(task_id)
        return task_id

    def _live_in_project(self, project_id: str, tries: int, exclude: str = "") -> list[str]:
        """Up to `tries` distinct live task ids of a project, sampled (for links between tasks)."""
        found: list[str] = []
        for _ in range(tries):
            candidate = self._live[self._rng.choice(self._live_ids)] if self._live_ids else None
            if (
                candidate is not None
                and candidate["projectId"] == project_id
                and candidate["id"] not in found
                and candidate["id"] != exclude
            ):
                found.append(candidate["id"])
        return found

    def _create_task(self) -> Task:
        rng = self._rng
        project = rng.choice(self.projects)
        calendar, working_days = rng.choice(CALENDARS)
        duration = rng.randint(1, 20)
        start = day_floor(self._clock_ms) + rng.randint(-14, 60) * DAY_MS
        owner_name, owner_email = rng.choice(PEOPLE)
        parent = self._live_in_project(project.id, 1) if rng.random() < 0.2 else []
        successors = self._live_in_project(project.id, rng.randint(0, 3))
        external_id = ""
        if rng.random() < 0.5:
            self._external_counter += 1
            external_id = f"ACT-{self._external_counter:05d}"
        # Key order follows the vendor's sample (alphabetical).
        task: Task = {
            "calendar": calendar,
            "duration": duration,
            "end": start + _calendar_span_ms(duration, working_days),
            "externalId": external_id,
            "id": self._new_task_id(),
            "labourResources": _resources(rng, LABOUR),
            "location": rng.choice(LOCATIONS),
            "materialResources": _resources(rng, MATERIALS),
            "name": f"{rng.choice(TRADES)} {rng.randint(1, 99)}",
            "ownerEmail": owner_email,
            "ownerName": owner_name,
            "packageId": rng.choice(self._packages[project.id]),
            "parentId": parent[0] if parent else "",
            "plantResources": _resources(rng, PLANT),
            "projectExternalId": project.external_id,
            "projectId": project.id,
            "projectName": project.name,
            "shift": rng.choice(SHIFTS),
            "start": start,
            "statuses": [],
            "subcontractor": rng.choice(SUBCONTRACTORS),
            "successors": successors,
            "wbsPath": rng.choice(WBS_PATHS)[0],
        }
        self._add_live(task)
        return task

    def _update_task(self) -> Task:
        rng = self._rng
        old = self._live[rng.choice(self._live_ids)]
        task = dict(old)  # copy-on-write: `old` is referenced by earlier events
        roll = rng.random()
        if roll < 0.55:
            self._append_status(task)
        elif roll < 0.8:
            # "updates the resource allocation"
            field = rng.choice(("labourResources", "materialResources", "plantResources"))
            names = {"labourResources": LABOUR, "materialResources": MATERIALS}.get(field, PLANT)
            task[field] = _resources(rng, names, at_least_one=True)
        else:
            self._edit_fields(task)
        self._live[task["id"]] = task
        return task

    def _append_status(self, task: Task) -> None:
        rng = self._rng
        kind = rng.choices(
            ("delay", "onSchedule", "completed", "shortened", "completedEarly"),
            weights=(40, 25, 15, 10, 10),
        )[0]
        category = ""
        if kind == "delay":
            name = rng.choice(sorted(self._reason_category))
            category = self._reason_category[name]
            value = rng.randint(1, 5)
        elif kind in ("shortened", "completedEarly"):
            name = STATUS_NAMES[kind]
            value = -min(rng.randint(1, 3), max(task["duration"] - 1, 0)) or 0
        else:
            name = STATUS_NAMES[kind]
            value = 0
        owner = rng.choice(PEOPLE)
        # A status is attached to a day of the task (the day it was logged, kept inside the task).
        last_day = max(task["start"], task["end"] - DAY_MS)
        status = {
            "date": min(max(day_floor(self._clock_ms), task["start"]), last_day),
            "type": kind,
            "name": name,
            "value": value,
            "category": category,
            "addedBy": owner[1],
            "createdAt": self._clock_ms,
        }
        task["statuses"] = [*task["statuses"], status]
        if value:
            # A delay extends the task, an improvement shortens it: the task moves with its status.
            working_days = _working_days(task["calendar"])
            task["duration"] = max(1, task["duration"] + value)
            task["end"] = task["start"] + _calendar_span_ms(task["duration"], working_days)

    def _edit_fields(self, task: Task) -> None:
        rng = self._rng
        edit = rng.randrange(6)
        if edit == 0:
            task["name"] = f"{rng.choice(TRADES)} {rng.randint(1, 99)}"
        elif edit == 1:
            task["ownerName"], task["ownerEmail"] = rng.choice(PEOPLE)
        elif edit == 2:
            task["subcontractor"] = rng.choice(SUBCONTRACTORS)
        elif edit == 3:
            shift = rng.choice((-7, -2, -1, 1, 2, 3, 7)) * DAY_MS
            task["start"] += shift
            task["end"] += shift
        elif edit == 4:
            task["successors"] = self._live_in_project(
                task["projectId"], rng.randint(0, 3), exclude=task["id"]
            )
        else:
            task["location"] = rng.choice(LOCATIONS)
            task["wbsPath"] = rng.choice(WBS_PATHS)[0]

    def _delete_task(self) -> Task:
        task_id = self._rng.choice(self._live_ids)
        self._remove_live(task_id)
        return {"id": task_id}

    def _add_live(self, task: Task) -> None:
        self._live[task["id"]] = task
        self._live_index[task["id"]] = len(self._live_ids)
        self._live_ids.append(task["id"])

    def _remove_live(self, task_id: str) -> None:
        # Swap-remove keeps the choice list dense without an O(n) delete.
        index = self._live_index.pop(task_id)
        last = self._live_ids.pop()
        if last != task_id:
            self._live_ids[index] = last
            self._live_index[last] = index
        del self._live[task_id]


def _working_days(calendar: str) -> int:
    return dict(CALENDARS).get(calendar, 5)


def _calendar_span_ms(duration: int, working_days: int) -> int:
    """Calendar time taken by `duration` working days on a `working_days`-a-week calendar."""
    return math.ceil(duration * 7 / working_days) * DAY_MS


def _resources(
    rng: random.Random, names: tuple[str, ...], *, at_least_one: bool = False
) -> dict[str, int]:
    count = rng.randint(1 if at_least_one else 0, 2)
    return {name: rng.randint(1, 24) for name in rng.sample(names, count)}


def generate_events(
    seed: int, size: int, *, start_ms: int = DEFAULT_START_MS, projects: int = 4
) -> list[Event]:
    """`size` events of the log for `seed` (the same seed always gives the same events)."""
    log = EventLog(seed, start_ms=start_ms, projects=projects)
    log.append(size)
    return log.events


def current_tasks(events: Iterable[Event]) -> dict[str, Task]:
    """Replay events in order: Created/Updated replace the task by id, Deleted removes it.

    This is the ground truth a client's replay must equal. The result is an independent deep
    copy (a JSON round trip), so callers may modify it freely.
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
