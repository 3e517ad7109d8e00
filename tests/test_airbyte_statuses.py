"""`source-aphex read`: each stream's closing status says how its own read ended.

A failure ends only its own stream (with the streams it feeds) or its own project: those close
INCOMPLETE, every other stream COMPLETE, and each failure has its one TRACE error. The daily limit
(503) is a clean stop, no failure. Real HTTP to the simulator; every message is checked against the
Airbyte protocol's models (`test_airbyte.source`).
"""

from __future__ import annotations

import typing as t

import pytest
from aphex_simulator import Simulator
from harness import events_config
from test_airbyte import PAGE, AirbyteRun, configured, source

if t.TYPE_CHECKING:
    from pathlib import Path

LOG_STREAMS = ("task_events", "tasks", "task_statuses")
PLAN_STREAMS = ("published_plans", "published_plan_tasks", "published_plan_statuses")
DONE = ("COMPLETE", "INCOMPLETE")


def read_with_faults(
    tmp_path: Path,
    *,
    events_fail: bool = False,
    failing_projects: int = 0,
    daily_quota: int | None = None,
    streams: t.Iterable[str] | None = None,
) -> AirbyteRun:
    """One read of both APIs (3 pages of events, 3 projects), after the faults are queued: the
    Data API's second page answered 404 (a page after one that answered: a `system_error`), the
    first `failing_projects` projects answered with an HTML page."""
    with Simulator(
        seed=7,
        events=3 * PAGE,
        page_size=PAGE,
        daily_quota=daily_quota,
        plan_projects=3,
        plan_tasks=4,
    ) as sim:
        projects = [{"url": p.url, "token": p.token, "name": p.name} for p in sim.plan_projects]
        # No retry budget: a daily limit is taken at its first 503, with no wait.
        config = {**events_config(sim), "projects": projects, "retry_budget_seconds": 0}
        catalog = configured(source(tmp_path, "discover", config), streams)
        if events_fail:
            sim.inject_fault("stall", stall_seconds=0)  # the first page answers as usual
            sim.inject_fault("404")
        for project in sim.plan_projects[:failing_projects]:
            sim.set_plan_fault(project.account_id, "garbage", 1)
        return source(tmp_path, "read", config, catalog=catalog)


def closing(result: AirbyteRun) -> dict[str, str]:
    """Each stream's closing status; each stream closes once, after its STARTED."""
    closed = {}
    for message in result.of_type("TRACE"):
        if message["trace"]["type"] != "STREAM_STATUS":
            continue
        status = message["trace"]["stream_status"]
        name = status["stream_descriptor"]["name"]
        if status["status"] in DONE:
            assert name not in closed, f"{name} closed twice"
            closed[name] = status["status"]
    for name in closed:
        assert result.statuses(name)[0] == "STARTED"
    return closed


def expected(incomplete: t.Iterable[str], streams: t.Iterable[str]) -> dict[str, str]:
    return {s: "INCOMPLETE" if s in set(incomplete) else "COMPLETE" for s in streams}


@pytest.mark.parametrize(
    ("events_fail", "failing_projects", "incomplete"),
    [
        pytest.param(True, 0, LOG_STREAMS, id="the Data API fails"),
        pytest.param(False, 1, PLAN_STREAMS, id="one project of three fails"),
        pytest.param(False, 3, PLAN_STREAMS, id="every project fails"),
        pytest.param(True, 1, LOG_STREAMS + PLAN_STREAMS, id="both fail"),
    ],
)
def test_a_failure_leaves_incomplete_only_the_streams_it_ended(
    tmp_path: Path, events_fail: bool, failing_projects: int, incomplete: tuple[str, ...]
) -> None:
    result = read_with_faults(tmp_path, events_fail=events_fail, failing_projects=failing_projects)

    assert closing(result) == expected(incomplete, LOG_STREAMS + PLAN_STREAMS)
    # One TRACE error per failure: the Data API's, and each project's.
    assert len(result.errors()) == events_fail + failing_projects
    assert {e["failure_type"] for e in result.errors()} == {"system_error"}
    assert result.exit_code == 1
    # What did not fail landed: its records are there.
    for stream in set(LOG_STREAMS + PLAN_STREAMS) - set(incomplete):
        assert result.records(stream), stream


def test_the_daily_limit_is_no_failure_beside_a_failed_project(tmp_path: Path) -> None:
    # The quota runs out in the second page: a clean stop (docs/airbyte.md), COMPLETE.
    result = read_with_faults(tmp_path, failing_projects=1, daily_quota=PAGE + 50)

    assert closing(result) == expected(PLAN_STREAMS, LOG_STREAMS + PLAN_STREAMS)
    (error,) = result.errors()
    assert "project" in error["message"]
    assert len(result.records("task_events")) == PAGE + 50
    assert result.exit_code == 1


def test_a_failure_ends_the_selected_streams_it_feeds_and_only_those(tmp_path: Path) -> None:
    # Neither feeding stream is selected: the project's failure still ends its table's stream.
    streams = ("tasks", "published_plan_tasks")
    result = read_with_faults(tmp_path, failing_projects=1, streams=streams)

    assert closing(result) == expected(["published_plan_tasks"], streams)
    assert len(result.errors()) == 1
    assert result.exit_code == 1
