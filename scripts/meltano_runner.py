"""`meltano` in this repository's project (meltano.yml), run as a user types it.

One home for what the demo and the end-to-end tests both need: which `meltano` to run, an
environment that nothing from the user's shell can steer elsewhere, and Meltano's JSON log read as
events.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import typing as t
from dataclasses import dataclass
from pathlib import Path

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

ROOT = Path(__file__).resolve().parents[1]
# What meltano.yml's loaders create: one table per stream, in this schema (their
# `default_target_schema`, the same for target-duckdb and target-postgres).
SCHEMA = "aphex"
STREAMS = (
    "task_events",
    "tasks",
    "task_statuses",
    "published_plans",
    "published_plan_tasks",
    "published_plan_statuses",
)
# Variables from the user's shell that would steer Meltano, the tap or a target away from the
# simulator (a developer's shell or .env may hold real credentials).
STEERING_PREFIXES = ("MELTANO_", "TAP_APHEX_", "TARGET_", "APHEX_SIMULATOR_")


class MeltanoFailed(Exception):
    """`meltano` exited non-zero; the message ends with the last lines it printed."""


def meltano_executable() -> str:
    beside_python = Path(sys.executable).with_name("meltano")
    found = str(beside_python) if beside_python.exists() else shutil.which("meltano")
    if found is None:
        msg = "meltano is not installed: `uv sync` installs it (the e2e dependency group)"
        raise MeltanoFailed(msg)
    return found


def clean_environment(*, database_uri: str | None = None, **extra: str) -> dict[str, str]:
    """This process's environment without steering variables, plus ``extra``.

    ``database_uri`` is Meltano's system database, which holds the saved state (by default
    .meltano/meltano.db).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(STEERING_PREFIXES)}
    env.update(MELTANO_SEND_ANONYMOUS_USAGE_STATS="false", NO_COLOR="1", **extra)
    if database_uri:
        env["MELTANO_DATABASE_URI"] = database_uri
    return env


def simulator_settings(base_url: str, projects: t.Iterable[Mapping[str, str]]) -> dict[str, str]:
    """What meltano.yml's `simulator` environment reads: the URL, and the projects with tokens."""
    listed = [{key: project[key] for key in ("name", "url", "token")} for project in projects]
    return {"APHEX_SIMULATOR_URL": base_url, "APHEX_SIMULATOR_PROJECTS": json.dumps(listed)}


@dataclass
class Meltano:
    """`meltano` in a Meltano project (by default the repository's) with a fixed environment."""

    env: dict[str, str]
    cwd: Path = ROOT  # the project's folder
    # No `.env` (os.devnull) by default: a developer's could hold real credentials, and they would
    # win over meltano.yml's environment. None: Meltano's own default, `<project>/.env`.
    env_file: str | None = os.devnull

    def command(self, *args: str) -> list[str]:
        env_file = [] if self.env_file is None else [f"--env-file={self.env_file}"]
        return [meltano_executable(), *env_file, *args]

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
            raise MeltanoFailed(_failure(args, result.returncode, result.stderr + result.stdout))
        return result

    def state(self, state_id: str) -> dict[str, t.Any] | None:
        """The Singer state Meltano saved for ``state_id``, or None when it has none."""
        stored = json.loads(self("state", "get", state_id).stdout or "{}")
        singer_state = stored.get("singer_state") if isinstance(stored, dict) else None
        return dict(singer_state) if singer_state else None

    def start(self, *args: str, log: t.IO[str]) -> subprocess.Popen[str]:
        """`meltano ARGS` started in the background, its output going to ``log``."""
        return subprocess.Popen(
            self.command(*args),
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def log_events(self, *args: str, log: t.TextIO) -> Iterator[dict[str, t.Any]]:
        """Run ``meltano --log-format=json ARGS``, writing its log to ``log``; yield each event.

        Meltano tags each event with the plugin it came from (`name`) and its level, so a reader
        filters on fields instead of parsing console text.
        """
        with subprocess.Popen(
            self.command("--log-format=json", *args),
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        ) as process:
            assert process.stdout is not None  # PIPE was asked for
            lines: list[str] = []
            try:
                for line in process.stdout:
                    log.write(line)
                    lines = [*lines[-39:], line]
                    event = _json_object(line)
                    if event is not None:
                        yield event
            finally:
                if process.poll() is None:  # the reader stopped early (interrupted): stop meltano
                    process.terminate()
            if process.wait() != 0:
                raise MeltanoFailed(_failure(args, process.returncode, "".join(lines)))


def _json_object(line: str) -> dict[str, t.Any] | None:
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None  # a plugin's own output that is not Meltano's JSON: kept in the log only
    return value if isinstance(value, dict) else None


def _failure(args: t.Sequence[str], code: int, output: str) -> str:
    tail = "\n".join(output.splitlines()[-25:])
    return f"`meltano {' '.join(args)}` exited {code}:\n{tail}"
