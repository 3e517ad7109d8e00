"""./demo's logic (scripts/demo.py): a full run, an incremental one, and nothing left running."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .landing import DuckdbLanding
from .meltano_project import ROOT, meltano_environment

pytestmark = pytest.mark.e2e


def run_demo(output: Path, system_db: Path) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--output", str(output)],
        cwd=ROOT,
        env=meltano_environment(system_db),  # the demo's state in this test's own database
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def simulator_port(output: str) -> int:
    match = re.search(r"Serving both Aphex APIs on http://127\.0\.0\.1:(\d+)", output)
    assert match, output
    return int(match[1])


def is_listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_the_demo_loads_everything_then_only_what_is_new(
    meltano_plugins: None, tmp_path: Path
) -> None:
    output, system_db = tmp_path / "output", tmp_path / "meltano.db"
    warehouse = DuckdbLanding(output / "demo.duckdb")

    first = run_demo(output, system_db)

    assert "Full run" in first
    assert "12,000 new task events" in first
    assert re.search(r"task_events\s+│\s+12000\s", first)  # DuckDB's own table of row counts
    assert "Delays on current tasks" in first
    assert "Published plans" in first
    assert warehouse.row_count("task_events") == 12_000
    assert not is_listening(simulator_port(first)), "the demo left the simulator running"

    second = run_demo(output, system_db)

    assert "Incremental run" in second
    assert "1,500 new task events, 3 new published plan versions" in second
    assert warehouse.row_count("task_events") == 13_500
    assert not is_listening(simulator_port(second))
