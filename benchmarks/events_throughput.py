"""How fast the tap reads a full day's quota of task events, with and without `tasks`.

    uv run python -m benchmarks.events_throughput

Runs the real `tap-aphex` command against the simulator (20,000 events in pages of 4,000) and
prints wall time, events per second and peak RSS for each selection.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from benchmarks.common import TAP, run_child, simulator_process

EVENTS = 20_000


def catalog_with(selected: set[str], config: dict[str, object], folder: str) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=folder, delete=False) as file:
        json.dump(config, file)
    discovered = subprocess.run(
        [*TAP, "--config", file.name, "--discover"], capture_output=True, check=True, text=True
    ).stdout
    catalog = json.loads(discovered)
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in selected
    path = Path(folder, "catalog.json")
    path.write_text(json.dumps(catalog))
    return str(path)


def main() -> None:
    args = ["--events", str(EVENTS), "--daily-quota", "0", "--plan-projects", "0"]
    with simulator_process(*args) as sim, tempfile.TemporaryDirectory() as folder:
        config = {"api_key": sim["api_key"], "api_url": sim["events_url"]}
        for selection in ({"task_events"}, {"tasks"}, {"task_events", "tasks"}):
            catalog = catalog_with(selection, config, folder)
            run = run_child([*TAP, "--catalog", catalog], config)
            print(
                f"{' + '.join(sorted(selection)):<20} {run.records:>6} records  "
                f"{run.seconds:5.1f} s  {EVENTS / run.seconds:7.0f} events/s  "
                f"peak RSS {run.peak_rss_mib:5.1f} MiB  exit {run.returncode}"
            )


if __name__ == "__main__":
    main()
