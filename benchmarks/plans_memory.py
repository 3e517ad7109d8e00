"""Peak memory of a published-plans run on a ~32 MB document, against two references.

    uv run python -m benchmarks.plans_memory

Prints the document size and peak RSS figures: the tap on a tiny document (its baseline) and on the
32 MB document; Python with requests idle, and a plain `requests.get(url).json()` of the same
document (what reading it whole costs). The tap streams the document one version at a time.
"""

from __future__ import annotations

import sys

from benchmarks.common import TAP, run_child, simulator_process

READ_WHOLE = """
import sys, requests
response = requests.get(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
document = response.json()
print(len(response.content))
"""


def main() -> None:
    tiny_args = ["--events", "0", "--plan-projects", "1", "--plan-tasks", "10"]
    large_args = ["--events", "0", "--plan-projects", "1", "--plan-tasks", "12000"]
    with simulator_process(*tiny_args) as tiny, simulator_process(*large_args) as large:
        project = large["projects"][0]
        bare = run_child([sys.executable, "-c", "import requests"])
        baseline = run_child(TAP, {"projects": tiny["projects"]})
        streamed = run_child(TAP, {"projects": large["projects"]})
        whole = run_child([sys.executable, "-c", READ_WHOLE, project["url"], project["token"]])
        size = int(whole.stdout_text.strip().splitlines()[-1])

    print(f"document: {size / 2**20:.1f} MiB, 5 published versions")
    print(f"tap, tiny document:           peak RSS {baseline.peak_rss_mib:7.1f} MiB")
    print(
        f"tap, 32 MB document:          peak RSS {streamed.peak_rss_mib:7.1f} MiB "
        f"({streamed.records} records in {streamed.seconds:.1f} s, exit {streamed.returncode})"
    )
    print(f"python + requests, idle:      peak RSS {bare.peak_rss_mib:7.1f} MiB")
    print(f"requests .json() of the same: peak RSS {whole.peak_rss_mib:7.1f} MiB")
    growth = streamed.peak_rss_mib - baseline.peak_rss_mib
    print(f"growth for the 32 MB document: tap {growth:.1f} MiB,")
    print(f"  reading it whole {whole.peak_rss_mib - bare.peak_rss_mib:.1f} MiB")


if __name__ == "__main__":
    main()
