"""The event streams' records as written, read over real HTTP from the simulator: every record
is valid against the SCHEMA its stream sent (a plain JSON Schema validator, date-times checked),
values that do not fit land raw without stopping the log, and an event without an id stops it.
"""

from __future__ import annotations

import copy
import logging
import typing as t

import pytest
from aphex_simulator import Simulator
from harness import events_config, parse_messages, run_cli, run_tap
from schema_check import schema_errors, validator


def odd_values(sim: Simulator) -> None:
    """A few values the documents allow or the wire may send, misfits among them."""
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
    assert set(checks) == {"task_events", "tasks", "task_statuses"}
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


@pytest.mark.parametrize(
    ("event_id", "got"),
    [
        (17, "a number 17"),
        # JSON, but no text the tap could send back as startAfter (a URL has no form for it).
        ("Kx8\udc3dAb", 'a string "Kx8\\udc3dAb" (it holds a lone surrogate)'),
        # Past what a message shows of it: said in words all the same.
        (
            "K" * 50 + "\udc3d",
            'a string "' + "K" * 39 + "… (58 characters) (it holds a lone surrogate)",
        ),
    ],
    ids=["a number", "a lone surrogate", "a lone surrogate at the end of a long id"],
)
def test_an_event_without_an_id_stops_the_log_before_its_page_with_one_line(
    simulator: Simulator, event_id: object, got: str
) -> None:
    events = simulator.event_log.events
    events[700] = {**events[700], "eventId": event_id}  # page 2 of 500

    run = run_cli(events_config(simulator))

    assert run.returncode == 1
    after = f"event 201 of 500 on the page after {events[499]['eventId']} has no eventId"
    assert f"{after} (got {got})" in run.stderr
    assert "Traceback" not in run.stderr
    assert len(run.records("task_events")) == 500
    assert run.bookmark("task_events") == run.bookmark("tasks") == events[499]["eventId"]
