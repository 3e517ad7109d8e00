"""`meltano run tap-aphex target-...`: the pipelines our users run, against the simulator.

For each loader, two runs of the project's own pipeline (meltano.yml, `simulator` environment):
the first loads everything; then the organisation moves on (new events, a new published version per
project) and the second run, from the state Meltano saved, loads only what is new. The tests below
read the outcome as a user would, from the files or tables, and compare it with the simulator's
ground truth.
"""

from __future__ import annotations

import typing as t
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from aphex_simulator import RequestRecord, Simulator

from .landing import (
    DuckdbLanding,
    JsonlLanding,
    Landing,
    PostgresLanding,
    Row,
    differences,
    expected_tasks,
    landed_tasks,
)
from .meltano_project import Meltano, simulator_settings
from .truth import served_versions

pytestmark = pytest.mark.e2e

LOADERS = ("target-jsonl", "target-duckdb", "target-postgres")
NEW_EVENTS = 500
EVENTS_PATH = "/apiTaskEventsV2"  # what meltano.yml's simulator environment points api_url at


@dataclass
class Snapshot:
    """The simulator's truth and what had landed, right after one `meltano run`."""

    events: list[str]  # the simulator's event ids, in the log's order
    truth: dict[str, dict[str, t.Any]]  # the simulator's current tasks
    deleted: set[str]  # ids of the tasks the log deletes
    served_versions: set[tuple[str, str]]  # (accountId, publishedPlanId) the projects serve
    landed_events: list[str]
    task_rows: list[Row]  # the tasks table as it landed, unfiltered
    landed_tasks: list[Row]  # the same with the filter for current tasks
    landed_versions: list[tuple[str, str]]
    requests: list[RequestRecord]  # what the tap asked the simulator during the run
    state: dict[str, t.Any]  # what Meltano saved


@dataclass
class TwoRuns:
    landing: Landing
    first: Snapshot
    second: Snapshot
    new_events: list[str]

    @property
    def snapshots(self) -> tuple[Snapshot, Snapshot]:
        return self.first, self.second


def run_pipeline(meltano: Meltano, simulator: Simulator, landing: Landing) -> Snapshot:
    simulator.clear_requests()
    meltano("run", "tap-aphex", landing.loader)
    return Snapshot(
        events=[event["eventId"] for event in simulator.event_log.events],
        truth=simulator.current_tasks(),
        deleted={
            event["task"]["id"]
            for event in simulator.event_log.events
            if event["type"] == "TaskDeleted"
        },
        served_versions=served_versions(simulator),
        landed_events=landing.event_ids(),
        task_rows=landing.task_rows(),
        landed_tasks=landing.current_tasks(),
        landed_versions=landing.published_versions(),
        requests=simulator.requests,
        state=meltano.state(f"simulator:tap-aphex-to-{landing.loader}"),
    )


def make_landing(request: pytest.FixtureRequest, loader: str, folder: Path) -> Landing:
    if loader == "target-jsonl":
        return JsonlLanding(folder / "jsonl")
    if loader == "target-duckdb":
        return DuckdbLanding(folder / "warehouse.duckdb")
    server = request.getfixturevalue("postgres_server")  # skips where PostgreSQL cannot run
    return PostgresLanding(server.url(server.create_database(f"aphex_{folder.name}")))


@pytest.fixture(scope="module", params=LOADERS)
def two_runs(
    request: pytest.FixtureRequest,
    meltano_plugins: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> TwoRuns:
    loader: str = request.param
    folder = tmp_path_factory.mktemp(loader.replace("-", "_"))
    landing = make_landing(request, loader, folder)
    with Simulator(
        seed=23, events=3_000, page_size=1_000, daily_quota=None, plan_projects=2, plan_tasks=20
    ) as simulator:
        meltano = Meltano.isolated(folder, **simulator_settings(simulator), **landing.settings)
        first = run_pipeline(meltano, simulator, landing)

        new_events = [event["eventId"] for event in simulator.append_events(NEW_EVENTS)]
        for project in simulator.plan_projects:
            simulator.publish_version(project.account_id)
        second = run_pipeline(meltano, simulator, landing)
    return TwoRuns(landing, first, second, new_events)


def assert_each_once(landed: list[t.Any], expected: t.Iterable[t.Any], what: str) -> None:
    counts = Counter(landed)
    expected = set(expected)
    twice = sorted(str(key) for key, n in counts.items() if n > 1)
    missing = sorted(str(key) for key in expected - counts.keys())
    unexpected = sorted(str(key) for key in counts.keys() - expected)
    assert not twice, f"{what}: {len(twice)} landed more than once, e.g. {twice[:3]}"
    assert not missing, f"{what}: {len(missing)} did not land, e.g. {missing[:3]}"
    assert not unexpected, f"{what}: {len(unexpected)} not in the simulator, e.g. {unexpected[:3]}"


def test_every_event_lands_exactly_once(two_runs: TwoRuns) -> None:
    first, second = two_runs.snapshots
    for snapshot in two_runs.snapshots:
        assert_each_once(snapshot.landed_events, snapshot.events, "task_events")
    if isinstance(two_runs.landing, JsonlLanding):  # a file also keeps the order they came in
        assert first.landed_events == first.events
        assert second.landed_events == first.events + two_runs.new_events


def test_deleted_tasks_stay_in_the_tasks_table_marked(two_runs: TwoRuns) -> None:
    """What lands, before any filter: every task ever seen, each deleted one marked (a soft
    delete). None of these targets removes the row: target-postgres' `hard_delete` acts only on
    ACTIVATE_VERSION, which the tap does not send; see docs/deletions.md."""
    for snapshot in two_runs.snapshots:
        assert snapshot.deleted, "the log should delete some tasks, or deletions go untested"
        ids = [str(row["id"]) for row in snapshot.task_rows]
        marked = {str(row["id"]) for row in snapshot.task_rows if row["_sdc_deleted_at"]}
        unmarked = {str(row["id"]) for row in snapshot.task_rows if not row["_sdc_deleted_at"]}

        assert len(ids) == len(set(ids)), "a task landed as more than one row"
        assert marked == snapshot.deleted
        assert unmarked == snapshot.truth.keys()
        assert len(snapshot.task_rows) == len(snapshot.truth) + len(snapshot.deleted)


def test_the_filter_for_current_tasks_gives_the_simulators_tasks(two_runs: TwoRuns) -> None:
    """`WHERE _sdc_deleted_at IS NULL` (docs/deletions.md) leaves exactly the tasks that exist."""
    for snapshot in two_runs.snapshots:
        assert snapshot.deleted, "the log should delete some tasks, or deletions go untested"
        landed = landed_tasks(snapshot.landed_tasks, snapshot.truth)
        assert not snapshot.deleted & landed.keys()
        expected = expected_tasks(
            snapshot.truth, empty_text_as_null=two_runs.landing.empty_text_as_null
        )
        assert differences(landed, expected) == []


def test_every_published_version_lands_exactly_once(two_runs: TwoRuns) -> None:
    first, second = two_runs.snapshots
    assert_each_once(first.landed_versions, first.served_versions, "published_plans")
    # The second run adds the new versions; the first run's, no longer all served, stay.
    everything = first.served_versions | second.served_versions
    assert len(everything) == len(first.served_versions) + 2  # one new version per project
    assert_each_once(second.landed_versions, everything, "published_plans")


def test_the_second_run_asks_only_for_the_events_after_the_saved_state(
    two_runs: TwoRuns,
) -> None:
    first, second = two_runs.snapshots
    data_requests = [r for r in second.requests if r.path == EVENTS_PATH]
    assert data_requests, "the second run made no task-events request"
    assert data_requests[0].query.get("startAfter") == first.events[-1]
    assert sum(r.events for r in data_requests) == NEW_EVENTS


def test_meltano_saves_the_last_event_as_the_state(two_runs: TwoRuns) -> None:
    for snapshot in two_runs.snapshots:
        bookmarks = snapshot.state["bookmarks"]
        assert bookmarks["task_events"]["replication_key_value"] == snapshot.events[-1]
        assert bookmarks["tasks"]["replication_key_value"] == snapshot.events[-1]
