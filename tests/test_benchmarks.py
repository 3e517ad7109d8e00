"""The benchmark command runs in quick mode and prints its tables (no figure is judged)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.common import Measured
from benchmarks.plans import PlansFigures, table
from benchmarks.portfolio import MemoryFigures, PortfolioRow
from benchmarks.portfolio import table as portfolio_table

ROOT = Path(__file__).resolve().parents[1]
RUNS = [
    "floor (requests + json)",
    "sdk template, no reader",
    "sdk tuned, no reader",
    "tap: task_events",
    "tap: task_events + tasks",
]


def test_quick_events_benchmark_prints_one_row_per_run_with_every_figure() -> None:
    command = [sys.executable, "-m", "benchmarks", "--quick", "--events", "800", "--no-plans"]
    command.append("--no-portfolio")
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {line[10:36].strip(): line[36:].split() for line in done.stdout.splitlines()}
    rows = {run: figures for run, figures in rows.items() if run in RUNS}
    assert list(rows) == RUNS
    records = {run: int(figures[0]) for run, figures in rows.items()}
    assert [records[run] for run in RUNS[:4]] == [800] * 4  # each read the whole log
    assert records[RUNS[4]] > 800  # the tasks records come on top
    for figures in rows.values():  # seconds, events/s, x floor, CPU s, x floor, peak RSS MiB
        assert len(figures) == 8
        assert [figures[3][-1], figures[5][-1], figures[7]] == ["x", "x", "MiB"]


def test_plans_table_reports_growth_against_the_document_and_records_per_second() -> None:
    def run(rss: float, records: int = 0) -> Measured:
        return Measured(2.0, 1.5, rss, records, 0, "")

    figures = PlansFigures(32 * 2**20, run(30), run(50), run(90, 110_000), run(200))
    printed = table(figures)
    assert "one document of 32.0 MiB" in printed
    assert "40.0 MiB = 1.25x the document" in printed
    assert "110000 records in 2.0 s = 55000 records/s (1.5 CPU s = 73333 per CPU s)" in printed


def test_portfolio_table_puts_the_tap_against_the_floor_and_memory_against_its_bound() -> None:
    def run(seconds: float, rss: float = 50.0) -> Measured:
        return Measured(seconds, 1.0, rss, 0, 0, "")

    rows = [PortfolioRow(40, 0.4, run(3.0), run(2.0))]
    memory = MemoryFigures(8, 32 * 2**20, run(1.0, 50.0), run(9.0, 130.0))
    printed = portfolio_table(rows, memory)
    assert "       40    0.40s    3.00     2.00    1.50x" in printed
    assert "growth over idle       80.0 MiB (bound 384 MiB = 8 x 1.5 x the document)" in printed
