"""What users do to tasks, drawn at random: the content of the Data API's three event types.

Data API V2, "API Response": "TaskCreated: ... Contains the created task", "TaskUpdated:
Triggered when a user updates a task, attaches a delay or updates the resource allocation.
Contains the full task", "TaskDeleted: ... Contains the id of the deleted task".

Tasks are copy-on-write: a task dict, once handed out, is never mutated again (an update builds a
new dict), so events may share them without copying.
"""

from __future__ import annotations

import random
from typing import Any

from .ids import DAY_MS, calendar_span_ms, day_floor, random_id
from .projects import ProjectIdentity
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

Task = dict[str, Any]

# Shares of event types once some tasks exist (the remainder are updates). Updates dominate, as
# on a real site, so that tasks accumulate several status entries.
_CREATE_SHARE = 0.22
_DELETE_SHARE = 0.05
_MIN_LIVE_TASKS = 8  # below this, always create: keeps updates spread over several tasks
_RECATEGORISE_SHARE = 0.002  # per event: a user moves a delay reason to another category


class TaskChanges:
    """The organisation's live tasks and the next change to them. Not thread-safe on its own."""

    def __init__(self, rng: random.Random, projects: list[ProjectIdentity]) -> None:
        self._rng = rng
        self._projects = projects
        # Live tasks: id -> latest snapshot, plus a list for O(1) random choice and removal.
        self._live: dict[str, Task] = {}
        self._live_ids: list[str] = []
        self._live_index: dict[str, int] = {}
        self._task_ids: set[str] = set()  # every id ever used, so a deleted id is never reused
        self._packages = {project.id: [random_id(rng) for _ in PACKAGES] for project in projects}
        # Status, "category": "if Delay Reason 'Awaiting Access' was changed to 'Access' Delay
        # Category then future delay events will contain the new category value whilst previous
        # events will not be retriggered".
        self._reason_category: dict[str, str] = dict(DELAY_REASONS)
        self._external_counter = 0

    def next_change(self, now_ms: int) -> tuple[str, Task]:
        """The type and task of the next event, happening at `now_ms`."""
        rng = self._rng
        if rng.random() < _RECATEGORISE_SHARE:
            reason = rng.choice(sorted(self._reason_category))
            self._reason_category[reason] = rng.choice(DELAY_CATEGORIES)
        roll = rng.random()
        if len(self._live_ids) < _MIN_LIVE_TASKS or roll < _CREATE_SHARE:
            return "TaskCreated", self._create(now_ms)
        if roll < _CREATE_SHARE + _DELETE_SHARE:
            return "TaskDeleted", self._delete()
        return "TaskUpdated", self._update(now_ms)

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

    def _create(self, now_ms: int) -> Task:
        rng = self._rng
        project = rng.choice(self._projects)
        calendar, working_days = rng.choice(CALENDARS)
        duration = rng.randint(1, 20)
        start = day_floor(now_ms) + rng.randint(-14, 60) * DAY_MS
        owner_name, owner_email = rng.choice(PEOPLE)
        parent = self._live_in_project(project.id, 1) if rng.random() < 0.2 else []
        successors = self._live_in_project(project.id, rng.randint(0, 3))
        external_id = ""
        if rng.random() < 0.5:
            self._external_counter += 1
            external_id = f"ACT-{self._external_counter:05d}"
        # "Any task created will return an event payload with same attributes and order as
        # below": the vendor's sample lists the task's keys alphabetically.
        task: Task = {
            "calendar": calendar,
            "duration": duration,
            "end": start + calendar_span_ms(duration, working_days),
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

    def _update(self, now_ms: int) -> Task:
        rng = self._rng
        old = self._live[rng.choice(self._live_ids)]
        task = dict(old)  # copy-on-write: `old` is referenced by earlier events
        roll = rng.random()
        if roll < 0.55:
            self._append_status(task, now_ms)  # "attaches a delay"
        elif roll < 0.8:
            # "updates the resource allocation"
            field = rng.choice(("labourResources", "materialResources", "plantResources"))
            names = {"labourResources": LABOUR, "materialResources": MATERIALS}.get(field, PLANT)
            task[field] = _resources(rng, names, at_least_one=True)
        else:
            self._edit_fields(task)  # "updates a task"
        self._live[task["id"]] = task
        return task

    def _append_status(self, task: Task, now_ms: int) -> None:
        rng = self._rng
        kind = rng.choices(
            ("delay", "onSchedule", "completed", "shortened", "completedEarly"),
            weights=(40, 25, 15, 10, 10),
        )[0]
        category = ""  # "If the event is not a delay, this will be blank"
        if kind == "delay":
            name = rng.choice(sorted(self._reason_category))
            category = self._reason_category[name]
            value = rng.randint(1, 5)  # "A positive value indicates a delay"
        elif kind in ("shortened", "completedEarly"):
            name = STATUS_NAMES[kind]
            value = -min(rng.randint(1, 3), max(task["duration"] - 1, 0)) or 0
        else:
            name = STATUS_NAMES[kind]
            value = 0
        owner = rng.choice(PEOPLE)
        # "date: The date that the status event is attached to": a day of the task.
        last_day = max(task["start"], task["end"] - DAY_MS)
        status = {
            "date": min(max(day_floor(now_ms), task["start"]), last_day),
            "type": kind,
            "name": name,
            "value": value,
            "category": category,
            "addedBy": owner[1],
            "createdAt": now_ms,
        }
        task["statuses"] = [*task["statuses"], status]
        if value:
            # "the impact of the change to the completion date of the task"
            working_days = dict(CALENDARS).get(task["calendar"], 5)
            task["duration"] = max(1, task["duration"] + value)
            task["end"] = task["start"] + calendar_span_ms(task["duration"], working_days)

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

    def _delete(self) -> Task:
        task_id = self._rng.choice(self._live_ids)
        # Swap-remove keeps the choice list dense without an O(n) delete.
        index = self._live_index.pop(task_id)
        last = self._live_ids.pop()
        if last != task_id:
            self._live_ids[index] = last
            self._live_index[last] = index
        del self._live[task_id]
        return {"id": task_id}  # "Contains the id of the deleted task"

    def _add_live(self, task: Task) -> None:
        self._live[task["id"]] = task
        self._live_index[task["id"]] = len(self._live_ids)
        self._live_ids.append(task["id"])


def _resources(
    rng: random.Random, names: tuple[str, ...], *, at_least_one: bool = False
) -> dict[str, int]:
    count = rng.randint(1 if at_least_one else 0, 2)
    return {name: rng.randint(1, 24) for name in rng.sample(names, count)}
