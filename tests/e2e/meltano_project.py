"""`meltano` in the repository's Meltano project for the tests: scripts/meltano_runner.py, the
runner the demo uses too, with each test's own system database and failures as pytest failures."""

from __future__ import annotations

import subprocess
import typing as t
from pathlib import Path

import meltano_runner
import pytest
from aphex_simulator import Simulator
from meltano_runner import ROOT

__all__ = ["ROOT", "Meltano", "meltano_environment", "simulator_settings"]


class Meltano(meltano_runner.Meltano):
    """`meltano` run in the repository's project, as a user types it, with this test's settings."""

    @classmethod
    def isolated(cls, folder: Path, **settings: str) -> Meltano:
        """One with its own system database (so its own state)."""
        return cls(meltano_environment(folder / "meltano.db", **settings))

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        try:
            return super().__call__(*args, check=check, timeout=timeout)
        except meltano_runner.MeltanoFailed as failure:
            pytest.fail(str(failure))

    def state(self, state_id: str) -> dict[str, t.Any]:
        """The Singer state Meltano saved for `state_id` (its systemdb backend)."""
        saved = super().state(state_id)
        assert saved is not None, f"Meltano saved no state for {state_id}"
        return saved


def meltano_environment(system_db: Path, **extra: str) -> dict[str, str]:
    return meltano_runner.clean_environment(database_uri=f"sqlite:///{system_db}", **extra)


def simulator_settings(simulator: Simulator) -> dict[str, str]:
    """What meltano.yml's `simulator` environment reads: the URL and the projects with tokens."""
    projects = [{"name": p.name, "url": p.url, "token": p.token} for p in simulator.plan_projects]
    return meltano_runner.simulator_settings(simulator.base_url, projects)
