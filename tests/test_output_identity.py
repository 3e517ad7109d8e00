"""The event streams need none of the SDK's type conformance: their records are already typed.

The same log, read over real HTTP once with the SDK's recursive conformance and once with none,
gives the same RECORD messages byte for byte, and every record is valid against its stream's
SCHEMA (a plain JSON Schema validator, date-times checked).
"""

from __future__ import annotations

import copy
import logging
import re
import typing as t

import pytest
from aphex_simulator import Simulator
from harness import events_config, parse_messages, run_cli, run_tap
from schema_check import schema_errors, validator
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_aphex.streams.task_events import TaskEventsStream, TasksStream

# The SDK stamps each RECORD with the moment it was written; everything else must match.
_TIME_EXTRACTED = re.compile(r',?\s*"time_extracted":\s*"[^"]*"')


def odd_values(sim: Simulator) -> None:
    """A few values the documents allow or the wire may send, so both paths see misfits too."""
    events = sim.event_log.events
    updates = [n for n, e in enumerate(events) if e["type"] == "TaskUpdated"][:6]
    changes: list[tuple[str, object]] = [
        ("start", "2025-06-02"),  # a date as a string
        ("duration", True),  # a bool where a number is documented
        ("duration", 2.5),  # a float that fits
        ("labourResources", {"Carpenters": "4"}),  # a number as a string
        ("successors", ["a", 7]),
        ("priority", "high"),  # a field nobody documented
    ]
    for n, (field, value) in zip(updates, changes, strict=True):
        event = copy.deepcopy(events[n])  # stored events share their parts: change a copy
        event["task"][field] = value
        if field == "start":
            event["createdAt"] = 10**20  # no time in either unit
            event["region"] = "EMEA"
        events[n] = event


def record_lines(stdout: str) -> list[str]:
    """The RECORD lines exactly as written, less the moment each was written."""
    lines = stdout.splitlines()
    return [
        _TIME_EXTRACTED.sub("", line)
        for line, message in zip(lines, parse_messages(stdout), strict=True)
        if message["type"] == "RECORD"
    ]


def test_records_are_byte_identical_with_and_without_the_sdks_conformance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Simulator(seed=11, events=3_000, page_size=700, daily_quota=None, plan_projects=0) as sim:
        odd_values(sim)
        runs = {}
        for level in (TypeConformanceLevel.RECURSIVE, TypeConformanceLevel.NONE):
            for stream in (TaskEventsStream, TasksStream):
                monkeypatch.setattr(stream, "TYPE_CONFORMANCE_LEVEL", level)
            runs[level] = run_tap(events_config(sim))

    recursive, none = runs[TypeConformanceLevel.RECURSIVE], runs[TypeConformanceLevel.NONE]
    assert len(recursive.records("task_events")) == 3_000
    assert len(recursive.records("tasks")) > 1_000
    assert any(r["undocumented"] for r in recursive.records("task_events"))
    assert record_lines(none.stdout) == record_lines(recursive.stdout)
    assert len(record_lines(none.stdout)) == len(none.records("task_events")) + len(
        none.records("tasks")
    )


def test_every_record_is_valid_against_the_schema_its_stream_sent(simulator: Simulator) -> None:
    odd_values(simulator)

    run = run_tap(events_config(simulator))

    messages = parse_messages(run.stdout)
    checks = {m["stream"]: validator(m["schema"]) for m in messages if m["type"] == "SCHEMA"}
    invalid: dict[str, t.Any] = {}
    for message in messages:
        if message["type"] == "RECORD":
            errors = schema_errors(checks[message["stream"]], message["record"])
            if errors:
                invalid.setdefault(message["stream"], (message["record"], errors))
    assert set(checks) == {"task_events", "tasks"}
    assert invalid == {}


def test_values_that_do_not_fit_never_stop_the_log_and_land_raw_with_one_warning(
    simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    odd_values(simulator)
    odd = next(e for e in simulator.event_log.events if e.get("region"))

    with caplog.at_level(logging.WARNING):
        run = run_tap(events_config(simulator))

    last = simulator.event_log.events[-1]["eventId"]
    assert run.bookmark("task_events") == run.bookmark("tasks") == last
    record = next(r for r in run.records("task_events") if r["eventId"] == odd["eventId"])
    assert record["createdAt"] is None
    assert record["task"]["start"] is None
    assert record["undocumented"] == {
        "region": "EMEA",
        "createdAt": 10**20,
        "task.start": "2025-06-02",
    }
    warned = [r.getMessage() for r in caplog.records if "task.start" in r.getMessage()]
    assert len(warned) == 1
    assert odd["eventId"] in warned[0]


def test_an_event_without_an_id_stops_the_log_before_its_page_with_one_line(
    simulator: Simulator,
) -> None:
    events = simulator.event_log.events
    events[700] = {**events[700], "eventId": 17}  # page 2 of 500

    run = run_cli(events_config(simulator))

    assert run.returncode == 1
    after = (
        f"event 201 of 500 on the page after {events[499]['eventId']} has no eventId (got int 17)"
    )
    assert after in run.stderr
    assert "Traceback" not in run.stderr
    assert len(run.records("task_events")) == 500
    assert run.bookmark("task_events") == run.bookmark("tasks") == events[499]["eventId"]
