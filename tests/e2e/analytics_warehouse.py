"""Where transform/'s models run in the end-to-end tests: DuckDB or PostgreSQL, through Meltano's
dbt-duckdb / dbt-postgres utilities (meltano.yml), with dbt's own files kept in the test's folder.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
import tempfile
import typing as t
from dataclasses import dataclass
from pathlib import Path

import duckdb
import psycopg
import yaml

from .landing import DuckdbLanding, PostgresLanding, SqlLanding
from .meltano_project import ROOT, Meltano
from .postgres import PostgresServer

TRANSFORM = ROOT / "transform"
MODELS_SCHEMA = "aphex_analytics"  # the utilities' `schema` setting (meltano.yml)
UTILITIES = ("dbt-duckdb", "dbt-postgres")
_INSTALL_TIMEOUT_SECONDS = 900


def install_dbt_utilities(meltano: Meltano) -> None:
    """Meltano's dbt utilities in `.meltano/` (reused from earlier runs); only these tests and
    the demo install them, so the rest of the suite never waits for dbt."""
    lock_path = ROOT / ".meltano" / "e2e-install.lock"
    lock_path.parent.mkdir(exist_ok=True)
    with lock_path.open("w") as lock:  # another test session may be installing right now
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            meltano(
                "install", "--plugin-type", "utility", *UTILITIES,
                timeout=_INSTALL_TIMEOUT_SECONDS,
            )  # fmt: skip
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def tap_streams() -> set[str]:
    """The streams `tap-aphex --discover` offers with a Data API key and a (no) project."""
    tap = Path(sys.executable).with_name("tap-aphex")
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder, "config.json")
        config.write_text(json.dumps({"api_key": "discover-only"}), encoding="utf-8")
        result = subprocess.run(
            [str(tap), "--discover", "--config", str(config)],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
    return {stream["tap_stream_id"] for stream in json.loads(result.stdout)["streams"]}


@dataclass
class Warehouse:
    """A loader's landing plus the dbt utility that reads and writes the same database."""

    landing: SqlLanding
    utility: str
    dbt_env: dict[str, str]

    @property
    def loader(self) -> str:
        return self.landing.loader

    @property
    def name(self) -> str:
        return self.utility.removeprefix("dbt-")

    def settings(self, dbt_folder: Path) -> dict[str, str]:
        """The loader's and dbt's settings; dbt's target/ and logs/ in the test's own folder."""
        return {
            **self.landing.settings,
            **self.dbt_env,
            "DBT_TARGET_PATH": str(dbt_folder / "target"),
            "DBT_LOG_PATH": str(dbt_folder / "logs"),
        }

    def models(self, sql: str) -> list[dict[str, t.Any]]:
        return self.landing.query(sql.replace("{models}", MODELS_SCHEMA))


def duckdb_warehouse(path: Path) -> Warehouse:
    return Warehouse(DuckdbLanding(path), "dbt-duckdb", {"DBT_DUCKDB_PATH": str(path)})


def postgres_warehouse(server: PostgresServer, database: str) -> Warehouse:
    env = {
        "DBT_POSTGRES_HOST": server.host,
        "DBT_POSTGRES_PORT": str(server.port),
        "DBT_POSTGRES_USER": "postgres",
        "DBT_POSTGRES_DBNAME": server.create_database(database),
    }
    return Warehouse(PostgresLanding(server.url(database)), "dbt-postgres", env)


def run_results(dbt_folder: Path) -> list[dict[str, t.Any]]:
    data = json.loads((dbt_folder / "target" / "run_results.json").read_text(encoding="utf-8"))
    return list(data["results"])


def manifest(dbt_folder: Path) -> dict[str, t.Any]:
    return dict(json.loads((dbt_folder / "target" / "manifest.json").read_text(encoding="utf-8")))


# The columns transform/ reads of each stream, in the tap's names, by kind; enough to create
# empty source tables where the models and their unit tests can run without a load.
SOURCE_COLUMNS: dict[str, dict[str, str]] = {
    "task_events": {
        "eventId": "text", "type": "text", "apiVersion": "text", "createdAt": "time",
        "task": "json", "undocumented": "json",
    },
    "tasks": {
        "id": "text", "projectId": "text", "projectName": "text", "projectExternalId": "text",
        "name": "text", "externalId": "text", "parentId": "text", "packageId": "text",
        "calendar": "text", "duration": "number", "start": "time", "end": "time",
        "shift": "text", "location": "text", "wbsPath": "text", "subcontractor": "text",
        "ownerName": "text", "ownerEmail": "text", "eventId": "text", "eventType": "text",
        "eventCreatedAt": "time", "_sdc_deleted_at": "time",
    },
    "task_statuses": {
        "taskId": "text", "statusKey": "text", "projectId": "text", "date": "time",
        "type": "text", "name": "text", "category": "text", "value": "number",
        "addedBy": "text", "createdAt": "time", "undocumented": "json", "eventId": "text",
        "eventCreatedAt": "time",
    },
    "published_plans": {
        "accountId": "text", "publishedPlanId": "text", "version": "integer", "name": "text",
        "publishedAt": "time", "publishedBy": "text", "comment": "text", "project": "json",
    },
    "published_plan_tasks": {
        "accountId": "text", "publishedPlanId": "text", "rowNumber": "integer",
        "version": "integer", "publishedAt": "time", "taskId": "text", "name": "text",
        "start": "time", "end": "time", "duration": "number", "shift": "text",
        "ownerName": "text", "subcontractor": "text", "wbsPath": "text", "packageCode": "text",
        "keyTask": "boolean", "status": "text",
    },
    "published_plan_statuses": {
        "accountId": "text", "publishedPlanId": "text", "rowNumber": "integer",
        "version": "integer", "publishedAt": "time", "taskId": "text", "date": "time",
        "type": "text", "name": "text", "category": "text", "value": "number",
        "addedBy": "text", "createdAt": "time",
    },
}  # fmt: skip
_TYPES = {
    "duckdb": {"text": "VARCHAR", "time": "TIMESTAMP", "number": "DOUBLE", "integer": "BIGINT",
               "json": "JSON", "boolean": "BOOLEAN"},
    "postgres": {"text": "TEXT", "time": "TIMESTAMP", "number": "DOUBLE PRECISION",
                 "integer": "BIGINT", "json": "JSONB", "boolean": "BOOLEAN"},
}  # fmt: skip


def empty_source_tables(dialect: str) -> list[str]:
    """DDL for empty `aphex.<stream>` tables with the columns the models read."""
    statements = ["CREATE SCHEMA IF NOT EXISTS aphex"]
    for stream, columns in SOURCE_COLUMNS.items():
        listed = ", ".join(f'"{name}" {_TYPES[dialect][kind]}' for name, kind in columns.items())
        statements.append(f"CREATE TABLE aphex.{stream} ({listed})")
    return statements


def create_empty_sources(warehouse: Warehouse) -> None:
    statements = empty_source_tables(warehouse.name)
    if isinstance(warehouse.landing, DuckdbLanding):
        with duckdb.connect(str(warehouse.landing.path)) as connection:
            for statement in statements:
                connection.execute(statement)
    else:
        assert isinstance(warehouse.landing, PostgresLanding)
        with psycopg.connect(warehouse.landing.url, autocommit=True) as connection:
            for statement in statements:
                connection.execute(statement)  # our own constant DDL


def unit_test_expectations(
    file: str = "_aphex__ppc_unit_tests.yml",
) -> dict[str, list[dict[str, t.Any]]]:
    """Each unit test's expected rows, as transform/ declares them in ``file`` (by default the
    vendor's PPC examples); ``file`` "*" for every unit test of the project."""
    found: dict[str, list[dict[str, t.Any]]] = {}
    for path in sorted((TRANSFORM / "models").rglob("_*unit_tests.yml" if file == "*" else file)):
        declared = yaml.safe_load(path.read_text(encoding="utf-8"))["unit_tests"]
        found |= {test["name"]: test["expect"]["rows"] for test in declared}
    return found
