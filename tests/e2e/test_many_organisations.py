"""Many organisations, one project, one shared state backend: the layout README recommends.

One inherited extractor per organisation (`meltano add --inherit-from tap-aphex`), each with its own
key and projects through the environment variables Meltano reads for that plugin's name
(`TAP_APHEX_ACME_API_KEY`, ...), and Meltano's system database, where it keeps the state, on a
real PostgreSQL server. Two organisations' `meltano run` jobs run at the same time from two
processes, as an orchestrator would run them (one job per organisation), each against its own
simulator: each lands its own data and keeps its own state, and neither touches the other's.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from pathlib import Path

import pytest
from aphex_simulator import Simulator

from .landing import JsonlLanding
from .meltano_project import Meltano
from .postgres import PostgresServer
from .truth import event_ids, landing_differences
from .user_project import create_user_project, organisation_env, project_secrets

pytestmark = pytest.mark.e2e

NEW_EVENTS = 300
EVENTS_PATH = "/apiTaskEventsV2"  # where simulator_config points api_url
# Each job's loader writes under its own extractor's name: one folder (or schema) per organisation.
DESTINATION = "$MELTANO_PROJECT_ROOT/output/$MELTANO_EXTRACTOR_NAME"


@dataclass
class Organisation:
    plugin: str  # the inherited extractor
    simulator: Simulator

    @property
    def state_id(self) -> str:
        return f"dev:{self.plugin}-to-target-jsonl"  # `meltano init`'s default environment: dev

    def job(self, project: Meltano) -> Meltano:
        """`meltano` as this organisation's job runs it: with its own secrets and no one else's."""
        env = project.env | organisation_env(self.plugin, self.simulator)
        return Meltano(env, cwd=project.cwd, env_file=project.env_file)

    def landing(self, project: Meltano) -> JsonlLanding:
        return JsonlLanding(project.cwd / "output" / self.plugin)


def run_at_once(jobs: list[tuple[Meltano, list[str]]], logs: Path) -> None:
    """Start every job, then wait for all: all of them are running together at some moment."""
    running = []
    for number, (meltano, args) in enumerate(jobs):
        log = (logs / f"job-{number}.log").open("w")
        running.append((meltano.start(*args, log=log), log, args))
    assert all(process.poll() is None for process, _, _ in running), "a job ended before all began"
    for process, log, args in running:
        returncode = process.wait(timeout=600)
        log.close()
        tail = "\n".join(Path(log.name).read_text().splitlines()[-30:])
        assert returncode == 0, f"`meltano {' '.join(args)}` exited {returncode}:\n{tail}"


@pytest.fixture
def project(tmp_path: Path, postgres_server: PostgresServer) -> Meltano:
    database = postgres_server.create_database(f"meltano_{tmp_path.name}".lower())
    system_db = postgres_server.url(database, driver="postgresql+psycopg")
    meltano = create_user_project(tmp_path, MELTANO_DATABASE_URI=system_db)
    for plugin in ("tap-aphex-acme", "tap-aphex-brick"):
        meltano("add", "--plugin-type", "extractor", plugin, "--inherit-from", "tap-aphex")
    meltano("config", "set", "target-jsonl", "destination_path", DESTINATION)
    return meltano


@pytest.fixture
def organisations() -> t.Iterator[list[Organisation]]:
    def organisation(name: str, seed: int) -> Simulator:
        return Simulator(
            seed=seed,
            events=2_000,
            page_size=500,
            daily_quota=None,
            api_key=f"{name}-key",
            plan_projects=1,
            plan_tasks=15,
        )

    with organisation("acme", 41) as acme, organisation("brick", 42) as brick:
        yield [Organisation("tap-aphex-acme", acme), Organisation("tap-aphex-brick", brick)]


def test_two_organisations_run_at_once_each_with_its_own_data_and_state(
    project: Meltano, organisations: list[Organisation], tmp_path: Path
) -> None:
    acme, brick = organisations

    run_at_once(
        [(org.job(project), ["run", org.plugin, "target-jsonl"]) for org in organisations], tmp_path
    )

    for org in organisations:
        assert landing_differences(org.landing(project), org.simulator) == [], org.plugin
        state = project.state(org.state_id)["bookmarks"]["task_events"]
        assert state["replication_key_value"] == event_ids(org.simulator)[-1], org.plugin
    states = project("state", "list").stdout.split()
    assert sorted(states) == sorted(org.state_id for org in organisations)
    # No organisation's secrets reached the project's files: they live in each job's environment.
    project_files = (project.cwd / "meltano.yml").read_text() + _dotenv(project)
    for org in organisations:
        assert not [s for s in project_secrets(org.simulator) if s in project_files]

    # One organisation moves on and runs again alone: it reads only what is new, from its own
    # state, and the other's state and data stay as they were.
    brick_state = project.state(brick.state_id)
    last_before = event_ids(acme.simulator)[-1]
    new = [event["eventId"] for event in acme.simulator.append_events(NEW_EVENTS)]
    acme.simulator.clear_requests()

    acme.job(project)("run", acme.plugin, "target-jsonl")

    assert landing_differences(acme.landing(project), acme.simulator) == []
    event_requests = [r for r in acme.simulator.requests if r.path == EVENTS_PATH]
    assert event_requests[0].query.get("startAfter") == last_before
    assert sum(request.events for request in event_requests) == len(new)
    assert project.state(brick.state_id) == brick_state
    assert landing_differences(brick.landing(project), brick.simulator) == []


def _dotenv(project: Meltano) -> str:
    path = project.cwd / ".env"
    return path.read_text() if path.exists() else ""
