"""Any Singer target: the tap through meltanolabs-target-csv, with the SDK's schema flattening on.

A flat-file target takes the columns the SCHEMA names and nothing else, so this proves that the
flattened SCHEMA and the flattened records agree for every stream, and that every row lands as the
simulator has it: events in the log's order, tasks (deletions included, kept by the target's
record metadata) equal to the simulator's current tasks, every published version with its tasks
and statuses.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest
from aphex_simulator import Simulator

from .flat_files import CsvLanding
from .landing import epoch_ms
from .meltano_project import Meltano
from .truth import landing_differences, whole_history

pytestmark = pytest.mark.e2e

FLATTENING = {
    "TAP_APHEX_FLATTENING_ENABLED": "true",
    "TAP_APHEX_FLATTENING_MAX_DEPTH": "3",
}


def plan_rows(simulator: Simulator, table: str, fields: tuple[str, ...]) -> list[tuple[t.Any, ...]]:
    """(accountId, publishedPlanId, *fields) of every row of `table` in every served version."""
    rows = []
    for project in simulator.plan_projects:
        for version in whole_history(simulator, project.account_id):
            for row in version[table]:
                rows.append((project.account_id, version["id"], *(row[f] for f in fields)))
    return sorted(rows)


def landed_rows(
    landing: CsvLanding, stream: str, fields: tuple[str, ...]
) -> list[tuple[t.Any, ...]]:
    return sorted(
        (row["accountId"], row["publishedPlanId"], *(row[f] for f in fields))
        for row in landing.rows(stream)
    )


@pytest.fixture
def landing(meltano: Meltano, simulator: Simulator, tmp_path: Path) -> CsvLanding:
    landing = CsvLanding(tmp_path / "csv")
    meltano.env.update(landing.settings, **FLATTENING)
    meltano("run", "tap-aphex", "target-csv")
    return landing


def test_every_stream_lands_in_its_csv_file_as_the_simulator_has_it(
    landing: CsvLanding, simulator: Simulator
) -> None:
    assert landing_differences(landing, simulator) == []

    events = simulator.event_log.events
    landed_events = landing.rows("task_events")
    assert [(r["type"], r["task__id"]) for r in landed_events] == [
        (e["type"], e["task"]["id"]) for e in events
    ]
    assert [epoch_ms(r["createdAt"]) for r in landed_events] == [e["createdAt"] for e in events]
    assert any(row["_sdc_deleted_at"] for row in landing.rows("tasks")), "no deletion landed"

    task_fields = ("taskId", "name", "status")
    assert landed_rows(landing, "published_plan_tasks", task_fields) == plan_rows(
        simulator, "tasks", task_fields
    )
    status_fields = ("taskId", "type", "name")
    assert landed_rows(landing, "published_plan_statuses", status_fields) == plan_rows(
        simulator, "statuses", status_fields
    )
