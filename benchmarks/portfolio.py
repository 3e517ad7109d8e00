"""A portfolio of projects: the tap against a bare thread pool, and memory with large documents.

- Time: N projects whose server takes L seconds to answer each request (the simulator's
  `plans_latency_seconds`), each project's history short enough to need one request. The tap
  (`max_parallel_projects` = the floor's threads) against `portfolio_floor.py`, side by side.
- Memory: 8 projects with a document of about 32 MiB each, all in flight at once; the tap's peak
  RSS over its own idle (a tiny document), against the bound 8 x 1.5 x the document.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import TAP, Measured, median_of, run_child, simulator_process, write_json

FLOOR = [sys.executable, str(Path(__file__).with_name("portfolio_floor.py"))]
THREADS = 8
HISTORY_WEEKS = 4  # fewer than the default `limit` of 5: one request per project, as the floor
LARGE_TASKS = 15_500  # five versions of 15,500 tasks (short histories): about 32 MiB


@dataclass(frozen=True)
class PortfolioRow:
    projects: int
    latency: float
    tap: Measured
    floor: Measured

    @property
    def ratio(self) -> float:
        return self.tap.seconds / self.floor.seconds


@dataclass(frozen=True)
class MemoryFigures:
    documents: int
    document_bytes: int
    tap_tiny: Measured
    tap_large: Measured

    @property
    def growth_mib(self) -> float:
        return self.tap_large.peak_rss_mib - self.tap_tiny.peak_rss_mib

    @property
    def bound_mib(self) -> float:
        return self.documents * 1.5 * self.document_bytes / 2**20


def measure_time(sizes: list[int], latency: float, repeats: int) -> list[PortfolioRow]:
    rows = []
    for size in sizes:
        args = ["--events", "0", "--plan-projects", str(size), "--plan-tasks", "40"]
        args += ["--history-weeks", str(HISTORY_WEEKS), "--plans-latency-seconds", str(latency)]
        with tempfile.TemporaryDirectory() as name, simulator_process(*args) as sim:
            projects = sim["projects"]
            config = {"projects": projects, "max_parallel_projects": THREADS}
            config_path = write_json(Path(name, "config.json"), config)
            projects_path = write_json(Path(name, "projects.json"), projects)
            tap = [*TAP, "--config", config_path]
            floor = [*FLOOR, str(THREADS), projects_path]
            run_child(tap)  # warm-up: bytecode written, the simulator's documents built
            run_child(floor)
            taps, floors = [], []
            for _ in range(repeats):  # interleaved, so a slow spell of the machine hits both
                taps.append(run_child(tap))
                floors.append(run_child(floor))
        rows.append(PortfolioRow(size, latency, median_of(taps), median_of(floors)))
    return rows


def measure_memory(documents: int = THREADS, tasks: int = LARGE_TASKS) -> MemoryFigures:
    tiny_args = ["--events", "0", "--plan-projects", "1", "--plan-tasks", "10"]
    large_args = ["--events", "0", "--plan-projects", str(documents), "--plan-tasks", str(tasks)]
    large_args += ["--history-weeks", "5", "--plans-latency-seconds", "1"]
    with (
        tempfile.TemporaryDirectory() as name,
        simulator_process(*tiny_args) as tiny,
        simulator_process(*large_args) as large,
    ):
        tiny_config = write_json(Path(name, "tiny.json"), {"projects": tiny["projects"]})
        config = {"projects": large["projects"], "max_parallel_projects": documents}
        large_config = write_json(Path(name, "large.json"), config)
        projects_path = write_json(Path(name, "projects.json"), large["projects"][:1])
        size = int(run_child([*FLOOR, "1", projects_path]).tail.strip())
        tap_tiny = run_child([*TAP, "--config", tiny_config])
        tap_large = run_child([*TAP, "--config", large_config])
    return MemoryFigures(documents, size, tap_tiny, tap_large)


def table(rows: list[PortfolioRow], memory: MemoryFigures | None) -> str:
    lines = [f"published plans, a portfolio ({THREADS} at a time; floor: {THREADS} threads):"]
    lines.append(f"{'projects':>9} {'latency':>8} {'tap s':>7} {'floor s':>8} {'x floor':>8}")
    for row in rows:
        lines.append(
            f"{row.projects:>9} {row.latency:>7.2f}s {row.tap.seconds:>7.2f} "
            f"{row.floor.seconds:>8.2f} {row.ratio:>7.2f}x"
        )
    if memory:
        m = memory
        lines += [
            f"{m.documents} documents of {m.document_bytes / 2**20:.1f} MiB in flight at once:",
            f"  tap, tiny document  peak RSS {m.tap_tiny.peak_rss_mib:7.1f} MiB",
            f"  tap, {m.documents} documents    peak RSS {m.tap_large.peak_rss_mib:7.1f} MiB "
            f"({m.tap_large.records} records)",
            f"  growth over idle    {m.growth_mib:7.1f} MiB (bound {m.bound_mib:.0f} MiB = "
            f"{m.documents} x 1.5 x the document)",
        ]
    return "\n".join(lines)
