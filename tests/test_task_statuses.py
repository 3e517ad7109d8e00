"""`task_statuses`: every status of every task once, flat, in the same pass as task_events."""

from __future__ import annotations

import random
import typing as t
from datetime import datetime

from aphex_simulator import Simulator
from harness import events_config, killed_after_states, replay_tasks, run_tap
from schema_check import invalid_records

from tap_aphex import schemas
from tap_aphex.streams.event_log import status_records

STATUS_KEYS = ("date", "type", "name", "category", "value", "addedBy", "createdAt")


def current_statuses(
    tasks: dict[str, dict[str, t.Any]], statuses: list[dict[str, t.Any]]
) -> dict[str, list[dict[str, t.Any]]]:
    """What a warehouse holds as current after upserting every record on (taskId, statusKey):
    per live task, the statuses whose `eventId` is the task's own (docs/data.md)."""
    held = {(s["taskId"], s["statusKey"]): s for s in statuses}
    current: dict[str, list[dict[str, t.Any]]] = {}
    for status in held.values():
        task = tasks.get(status["taskId"])
        if task is not None and task["eventId"] == status["eventId"]:
            current.setdefault(status["taskId"], []).append(status)
    return current


def truth(sim: Simulator) -> dict[str, list[tuple[t.Any, ...]]]:
    """The simulator's own statuses of its live tasks, as (date, type, value) per task."""
    return {
        task_id: sorted((s["date"], s["type"], s["value"]) for s in task.get("statuses") or [])
        for task_id, task in sim.current_tasks().items()
        if task.get("statuses")
    }


def as_epochs(current: dict[str, list[dict[str, t.Any]]]) -> dict[str, list[tuple[t.Any, ...]]]:
    def epoch(text: str) -> int:
        return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)

    return {
        task_id: sorted((epoch(s["date"]), s["type"], s["value"]) for s in statuses)
        for task_id, statuses in current.items()
    }


def test_every_status_of_every_live_task_lands_once_and_fits_its_schema() -> None:
    with Simulator(seed=5, events=3_000, page_size=400, daily_quota=None, plan_projects=0) as sim:
        run = run_tap(events_config(sim))

        tasks = replay_tasks(run.records("tasks"))
        statuses = run.records("task_statuses")
        assert statuses, "the simulator's tasks carry statuses"
        assert invalid_records(schemas.TASK_STATUS, statuses) == []
        # Read in the same pass: one bookmark for the three streams.
        assert run.bookmark("task_statuses") == run.bookmark("task_events") == run.bookmark("tasks")
        assert as_epochs(current_statuses(tasks, statuses)) == truth(sim)


def test_a_status_dropped_by_a_later_copy_of_its_task_is_no_longer_current() -> None:
    status = {"date": "2025-06-02T00:00:00.000Z", "type": "delay", "value": 1, "addedBy": "a@b"}
    first = {"id": "t1", "projectId": "p", "statuses": [status, {**status, "type": "completed"}]}
    copies = [
        {**first, "eventId": "e1", "eventCreatedAt": None, "undocumented": None},
        {**first, "statuses": [status], "eventId": "e2", "eventCreatedAt": None},
    ]
    records = [record for copy in copies for record in status_records(copy)]

    tasks = {"t1": {"id": "t1", "eventId": "e2"}}
    (kept,) = current_statuses(tasks, records)["t1"]
    assert kept["type"] == "delay"
    assert len({r["statusKey"] for r in records}) == 2  # the same status keeps its key


def test_identical_statuses_in_one_copy_are_each_kept_and_a_deletion_carries_none() -> None:
    status = {"date": "2025-06-02T00:00:00.000Z", "type": "delay", "value": 1}
    task = {"id": "t1", "statuses": [status, dict(status)], "eventId": "e1", "eventCreatedAt": None}

    keys = [record["statusKey"] for record in status_records(task)]

    assert len(keys) == len(set(keys)) == 2
    assert status_records({**task, "_sdc_deleted_at": "2025-06-03T00:00:00.000Z"}) == []


def test_task_statuses_hold_each_status_once_after_kill_9_and_resume() -> None:
    # Killed after at most 8 pages of 250: 3,000 events leave a part of the log to the resumed run.
    with Simulator(seed=11, events=3_000, page_size=250, daily_quota=None, plan_projects=0) as sim:
        config = events_config(sim)
        killed = killed_after_states(config, random.Random(7).randint(2, 8))
        states = [m["value"] for m in killed if m["type"] == "STATE"]
        last_state = states[-1]
        marks = {
            name: mark["replication_key_value"] for name, mark in last_state["bookmarks"].items()
        }
        assert marks["task_statuses"] == marks["tasks"] == marks["task_events"]
        # What a target committed with that state: everything before it.
        end = max(i for i, m in enumerate(killed) if m["type"] == "STATE")

        def committed(stream: str) -> list[dict[str, t.Any]]:
            return [
                m["record"] for m in killed[:end] if m["type"] == "RECORD" and m["stream"] == stream
            ]

        resumed = run_tap(config, state=last_state)

        tasks = replay_tasks(committed("tasks") + resumed.records("tasks"))
        statuses = committed("task_statuses") + resumed.records("task_statuses")
        assert as_epochs(current_statuses(tasks, statuses)) == truth(sim)
