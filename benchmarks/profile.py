"""Where the tap's time goes: one run under cProfile, task_events + tasks, the heaviest functions.

uv run --locked python -m benchmarks.profile [EVENTS] [LINES]
"""

from __future__ import annotations

import argparse
import io
import pstats
import sys
import tempfile
from pathlib import Path

from benchmarks.common import catalog_selecting, run_child, simulator_process, write_json
from benchmarks.events import PAGE_SIZE


def main(events: int = 100_000, lines: int = 25) -> None:
    args = ["--events", str(events), "--page-size", str(PAGE_SIZE), "--daily-quota", "0"]
    with (
        tempfile.TemporaryDirectory() as name,
        simulator_process(*args, "--plan-projects", "0") as sim,
    ):
        folder = Path(name)
        config = {"api_key": sim["api_key"], "api_url": sim["events_url"], "page_size": PAGE_SIZE}
        config_path = write_json(folder / "config.json", config)
        catalog = catalog_selecting({"task_events", "tasks"}, config_path, folder)
        profile = str(folder / "tap.prof")
        command = [sys.executable, "-m", "cProfile", "-o", profile, "-m", "tap_aphex"]
        run = run_child([*command, "--config", config_path, "--catalog", catalog])
        printed = io.StringIO()
        stats = pstats.Stats(profile, stream=printed).sort_stats("cumulative")
        stats.print_stats(r"tap_aphex|singer_sdk|json|requests|msgspec", lines)
    print(f"{events} events, {run.records} records, {run.cpu_seconds:.1f} CPU s under cProfile")
    print(printed.getvalue().split("\n\n", 1)[-1].strip())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("events", nargs="?", type=int, default=100_000, help="log size")
    parser.add_argument("lines", nargs="?", type=int, default=25, help="functions shown")
    arguments = parser.parse_args()
    main(arguments.events, arguments.lines)
