"""`meltano` in the repository's Meltano project (meltano.yml), run as a user types it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import typing as t
from dataclasses import dataclass
from pathlib import Path

import pytest

from tap_aphex.simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]
# Environment variables from the developer's shell that would steer Meltano, the tap or a target.
_STEERING_PREFIXES = ("MELTANO_", "TAP_APHEX_", "TARGET_", "APHEX_SIMULATOR_")


def meltano_executable() -> str:
    beside_python = Path(sys.executable).with_name("meltano")
    found = str(beside_python) if beside_python.exists() else shutil.which("meltano")
    if found is None:
        pytest.fail("meltano is not installed: `uv sync` installs it (the e2e dependency group)")
    return found


@dataclass
class Meltano:
    """`meltano` run in the repository's project, as a user types it, with this test's settings.

    `isolated()` makes one with its own system database (so its own state) that reads no `.env`:
    a developer's could hold real credentials, and they would win over meltano.yml's environment.
    """

    env: dict[str, str]
    cwd: Path = ROOT  # the project's folder
    # The project's `.env` is not read (os.devnull) unless a test's own project keeps its secrets
    # there (None: Meltano's default, `<project>/.env`).
    env_file: str | None = os.devnull

    @classmethod
    def isolated(cls, folder: Path, **settings: str) -> Meltano:
        return cls(meltano_environment(folder / "meltano.db", **settings))

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.command(*args),
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            tail = "\n".join((result.stderr + result.stdout).splitlines()[-40:])
            pytest.fail(f"`meltano {' '.join(args)}` exited {result.returncode}:\n{tail}")
        return result

    def command(self, *args: str) -> list[str]:
        env_file = [] if self.env_file is None else [f"--env-file={self.env_file}"]
        return [meltano_executable(), *env_file, *args]

    def start(self, *args: str, log: t.IO[str]) -> subprocess.Popen[str]:
        """`meltano <args>` started in the background, its output going to `log`."""
        return subprocess.Popen(
            self.command(*args),
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def state(self, state_id: str) -> dict[str, t.Any]:
        """The Singer state Meltano saved for `state_id` (its systemdb backend)."""
        stored: dict[str, t.Any] = json.loads(self("state", "get", state_id).stdout)
        return dict(stored["singer_state"])


def meltano_environment(system_db: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STEERING_PREFIXES)}
    env.update(
        MELTANO_DATABASE_URI=f"sqlite:///{system_db}",
        MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
        NO_COLOR="1",
    )
    env.update(extra)
    return env


def simulator_settings(simulator: Simulator) -> dict[str, str]:
    """What meltano.yml's `simulator` environment reads: the URL and the projects with tokens."""
    projects = [{"name": p.name, "url": p.url, "token": p.token} for p in simulator.plan_projects]
    return {
        "APHEX_SIMULATOR_URL": simulator.base_url,
        "APHEX_SIMULATOR_PROJECTS": json.dumps(projects),
    }
