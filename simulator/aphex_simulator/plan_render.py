"""Each task of a published plan: a fixed plan plus incidents, rendered as of a publication.

A task is a fixed plan (a `TaskSpec`) plus "incidents" (delays, on-schedule confirmations,
shortenings) dated in time. A version published at time T shows each task as it stood at T: the
incidents recorded by then, the end moved by their values, and a status derived from T. So tasks
evolve week on week (progress, delays) consistently, and any version can be rendered directly,
without replaying the versions before it: a large document stays fast to build.

The row fields follow the sibling Work Area API's flat rows (see `plans.py`: ASSUMED SHAPE); the
status rows reuse the Data API's status fields ("Statuses": date, type, name, value, category,
addedBy, createdAt), keyed by task id.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .ids import DAY_MS, HOUR_MS, calendar_span_ms, day_floor, random_id
from .vocabulary import (
    CALENDARS,
    DELAY_REASONS,
    LOCATIONS,
    PACKAGES,
    PEOPLE,
    SHIFTS,
    STATUS_NAMES,
    SUBCONTRACTORS,
    TRADES,
    WBS_PATHS,
)


@dataclass(frozen=True)
class Incident:
    """Something recorded against a task at `created_at`; visible in versions published after."""

    created_at: int
    date: int
    type: str
    name: str
    category: str
    value: int
    added_by: str

    def status_row(self, task_id: str) -> dict[str, Any]:
        return {
            "taskId": task_id,
            "date": self.date,
            "type": self.type,
            "name": self.name,
            "category": self.category,
            "value": self.value,
            "addedBy": self.added_by,
            "createdAt": self.created_at,
        }


@dataclass(frozen=True)
class TaskSpec:
    fixed: dict[str, Any]  # fields that never change between versions
    start: int
    duration: int
    working_days: int
    owner_email: str
    incidents: tuple[Incident, ...]  # ordered by created_at

    def rows_at(self, at: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The task row and its status rows in a version published at `at` (epoch ms)."""
        task_id = self.fixed["taskId"]
        statuses: list[dict[str, Any]] = []
        moved = 0
        last_delay = ""
        for incident in self.incidents:
            if incident.created_at > at:
                break
            moved += incident.value
            if incident.type == "delay":
                last_delay = incident.name
            statuses.append(incident.status_row(task_id))
        duration = max(1, self.duration + moved)
        end = self.start + calendar_span_ms(duration, self.working_days)
        if end <= at:
            status = "Complete"
            completed_day = end - DAY_MS
            done = Incident(
                created_at=completed_day + 17 * HOUR_MS,
                date=completed_day,
                type="completed",
                name=STATUS_NAMES["completed"],
                category="",
                value=0,
                added_by=self.owner_email,
            )
            statuses.append(done.status_row(task_id))
        elif moved > 0:
            status = "Delayed"
        elif self.start <= at:
            status = "In Progress"
        else:
            status = "Not Started"
        notes = f"Delayed {moved} day(s), latest reason: {last_delay}" if moved > 0 else ""
        fixed = self.fixed
        row = {
            "taskId": task_id,
            "name": fixed["name"],
            "start": self.start,
            "end": end,
            "duration": duration,
            **{key: fixed[key] for key in _FIXED_AFTER_DURATION},
            "status": status,
            "notes": notes,
        }
        return row, statuses


# Row keys after "duration", in row order, that never change between versions.
_FIXED_AFTER_DURATION = (
    "shift",
    "ownerName",
    "ownerEmail",
    "subcontractor",
    "wbsPath",
    "wbsName",
    "externalId",
    "packageCode",
    "packageName",
    "keyTask",
)


def task_spec(rng: random.Random, number: int, programme_start: int, days: int) -> TaskSpec:
    """A task of the programme (`days` long from `programme_start`), with its incidents."""
    _calendar, working_days = rng.choice(CALENDARS)
    duration = rng.randint(3, 60)
    start = programme_start + rng.randrange(days) * DAY_MS
    owner_name, owner_email = rng.choice(PEOPLE)
    wbs_path, wbs_name = rng.choice(WBS_PATHS)
    package_code, package_name = rng.choice(PACKAGES)
    fixed = {
        "taskId": random_id(rng),
        "name": f"{rng.choice(TRADES)} - {rng.choice(LOCATIONS) or 'Site'}",
        "shift": rng.choice(SHIFTS),
        "ownerName": owner_name,
        "ownerEmail": owner_email,
        "subcontractor": rng.choice(SUBCONTRACTORS),
        "wbsPath": wbs_path,
        "wbsName": wbs_name,
        "externalId": f"ACT-{number + 1:05d}" if rng.random() < 0.6 else "",
        "packageCode": package_code,
        "packageName": package_name,
        "keyTask": rng.random() < 0.1,
    }
    planned_end = start + calendar_span_ms(duration, working_days)
    incidents: list[Incident] = []
    if rng.random() < 0.45:
        # Incidents are recorded before the planned end (less two days), so a task that shows
        # "Complete" in one version never reopens in a later one: delays only push the end
        # out, and a shortening of one day cannot pull it back before the incident itself.
        for _ in range(rng.randint(1, 3)):
            created_at = rng.randint(start - 7 * DAY_MS, planned_end - 2 * DAY_MS)
            incidents.append(_random_incident(rng, created_at, start))
        incidents.sort(key=lambda incident: incident.created_at)
        # Only the last incident may shorten, so the running end never drops below the
        # creation time of a later incident.
        incidents[:-1] = [i for i in incidents[:-1] if i.type != "shortened"]
        if incidents[-1].type == "shortened" and duration <= 1:
            incidents.pop()
    return TaskSpec(fixed, start, duration, working_days, owner_email, tuple(incidents))


def _random_incident(rng: random.Random, created_at: int, task_start: int) -> Incident:
    kind = rng.choices(("delay", "onSchedule", "shortened"), weights=(70, 20, 10))[0]
    if kind == "delay":
        name, category = rng.choice(DELAY_REASONS)
        value = rng.randint(1, 5)
    else:
        name, category = STATUS_NAMES[kind], ""
        value = -1 if kind == "shortened" else 0
    return Incident(
        created_at=created_at,
        date=max(task_start, day_floor(created_at)),
        type=kind,
        name=name,
        category=category,
        value=value,
        added_by=rng.choice(PEOPLE)[1],
    )
