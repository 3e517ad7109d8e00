"""Peak memory and throughput of published plans on one large (about 32 MB) document.

The tap streams the document one version at a time, so its peak RSS over its own idle (the tap on
a tiny document) should stay a fraction of the document. Two references: Python with requests
idle, and a plain `requests.get(url).json()` of the same document (what reading it whole costs).
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import TAP, Measured, median_of, run_child, simulator_process, write_json

READ_WHOLE = """
import sys, requests
response = requests.get(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
document = response.json()
print(len(response.content))
"""
LARGE_PLAN_TASKS = 12_000  # tasks per version: five versions make a document just under 32 MiB


@dataclass(frozen=True)
class PlansFigures:
    document_bytes: int
    idle: Measured  # python + requests, nothing else
    tap_tiny: Measured
    tap_large: Measured
    read_whole: Measured

    @property
    def growth_mib(self) -> float:
        return self.tap_large.peak_rss_mib - self.tap_tiny.peak_rss_mib

    @property
    def growth_to_document(self) -> float:
        return self.growth_mib * 2**20 / self.document_bytes

    @property
    def records_per_second(self) -> float:
        return self.tap_large.records / self.tap_large.seconds

    @property
    def records_per_cpu_second(self) -> float:
        return self.tap_large.records / self.tap_large.cpu_seconds


def measure(plan_tasks: int, repeats: int) -> PlansFigures:
    tiny_args = ["--events", "0", "--plan-projects", "1", "--plan-tasks", "10"]
    large_args = ["--events", "0", "--plan-projects", "1", "--plan-tasks", str(plan_tasks)]
    with (
        tempfile.TemporaryDirectory() as name,
        simulator_process(*tiny_args) as tiny,
        simulator_process(*large_args) as large,
    ):
        project = large["projects"][0]
        tiny_config = write_json(Path(name, "tiny.json"), {"projects": tiny["projects"]})
        large_config = write_json(Path(name, "large.json"), {"projects": large["projects"]})
        idle = run_child([sys.executable, "-c", "import requests"])
        tap_tiny = run_child([*TAP, "--config", tiny_config])
        tap_large = median_of([run_child([*TAP, "--config", large_config]) for _ in range(repeats)])
        whole = run_child([sys.executable, "-c", READ_WHOLE, project["url"], project["token"]])
    size = int(whole.tail.strip().splitlines()[-1])
    return PlansFigures(size, idle, tap_tiny, tap_large, whole)


def table(figures: PlansFigures) -> str:
    f = figures
    return "\n".join(
        [
            f"published plans: one document of {f.document_bytes / 2**20:.1f} MiB",
            f"  python + requests, idle          peak RSS {f.idle.peak_rss_mib:7.1f} MiB",
            f"  requests .json() of the document peak RSS {f.read_whole.peak_rss_mib:7.1f} MiB",
            f"  tap, tiny document               peak RSS {f.tap_tiny.peak_rss_mib:7.1f} MiB",
            f"  tap, the document                peak RSS {f.tap_large.peak_rss_mib:7.1f} MiB",
            f"  tap's growth over its idle       {f.growth_mib:7.1f} MiB = "
            f"{f.growth_to_document:.2f}x the document (goal <= 1.5x)",
            f"  tap throughput                   {f.tap_large.records} records in "
            f"{f.tap_large.seconds:.1f} s = {f.records_per_second:.0f} records/s "
            f"({f.tap_large.cpu_seconds:.1f} CPU s = {f.records_per_cpu_second:.0f} per CPU s)",
        ]
    )
