"""The simulator's variations mode end to end: every surprise the documents allow lands as the
tolerant reader promises, the run succeeds, nothing is lost and every record fits its schema."""

from __future__ import annotations

import re
import typing as t

import pytest
from aphex_simulator import Simulator, Variation
from aphex_simulator.variations import EVENT_KINDS, VARIATION_KINDS
from harness import TapRun, events_config, replay_tasks, run_tap
from schema_check import invalid_records

from tap_aphex.schemas import epoch_to_rfc3339
from tap_aphex.streams.task_events import TaskEventsStream as DataApiStream

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def at(record: dict[str, t.Any], path: str) -> t.Any:
    """The value at a vendor path such as ``task.statuses[2].createdAt`` (None where absent)."""
    value: t.Any = record
    for name, index in _STEP.findall(path):
        if value is None:
            return None
        value = value.get(name) if name else value[int(index)]
    return value


@pytest.fixture(scope="module")
def varied() -> t.Iterator[tuple[Simulator, TapRun]]:
    with Simulator(
        seed=5,
        events=3_000,
        page_size=500,
        daily_quota=None,
        plan_projects=2,
        plan_tasks=20,
        variations=True,
    ) as sim:
        projects = [{"url": p.url, "token": p.token, "name": p.name} for p in sim.plan_projects]
        waits = DataApiStream.SERVICE_UNAVAILABLE_WAITS
        DataApiStream.SERVICE_UNAVAILABLE_WAITS = (0.0,) * len(waits)  # passing 503s, no waiting
        try:
            run = run_tap(events_config(sim, projects=projects))  # raises if any part failed
        finally:
            DataApiStream.SERVICE_UNAVAILABLE_WAITS = waits
        yield sim, run


def served(sim: Simulator, *kinds: str) -> list[Variation]:
    found = [v for v in sim.variations_served if v.kind in kinds]
    assert found, f"the simulator served no {kinds}"
    return found


def test_every_event_lands_once_in_order_and_both_bookmarks_reach_the_end(
    varied: tuple[Simulator, TapRun],
) -> None:
    sim, run = varied
    assert {v.kind for v in sim.variations_served} == VARIATION_KINDS  # the run met every kind
    log = [event["eventId"] for event in sim.event_log.events]

    assert [r["eventId"] for r in run.records("task_events")] == log
    assert run.bookmark("task_events") == run.bookmark("tasks") == log[-1]
    assert set(replay_tasks(run.records("tasks"))) == set(sim.current_tasks())


def test_values_that_fit_are_typed_and_the_others_are_kept_raw(
    varied: tuple[Simulator, TapRun],
) -> None:
    sim, run = varied
    events = {record["eventId"]: record for record in run.records("task_events")}
    in_events = [v for v in served(sim, *EVENT_KINDS) if v.event_id]
    assert {v.kind for v in in_events} == EVENT_KINDS  # every kind met the tap
    for variation in in_events:
        record = events[t.cast("str", variation.event_id)]
        landed = at(record, variation.path)
        if variation.expect == "typed":
            is_time = variation.path.rsplit(".", 1)[-1] in ("createdAt", "date", "start", "end")
            expected = epoch_to_rfc3339(variation.value) if is_time else variation.value
            assert landed == expected, variation
        elif variation.expect == "raw":
            assert landed is None, variation
            assert record["undocumented"][variation.path] == variation.value, variation
        else:
            assert variation.expect == "null", variation
            assert landed is None, variation


def test_published_plans_keep_every_surprise_and_lose_no_good_version(
    varied: tuple[Simulator, TapRun],
) -> None:
    sim, run = varied
    for variation in served(sim, "key_task_string"):
        plan = next(
            p
            for p in run.records("published_plans")
            if p["accountId"] == variation.account_id and p["version"] == variation.version
        )
        row_number = int(re.findall(r"\[(\d+)\]", variation.path)[0]) + 1
        row = next(
            r
            for r in run.records("published_plan_tasks")
            if r["publishedPlanId"] == plan["publishedPlanId"] and r["rowNumber"] == row_number
        )
        assert row["keyTask"] is None
        assert row["undocumented"]["keyTask"] == variation.value
    assert all(row["taskId"] for row in run.records("published_plan_tasks"))
    for variation in served(sim, "row_without_task_id"):
        plan = next(
            p
            for p in run.records("published_plans")
            if p["accountId"] == variation.account_id and p["version"] == variation.version
        )
        assert plan["undocumented"]["unkeyed_rows"]["tasks"], plan["undocumented"]
    # Every project's dated versions landed once each, the undatable one was skipped.
    normal = sim.plan_projects[1]
    landed = [p for p in run.records("published_plans") if p["accountId"] == normal.account_id]
    assert len({p["publishedPlanId"] for p in landed}) == len(landed) > 5


def test_every_record_fits_its_streams_schema(varied: tuple[Simulator, TapRun]) -> None:
    _, run = varied
    schemas = {m["stream"]: m["schema"] for m in run.messages if m["type"] == "SCHEMA"}
    assert set(schemas) == {
        "task_events",
        "tasks",
        "task_statuses",
        "published_plans",
        "published_plan_tasks",
        "published_plan_statuses",
    }
    for stream, schema in schemas.items():
        assert invalid_records(schema, run.records(stream)) == [], stream
