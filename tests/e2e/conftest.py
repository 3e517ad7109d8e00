"""Fixtures for driving the repository's Meltano project (meltano.yml) against the simulator.

Every test gets its own Meltano system database (so its own state) and its own outputs; the
plugins' virtual environments in `.meltano/` are shared and kept between runs (`meltano install`
only updates them, and quickly: Meltano 4 installs with uv).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aphex_simulator import Simulator

from .meltano_project import ROOT, Meltano, simulator_settings
from .postgres import PostgresServer, Unavailable

_INSTALL_TIMEOUT_SECONDS = 900  # a first install downloads every plugin's packages


@pytest.fixture(scope="session", autouse=True)
def one_worker_at_a_time() -> Iterator[None]:
    """These tests, in one worker at a time when the suite runs in parallel (pytest-xdist): they
    share the project's `.meltano/`, whose files Meltano rewrites on every run (the discovered
    catalog and the config in `.meltano/run/`), so two runs at once break each other. The first
    worker to get here holds the lock to the end of its session; another waits for it.
    (Not xdist's `--dist loadgroup`: with pytest 9 it no longer keeps a group on one worker.)"""
    lock_path = ROOT / ".meltano" / "e2e-run.lock"
    lock_path.parent.mkdir(exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


@pytest.fixture(scope="session")
def meltano_plugins(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every extractor and loader of meltano.yml installed in `.meltano/` (reused from earlier
    runs)."""
    lock_path = ROOT / ".meltano" / "e2e-install.lock"
    lock_path.parent.mkdir(exist_ok=True)
    # Another test session may be installing into the same folder right now.
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            meltano = Meltano.isolated(tmp_path_factory.mktemp("install"))
            # Not the dbt utilities: only the tests that run dbt install them (test_analytics.py).
            for plugin_type in ("extractor", "loader"):
                meltano("install", "--plugin-type", plugin_type, timeout=_INSTALL_TIMEOUT_SECONDS)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """A small organisation: 3,000 events in pages of 1,000, two plan projects, no quota."""
    with Simulator(
        seed=11, events=3_000, page_size=1_000, daily_quota=None, plan_projects=2, plan_tasks=20
    ) as sim:
        yield sim


@pytest.fixture
def meltano(meltano_plugins: None, tmp_path: Path, simulator: Simulator) -> Meltano:
    """`meltano` with its own system database, pointed at this test's simulator."""
    return Meltano.isolated(tmp_path, **simulator_settings(simulator))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server on loopback for the session (installed first if it is missing)."""
    try:
        with PostgresServer.started() as server:
            yield server
    except Unavailable as reason:
        pytest.skip(str(reason))
