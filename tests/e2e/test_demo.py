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
    assert re.search(r"task_events\s+│\s+12,000\s", first)  # the table of row counts
    # The tasks table's rows agree with the line that explains them, deleted tasks included.
    rows, deleted = (
        warehouse.row_count("tasks"),
        len(warehouse.task_rows()) - len(warehouse.current_tasks()),
    )
    assert re.search(r"tasks\s+│\s+" + f"{rows:,}" + r"\s", first)
    current = rows - deleted
    assert f"holds {rows:,} tasks, one row each: {current:,} current and {deleted:,}" in first
    assert "where _sdc_deleted_at is null" in first
    assert "(deleted)" not in first  # not a project
    assert "deliberate oddities" in first.split("warning:")[0]  # said before the first warning
    assert not re.search(r"\b1 [a-z]+s\b(?! row\(s\))", first.split("==> 5.")[1])  # "1 records"
    assert not re.search(r"\d\.0\b", first.split("==> 5.")[1])  # 275, not 275.0
    assert "Delays on current tasks" in first
    assert "Published plans" in first
    assert warehouse.row_count("task_events") == 12_000
    assert not is_listening(simulator_port(first)), "the demo left the simulator running"

    second = run_demo(output, system_db)

    assert "Incremental run" in second
    assert "1,500 new task events (each a change to one task), 3 new published plan" in second
    assert warehouse.row_count("task_events") == 13_500
    assert not is_listening(simulator_port(second))
