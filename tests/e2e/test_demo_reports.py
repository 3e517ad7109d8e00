"""./demo's last step (scripts/demo.py, `reports`): transform/'s models through Meltano's
dbt-duckdb utility, then PPC per project and delays by category as text and as a PNG chart next
to the DuckDB file. Skips while tap-aphex offers no task_statuses stream (the models read it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .analytics_warehouse import tap_streams
from .landing import DuckdbLanding
from .test_demo import run_demo

pytestmark = pytest.mark.e2e

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_the_demo_ends_with_ppc_and_delays_per_project_and_a_chart(
    meltano_plugins: None, tmp_path: Path
) -> None:
    if "task_statuses" not in tap_streams():
        pytest.skip("tap-aphex --discover offers no task_statuses stream yet (issue 21, item 1)")
    output = tmp_path / "output"

    printed = run_demo(output, tmp_path / "meltano.db")

    reports = printed.split("==> 6.")[1]
    assert "dbt built 11 models" in reports
    assert "2 unit tests (the vendor's two PPC examples give 66% each)" in reports
    assert "PPC by task-day" in reports
    assert "PPC by task " in reports
    warehouse = DuckdbLanding(output / "demo.duckdb")
    projects = {
        row["project_name"]
        for row in warehouse.query("SELECT project_name FROM aphex_analytics.aphex_ppc")
    }
    assert projects, "the demo's data should give PPC for at least one week"
    for project in projects:  # each project has its PPC line and its delays line
        assert len(re.findall(rf"│ {re.escape(project)} ", reports)) >= 2, project
    chart = output / "demo-reports.png"
    assert f"The same as a chart: {chart}" in reports
    assert chart.read_bytes().startswith(PNG_SIGNATURE)
    assert not re.search(r"\d\.0\b", reports)  # 275, not 275.0
