"""task_events (alone, and with tasks) and the floor, on the same simulated log, side by side."""

from __future__ import annotations

import tempfile
import typing as t
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import (
    FLOOR,
    SDK_FLOOR,
    TAP,
    Measured,
    catalog_selecting,
    median_of,
    run_child,
    simulator_process,
    write_json,
)

PAGE_SIZE = 4000
FLOOR_RUN = "floor (requests + json)"
#: The smallest singer-sdk taps of the same log, with no reader (`sdk_floor.py`): what the SDK
#: itself costs, as its template makes a tap, and with the tap's one-line settings.
SDK_FLOORS: dict[str, list[str]] = {
    "sdk template, no reader": [],
    "sdk tuned, no reader": ["--tuned"],
}
SELECTIONS: dict[str, set[str]] = {
    "tap: task_events": {"task_events"},
    "tap: task_events + tasks": {"task_events", "tasks"},
}


@dataclass(frozen=True)
class EventsRow:
    events: int
    run: str
    measured: Measured
    floor: Measured  # the floor's median run on the same log

    @property
    def events_per_second(self) -> float:
        return self.events / self.measured.seconds

    @property
    def ratio_to_floor(self) -> float:
        return self.measured.seconds / self.floor.seconds

    @property
    def cpu_ratio_to_floor(self) -> float:
        return self.measured.cpu_seconds / self.floor.cpu_seconds


def measure(sizes: t.Sequence[int], repeats: int, seed: int = 7) -> list[EventsRow]:
    """Median of ``repeats`` runs of the floor and of each selection, per log size."""
    rows: list[EventsRow] = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        # The catalog depends on which settings are present, not on the server: discover once.
        placeholder = {"api_key": "discover", "api_url": "http://127.0.0.1:9/"}
        placeholder_path = write_json(folder / "discover.json", placeholder)
        catalogs = {
            run: catalog_selecting(s, placeholder_path, folder) for run, s in SELECTIONS.items()
        }
        for size in sizes:
            args = ["--events", str(size), "--seed", str(seed), "--page-size", str(PAGE_SIZE)]
            args += ["--daily-quota", "0", "--plan-projects", "0"]
            with simulator_process(*args) as sim:
                config = {"api_key": sim["api_key"], "api_url": sim["events_url"]}
                config_path = write_json(folder / "config.json", {**config, "page_size": PAGE_SIZE})
                log = [sim["events_url"], sim["api_key"], str(PAGE_SIZE)]
                commands = {FLOOR_RUN: [*FLOOR, *log]}
                commands |= {run: [*SDK_FLOOR, *log, *flag] for run, flag in SDK_FLOORS.items()}
                for run, catalog in catalogs.items():
                    commands[run] = [*TAP, "--config", config_path, "--catalog", catalog]
                if size == sizes[0] and repeats > 1:  # a quick look (one run) goes without
                    for command in commands.values():  # warm-up: bytecode written, caches warm
                        run_child(command)
                runs: dict[str, list[Measured]] = {run: [] for run in commands}
                for _ in range(repeats):  # interleaved, so a slow spell of the machine hits all
                    for run, command in commands.items():
                        runs[run].append(run_child(command))
            medians = {run: median_of(measured) for run, measured in runs.items()}
            floor = medians[FLOOR_RUN]
            rows += [EventsRow(size, run, m, floor) for run, m in medians.items()]
    return rows


def table(rows: list[EventsRow]) -> str:
    lines = [
        f"{'events':>8}  {'run':<26} {'records':>8} {'seconds':>8} {'events/s':>9} "
        f"{'x floor':>8} {'CPU s':>7} {'x floor':>8} {'peak RSS':>10}"
    ]
    for row in rows:
        m = row.measured
        lines.append(
            f"{row.events:>8}  {row.run:<26} {m.records:>8} {m.seconds:>8.2f} "
            f"{row.events_per_second:>9.0f} {row.ratio_to_floor:>7.2f}x {m.cpu_seconds:>7.2f} "
            f"{row.cpu_ratio_to_floor:>7.2f}x {m.peak_rss_mib:>6.1f} MiB"
        )
    sizes = sorted({row.events for row in rows})
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        lines.append(f"peak RSS at {large} events / at {small} events (flat = 1.00):")
        for run in [FLOOR_RUN, *SDK_FLOORS, *SELECTIONS]:
            at = {row.events: row.measured.peak_rss_mib for row in rows if row.run == run}
            lines.append(f"  {run:<26} {at[large] / at[small]:.2f}")
    return "\n".join(lines)
