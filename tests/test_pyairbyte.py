"""End to end through PyAirbyte, a real Airbyte client nobody here wrote.

PyAirbyte runs `source-aphex` as a local executable, offline (`AIRBYTE_OFFLINE_MODE=1`: without it,
PyAirbyte reaches for its online connector registry), reads into its local DuckDB cache, and
passes the state back on the next read into the same cache.

PyAirbyte is heavy (~600 MB) and needs Python < 3.13, so it has an environment of its own
(tests/pyairbyte, locked), made on first use under .tools/pyairbyte and reused after; where it
cannot be made, these tests skip and say why.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import pytest
from aphex_simulator import Simulator
from harness import events_config

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "tests" / "pyairbyte"
ENVIRONMENT = ROOT / ".tools" / "pyairbyte"
SOURCE_APHEX = Path(sys.executable).with_name("source-aphex")
STEP_TIMEOUT_SECONDS = 600


def _python_for_pyairbyte(uv: str) -> str | None:
    if sys.version_info < (3, 13):
        return sys.executable
    found = subprocess.run(
        [uv, "python", "find", ">=3.10,<3.13"], capture_output=True, text=True, check=False
    )
    return found.stdout.strip() or None


def announce(config: pytest.Config, line: str) -> None:
    """A line on the terminal now, past pytest's capture: a slow install should say what it is."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        print(line, file=sys.stderr)
    else:
        reporter.write_line(line)


@pytest.fixture(scope="module")
def pyairbyte_python(request: pytest.FixtureRequest) -> Path:
    """PyAirbyte's environment, made or brought up to date from its lock file (only when a test
    of this module is selected: `-m 'not e2e'` leaves it out)."""
    uv = os.environ.get("UV") or shutil.which("uv")
    if not uv:
        pytest.skip("PyAirbyte's environment is made with uv, and uv is not on PATH")
    python = _python_for_pyairbyte(uv)
    if python is None:
        pytest.skip("PyAirbyte needs Python 3.10 to 3.12, and `uv python find` found none")
    if not ENVIRONMENT.exists():  # later runs only check it against the lock, in a second
        announce(
            request.config,
            "tests/test_pyairbyte.py: installing PyAirbyte (~600 MB, tests/pyairbyte/uv.lock) into "
            ".tools/pyairbyte, once, to read source-aphex through a real Airbyte client",
        )
    started = time.monotonic()
    done = subprocess.run(
        [uv, "sync", "--locked", "--project", str(PROJECT), "--python", python],
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(ENVIRONMENT)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"PyAirbyte could not be installed into {ENVIRONMENT}: {last}")
    took = time.monotonic() - started
    announce(request.config, f"tests/test_pyairbyte.py: PyAirbyte ready in {took:.1f} s")
    return ENVIRONMENT / "bin" / "python"


class PyAirbyte:
    """The driver process (tests/pyairbyte/driver.py): one step per line, one answer per step."""

    def __init__(self, python: Path, workdir: Path) -> None:
        self._stderr = workdir / "pyairbyte.stderr"
        env = {
            **os.environ,
            "AIRBYTE_OFFLINE_MODE": "1",
            "DO_NOT_TRACK": "1",
            "AIRBYTE_PROJECT_DIR": str(workdir),
            "AIRBYTE_LOGGING_ROOT": str(workdir / "logs"),
        }
        with self._stderr.open("w") as stderr:
            self._process = subprocess.Popen(
                [str(python), str(PROJECT / "driver.py"), str(SOURCE_APHEX)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=env,
            )

    def step(self, step: str, **request: t.Any) -> dict[str, t.Any]:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write(json.dumps({"step": step, **request}) + "\n")
        self._process.stdin.flush()
        deadline = time.monotonic() + STEP_TIMEOUT_SECONDS
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            while selector.select(timeout=max(0.0, deadline - time.monotonic())):
                line = self._process.stdout.readline()
                if not line:
                    break
                if line.startswith("RESULT "):
                    return t.cast("dict[str, t.Any]", json.loads(line.removeprefix("RESULT ")))
        pytest.fail(f"PyAirbyte gave no answer to {step}:\n{self._stderr.read_text()[-3000:]}")

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


@pytest.fixture(scope="module")
def pyairbyte(
    pyairbyte_python: Path, tmp_path_factory: pytest.TempPathFactory
) -> t.Iterator[PyAirbyte]:
    driver = PyAirbyte(pyairbyte_python, tmp_path_factory.mktemp("pyairbyte"))
    yield driver
    driver.close()


@pytest.fixture
def sim() -> t.Iterator[Simulator]:
    with Simulator(seed=11, events=1_500, page_size=500, daily_quota=None, plan_projects=0) as sim:
        yield sim


def current_tasks(rows: list[dict[str, t.Any]]) -> dict[str, dict[str, t.Any]]:
    """`tasks` as a user of the cache gets it: per id the latest row by log sequence; deletes out.

    PyAirbyte lower-cases column names.
    """
    latest: dict[str, dict[str, t.Any]] = {}
    for row in sorted(rows, key=lambda row: row["_aphex_log_sequence"]):
        latest[row["id"]] = row
    return {task_id: row for task_id, row in latest.items() if not row["_sdc_deleted_at"]}


def test_check_succeeds_and_a_refused_key_is_a_clear_failure(
    pyairbyte: PyAirbyte, sim: Simulator
) -> None:
    accepted = pyairbyte.step("check", config=events_config(sim))
    refused = pyairbyte.step("check", config={**events_config(sim), "api_key": "wrong-key-42"})

    assert accepted == {"ok": True}
    assert refused["ok"] is False
    assert "The Data API refused the key (HTTP 401)" in refused["message"]
    assert "wrong-key-42" not in refused["message"]


def test_reads_land_every_event_once_and_the_next_read_only_new_ones(
    pyairbyte: PyAirbyte, sim: Simulator, tmp_path: Path
) -> None:
    streams = ["task_events", "tasks"]
    cache = str(tmp_path / "cache")

    first = pyairbyte.step("read", config=events_config(sim), streams=streams, cache_dir=cache)

    events = sorted(event["eventId"] for event in sim.event_log.events)
    assert sorted(row["eventid"] for row in first["tables"]["task_events"]) == events
    tasks, truth = current_tasks(first["tables"]["tasks"]), sim.current_tasks()
    assert set(tasks) == set(truth)
    assert all(tasks[task_id]["name"] == truth[task_id]["name"] for task_id in truth)

    new = sim.append_events(200)
    second = pyairbyte.step("read", config=events_config(sim), streams=streams, cache_dir=cache)

    # Each new event, and each task's newest change per page.
    assert len(new) < second["processed"] <= 2 * len(new)
    events = sorted(event["eventId"] for event in sim.event_log.events)
    assert sorted(row["eventid"] for row in second["tables"]["task_events"]) == events
    assert set(current_tasks(second["tables"]["tasks"])) == set(sim.current_tasks())
