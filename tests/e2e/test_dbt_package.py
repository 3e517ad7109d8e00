"""transform/ as a dbt package, reused from a Meltano project of a user's own: the recipe of
docs/analytics.md ("Reuse"), run by bash as written in a fresh `meltano init` project (only the
clone's path filled in), against a DuckDB file where the loader's tables are (empty: the recipe is
about packaging, test_analytics.py checks the numbers). Also: the plugin definitions the recipe
adds are the ones meltano.yml runs."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import duckdb
import meltano_runner
import pytest
import yaml

from .analytics_warehouse import (
    MODELS_SCHEMA,
    TRANSFORM,
    create_empty_sources,
    duckdb_warehouse,
    run_results,
    unit_test_expectations,
)
from .meltano_project import ROOT, Meltano, meltano_environment

pytestmark = pytest.mark.e2e

DOC = ROOT / "docs" / "analytics.md"
_TIMEOUT_SECONDS = 900


def documented_recipe() -> list[str]:
    """The lines of docs/analytics.md's reuse recipe (its fenced bash block)."""
    text = DOC.read_text(encoding="utf-8")
    block = text.split("<!-- reuse-recipe: start -->", 1)[1].split("<!-- reuse-recipe: end -->")[0]
    lines = block.strip().removeprefix("```bash").removesuffix("```").strip().splitlines()
    assert lines[0] == "APHEX_CLONE=/path/to/tap-aphex", lines[0]
    return lines


def test_the_utility_definitions_for_users_are_meltano_ymls() -> None:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    for plugin in project["plugins"]["utilities"]:
        published = TRANSFORM / "meltano" / f"{plugin['name']}.yml"
        assert yaml.safe_load(published.read_text(encoding="utf-8")) == plugin, published


def test_the_documented_recipe_builds_the_package_in_a_fresh_meltano_project(
    tmp_path: Path,
) -> None:
    env = meltano_environment(tmp_path / "unused.db")
    for name in ("DO_NOT_TRACK", "DBT_SEND_ANONYMOUS_USAGE_STATS"):  # the recipe's flag decides
        env.pop(name, None)
    del env["MELTANO_DATABASE_URI"]  # the project's own .meltano/meltano.db, as users have
    Meltano(env, cwd=tmp_path, env_file=None)("init", "project", "--no_usage_stats")
    project = tmp_path / "project"
    database = project / "output" / "warehouse.duckdb"
    database.parent.mkdir(exist_ok=True)  # `meltano init` makes output/
    warehouse = duckdb_warehouse(database)
    create_empty_sources(warehouse)  # what target-duckdb would have created

    lines = documented_recipe()
    lines[0] = f"APHEX_CLONE={ROOT}"
    meltano_folder = Path(meltano_runner.meltano_executable()).parent
    script = "set -euo pipefail\n" + "\n".join(lines) + "\n"
    result = subprocess.run(
        ["bash", "-c", script], cwd=project, capture_output=True, text=True,
        env=env | {"PATH": f"{meltano_folder}{os.pathsep}{env['PATH']}"},
        timeout=_TIMEOUT_SECONDS, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"{script}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"

    results = run_results(project / "transform")  # dbt_project_dir/target
    assert {r["status"] for r in results} <= {"success", "pass"}
    unit_tests = len(unit_test_expectations("*"))
    assert sum(r["unique_id"].startswith("unit_test.aphex.") for r in results) == unit_tests
    # The recipe's dbt_project.yml keeps dbt from sending usage data, as ours does.
    assert "Sending event" not in (project / "transform" / "logs" / "dbt.log").read_text()
    assert not (project / "transform" / "profiles" / "duckdb" / ".user.yml").exists()
    with duckdb.connect(str(database), read_only=True) as connection:
        tables = {
            name for (name,) in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                [MODELS_SCHEMA],
            ).fetchall()
        }  # fmt: skip
    assert {"aphex_ppc", "aphex_delays", "aphex_tasks_current", "aphex_plan_changes"} <= tables
    assert re.search(r"aphex", (project / "transform" / "package-lock.yml").read_text())
