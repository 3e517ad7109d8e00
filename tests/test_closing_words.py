"""The run's closing words say what is true: a failed run says "the rest of what was read landed"
only when something else was read and landed, and an interrupted run sums up what went out (records,
or BATCH files) before its last line. Real runs over HTTP against the simulator."""

from __future__ import annotations

import json
import signal
import typing as t

import pytest
from aphex_simulator import Simulator
from harness import (
    events_config,
    log_lines,
    parse_messages,
    plans_config,
    run_cli,
    run_tap,
    selecting,
    signalled_after_states,
    small_organisation,
)

from tap_aphex.report import RunFailedError

if t.TYPE_CHECKING:
    from pathlib import Path

LOG = ("task_events", "tasks", "task_statuses")
PLANS = ("published_plans", "published_plan_tasks", "published_plan_statuses")

SOME_LANDED = (
    "part of the run failed, the rest of what was read landed (the state holds what was delivered"
)
NOTHING_ELSE = "the run failed, with nothing else to read (the state holds what was delivered"


def failed_run(
    sim: Simulator, failing: set[str], healthy: set[str], streams: t.Iterable[str]
) -> str:
    """The last line of a run of ``streams`` in which the ``failing`` parts (`log`, or a project's
    name) fail and the ``healthy`` ones land."""
    config: dict[str, t.Any] = {}
    if "log" in failing | healthy:
        config = events_config(sim, api_key=sim.api_key if "log" in healthy else "not-the-key")
    projects = [p for p in sim.plan_projects if p.name in failing | healthy]
    for project in projects:
        if project.name in failing:
            sim.expire_token(project.account_id)  # 401: that project fails, the run goes on
    if projects:
        config["projects"] = [{"url": p.url, "token": p.token, "name": p.name} for p in projects]
    with pytest.raises(RunFailedError) as failed:
        run_tap(config, catalog=selecting(config, streams))
    return str(failed.value)


@pytest.fixture
def two_projects() -> t.Iterator[Simulator]:
    with Simulator(seed=4, events=300, daily_quota=None, plan_projects=2, history_weeks=2) as sim:
        yield sim


@pytest.mark.parametrize(
    ("failing", "healthy", "streams", "expected"),
    [
        # One stream selected, and it fails: there is no "everything else".
        ({"log"}, set(), ["task_events"], NOTHING_ELSE),
        # The streams task_events feeds fail with it: still nothing else.
        ({"log"}, set(), ["task_events", "tasks"], NOTHING_ELSE),
        ({"log"}, set(), ["tasks"], NOTHING_ELSE),
        ({"log"}, set(), LOG, NOTHING_ELSE),
        # One project, only its tables selected.
        ({"P0"}, set(), ["published_plan_tasks", "published_plan_statuses"], NOTHING_ELSE),
        # Every part selected fails.
        ({"P0", "P1"}, set(), PLANS, "all 2 parts of the run failed (the state holds"),
        ({"log", "P0"}, set(), LOG + PLANS, "all 2 parts of the run failed (the state holds"),
        # Something else was read and landed: the words stay.
        ({"P0"}, {"P1"}, PLANS, SOME_LANDED),
        ({"log"}, {"P0"}, LOG + PLANS, SOME_LANDED),
        ({"P0"}, {"log"}, LOG + PLANS, SOME_LANDED),
        ({"log", "P0"}, {"P1"}, LOG + PLANS, "2 parts failed, the rest of what was read landed"),
    ],
)
def test_a_failed_run_says_everything_else_landed_only_when_something_else_did(
    two_projects: Simulator,
    failing: set[str],
    healthy: set[str],
    streams: t.Sequence[str],
    expected: str,
) -> None:
    names = {f"P{n}": p.name for n, p in enumerate(two_projects.plan_projects)}
    failing = {names.get(part, part) for part in failing}
    healthy = {names.get(part, part) for part in healthy}

    said = failed_run(two_projects, failing, healthy, streams)

    assert expected in said
    if expected != SOME_LANDED and "2 parts failed" not in expected:
        assert "the rest of what was read" not in said


def test_the_command_ends_a_run_of_one_failed_stream_with_words_that_are_true(
    tmp_path: Path,
) -> None:
    with Simulator(seed=4, events=300, daily_quota=None, plan_projects=0) as sim:
        config = events_config(sim, api_key="not-the-key")
        (tmp_path / "catalog.json").write_text(json.dumps(selecting(config, ["task_events"])))

        run = run_cli(config, None, "--catalog", str(tmp_path / "catalog.json"))

    assert run.returncode == 1
    last = log_lines(run.stderr, "ERROR")[-1]
    assert last.startswith(NOTHING_ELSE)
    assert "The Data API refused the key (HTTP 401)" in last


# --- An interrupted run sums up what went out ----------------------------------------------


@pytest.mark.parametrize("batching", [False, True], ids=["records", "batch_config"])
def test_an_interrupted_run_says_what_went_out_before_its_last_line(
    tmp_path: Path, batching: bool
) -> None:
    with Simulator(seed=3, events=3_000, page_size=100, daily_quota=None, plan_projects=0) as sim:
        config = events_config(sim)
        if batching:
            config["batch_config"] = {
                "encoding": {"format": "jsonl", "compression": "gzip"},
                "storage": {"root": tmp_path.as_uri(), "prefix": "batch-"},
                "batch_size": 200,
            }
        code, stdout, stderr = signalled_after_states(config, tmp_path, [signal.SIGINT])

    # Whole lines only: the last may be cut short.
    messages = parse_messages("\n".join(x for x in stdout.splitlines() if x.endswith("}")))

    assert code == 130
    lines = [line for line in stderr.splitlines() if " | " in line]
    assert log_lines(lines[-1], "ERROR") == [
        "Interrupted (SIGINT): stopped. The last STATE written is where the next run resumes "
        "(none written: where this one started)."
    ]
    summary = [line for line in log_lines(stderr, "INFO") if line.startswith("Summary: ")]
    for stream in LOG:
        if batching:  # counted as a finished run counts them: its BATCH messages' files
            out = sum(
                len(m["manifest"])
                for m in messages
                if m["type"] == "BATCH" and m["stream"] == stream
            )
            said = f"Summary: {stream}: {out:,} BATCH file(s) written"
        else:
            out = sum(1 for m in messages if m["type"] == "RECORD" and m["stream"] == stream)
            said = f"Summary: {stream}: {out:,} records sent"
        assert out > 0
        assert any(line.startswith(said) for line in summary), (said, summary)
    assert not any("nothing was" in line for line in summary)


# --- A stream map's error lands what went out before it ---------------------------------------


def failing_on(event_id: str) -> str:
    """A stream map expression that fails (ZeroDivisionError) on one record only."""
    return f"1 / (0 if eventId == '{event_id}' else 1)"


def test_a_stream_map_error_mid_page_lands_the_records_written_before_it() -> None:
    with small_organisation() as sim:  # pages of 500
        log = [event["eventId"] for event in sim.event_log.events]
        maps = {"task_events": {"x": failing_on(log[650])}}  # 150 records into the second page

        run = run_cli(events_config(sim, stream_maps=maps))
        resumed = run_tap(events_config(sim), state=run.final_state)

    assert run.returncode == 1
    assert log_lines(run.stderr, "ERROR")[-1].startswith("`stream_maps.task_events.x`")
    assert [r["eventId"] for r in run.records("task_events")] == log[:650]
    # The records out before the error have their STATE: `tasks` got them too, the two together.
    assert run.bookmark("task_events") == run.bookmark("tasks") == log[649]
    assert {r["eventId"] for r in run.records("tasks")} <= set(log[:650])
    assert any(r["eventId"] in log[500:650] for r in run.records("tasks"))
    assert [r["eventId"] for r in resumed.records("task_events")] == log[650:]


def test_a_stream_map_error_in_tasks_leaves_no_state_ahead_of_them() -> None:
    with small_organisation() as sim:
        log = [event["eventId"] for event in sim.event_log.events]
        second_page = set(log[500:1000])
        handed = [r["eventId"] for r in run_tap(events_config(sim)).records("tasks")]
        failing = next(event_id for event_id in handed if event_id in second_page)
        maps = {"tasks": {"x": failing_on(failing)}}

        run = run_cli(events_config(sim, stream_maps=maps))

    assert run.returncode == 1
    assert log_lines(run.stderr, "ERROR")[-1].startswith("`stream_maps.tasks.x`")
    # The second page's tasks did not all go out: no STATE covers it.
    assert run.bookmark("task_events") == run.bookmark("tasks") == log[499]


def test_records_that_cannot_land_after_a_stream_map_error_are_said_and_get_no_state() -> None:
    with small_organisation() as sim:
        log = [event["eventId"] for event in sim.event_log.events]
        handed = [r["eventId"] for r in run_tap(events_config(sim)).records("tasks")]
        # task_events' map fails 150 records into the second page; tasks' on one before that.
        failing = next(event_id for event_id in handed if event_id in set(log[500:650]))
        maps = {"task_events": {"x": failing_on(log[650])}, "tasks": {"x": failing_on(failing)}}

        run = run_cli(events_config(sim, stream_maps=maps))

    assert run.returncode == 1
    assert log_lines(run.stderr, "ERROR")[-1].startswith("`stream_maps.task_events.x`")
    (said,) = [line for line in log_lines(run.stderr, "WARNING") if "did not land" in line]
    assert "`stream_maps.tasks.x`" in said
    assert "the next run reads them again" in said
    assert run.bookmark("task_events") == run.bookmark("tasks") == log[499]


@pytest.mark.parametrize("stream", ["published_plan_tasks", "published_plan_statuses"])
def test_a_stream_map_error_in_a_plans_table_is_the_users_to_fix_not_the_projects(
    stream: str,
) -> None:
    """As on every other stream: one line naming the map, not a failure of each project."""
    with Simulator(seed=3, events=10, plan_projects=2) as sim:
        config = plans_config(sim.plan_projects, stream_maps={stream: {"bad": "1/0"}})

        run = run_cli(config)

    assert run.returncode == 1
    assert log_lines(run.stderr, "ERROR")[-1].startswith(f"`stream_maps.{stream}.bad`")
    assert "could not read its published plans" not in run.stderr
