"""What a loader landed, read back as its user would, and compared with the simulator's truth.

Each target stores the same records its own way: JSON Lines appended as they came; DuckDB and
PostgreSQL upserted on the stream's key into tables of the `aphex` schema, with their own column
types (DuckDB lower-cases names and keeps objects as JSON text; PostgreSQL keeps names and uses
jsonb and arrays). `canonical_task` brings a task from any of them, or from the simulator, to one
comparable form.
"""

from __future__ import annotations

import abc
import datetime as dt
import json
import typing as t
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path

import duckdb
import psycopg
from harness import replay_tasks
from meltano_runner import SCHEMA
from psycopg.rows import dict_row

_TIME_FIELDS = frozenset({"start", "end"})
_STATUS_TIME_FIELDS = frozenset({"date", "createdAt"})
_JSON_FIELDS = frozenset(
    {"labourResources", "materialResources", "plantResources", "statuses", "successors"}
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

Row = dict[str, t.Any]

# What a user adds to read current tasks (docs/deletions.md): the targets keep a deleted task's row,
# marked with `_sdc_deleted_at` (target-postgres' `hard_delete` acts only on ACTIVATE_VERSION, which
# the tap never sends).
CURRENT_TASKS_FILTER = "_sdc_deleted_at IS NULL"


def epoch_ms(value: object) -> object:
    """A time as epoch milliseconds, whether it came as such, as RFC 3339 text or as a datetime."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:  # the warehouses store UTC without a zone
            value = value.replace(tzinfo=dt.timezone.utc)
        return (value - _EPOCH) // dt.timedelta(milliseconds=1)
    return value


def _plain(value: object) -> object:
    """Numbers as floats whatever the store made of them (DOUBLE, numeric), recursively."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def canonical_task(row: Mapping[str, t.Any], fields: Iterable[str]) -> Row:
    """The task's `fields` (the vendor's names, matched case-insensitively), in one comparable form:
    times as epoch milliseconds, JSON text decoded, numbers as floats."""
    by_name = {name.lower(): value for name, value in row.items()}
    task: Row = {}
    for field in fields:
        value = by_name.get(field.lower())
        if field in _JSON_FIELDS and isinstance(value, str):
            value = json.loads(value)
        if field in _TIME_FIELDS:
            value = epoch_ms(value)
        if field == "statuses" and isinstance(value, list):
            value = [
                {key: epoch_ms(v) if key in _STATUS_TIME_FIELDS else v for key, v in status.items()}
                for status in value
            ]
        task[field] = _plain(value)
    return task


def _empty_text_as_null(task: Row) -> Row:
    return {field: None if value == "" else value for field, value in task.items()}


def expected_tasks(
    truth: Mapping[str, Mapping[str, t.Any]], *, empty_text_as_null: bool = False
) -> dict[str, Row]:
    """The simulator's current tasks in the canonical form (as a `Landing` would hold them)."""
    expected = {task_id: canonical_task(task, task.keys()) for task_id, task in truth.items()}
    if empty_text_as_null:
        expected = {task_id: _empty_text_as_null(task) for task_id, task in expected.items()}
    return expected


def landed_tasks(
    rows: Iterable[Mapping[str, t.Any]], truth: Mapping[str, Mapping[str, t.Any]]
) -> dict[str, Row]:
    """Landed task rows in the canonical form, each with the fields its true counterpart has."""
    landed: dict[str, Row] = {}
    for row in rows:
        task_id = str(row["id"])
        fields = truth[task_id].keys() if task_id in truth else ["id"]
        landed[task_id] = canonical_task(row, fields)
    return landed


class Landing(abc.ABC):
    """Where one loader puts the data, and how to read it back."""

    loader: t.ClassVar[str]
    # Whether an empty text in a column lands as NULL (a target's own choice).
    empty_text_as_null: t.ClassVar[bool] = False

    @property
    @abc.abstractmethod
    def settings(self) -> dict[str, str]:
        """Environment variables that point the loader here (Meltano's per-setting ones)."""

    @abc.abstractmethod
    def event_ids(self) -> list[str]:
        """The eventId of every task_events row, as many times as it landed."""

    @abc.abstractmethod
    def task_rows(self) -> list[Row]:
        """The tasks table as it landed, unfiltered: one row per task ever seen, deleted or not."""

    @abc.abstractmethod
    def current_tasks(self) -> list[Row]:
        """The tasks table as a user reads it: with the filter on `_sdc_deleted_at` applied."""

    @abc.abstractmethod
    def published_versions(self) -> list[tuple[str, str]]:
        """(accountId, publishedPlanId) of every published_plans row, as many times as it landed."""

    @abc.abstractmethod
    def row_count(self, stream: str) -> int: ...


class JsonlLanding(Landing):
    """target-jsonl: one `<stream>.jsonl` per stream, every record appended in order."""

    loader = "target-jsonl"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def settings(self) -> dict[str, str]:
        return {"TARGET_JSONL_DESTINATION_PATH": str(self.folder)}

    def records(self, stream: str) -> list[Row]:
        path = self.folder / f"{stream}.jsonl"
        if not path.exists():
            return []
        with path.open(encoding="utf-8") as lines:
            return [json.loads(line) for line in lines if line.strip()]

    def event_ids(self) -> list[str]:
        return [record["eventId"] for record in self.records("task_events")]

    def task_rows(self) -> list[Row]:
        # A file keeps every version of a task: its last record is what an upsert on id would hold.
        return list({str(record["id"]): record for record in self.records("tasks")}.values())

    def current_tasks(self) -> list[Row]:
        # Replayed in order, as a user's load would, deletions applied.
        return list(replay_tasks(self.records("tasks")).values())

    def published_versions(self) -> list[tuple[str, str]]:
        return [(r["accountId"], r["publishedPlanId"]) for r in self.records("published_plans")]

    def row_count(self, stream: str) -> int:
        return len(self.records(stream))


class SqlLanding(Landing):
    """A warehouse: one table per stream, upserted on the stream's key."""

    @abc.abstractmethod
    def query(self, sql: str) -> list[Row]: ...

    # Quoted camelCase names: PostgreSQL keeps them as the stream has them, and DuckDB matches
    # names without regard to case (it stores them lower-cased, hence the aliases).
    def event_ids(self) -> list[str]:
        rows = self.query(f'SELECT "eventId" AS "eventId" FROM {SCHEMA}.task_events')
        return [row["eventId"] for row in rows]

    def task_rows(self) -> list[Row]:
        return self.query(f"SELECT * FROM {SCHEMA}.tasks")

    def current_tasks(self) -> list[Row]:
        return self.query(f"SELECT * FROM {SCHEMA}.tasks WHERE {CURRENT_TASKS_FILTER}")

    def published_versions(self) -> list[tuple[str, str]]:
        rows = self.query(
            'SELECT "accountId" AS "accountId", "publishedPlanId" AS "publishedPlanId" '
            f"FROM {SCHEMA}.published_plans"
        )
        return [(row["accountId"], row["publishedPlanId"]) for row in rows]

    def row_count(self, stream: str) -> int:
        return int(self.query(f"SELECT count(*) AS n FROM {SCHEMA}.{stream}")[0]["n"])


class DuckdbLanding(SqlLanding):
    loader = "target-duckdb"
    empty_text_as_null = True  # pipelinewise's way: a falsy value but 0 is written as NULL

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def settings(self) -> dict[str, str]:
        return {"TARGET_DUCKDB_FILEPATH": str(self.path)}

    def query(self, sql: str) -> list[Row]:
        # Opened per query, read-only: the file is the target's while a run writes it.
        with duckdb.connect(str(self.path), read_only=True) as connection:
            cursor = connection.execute(sql)
            names = [column[0] for column in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class PostgresLanding(SqlLanding):
    loader = "target-postgres"

    def __init__(self, url: str) -> None:
        self.url = url  # postgresql://user@host:port/database

    @property
    def settings(self) -> dict[str, str]:
        # SQLAlchemy's URL, with the psycopg (3) driver that target-postgres installs.
        return {
            "TARGET_POSTGRES_SQLALCHEMY_URL": self.url.replace(
                "postgresql://", "postgresql+psycopg://", 1
            )
        }

    def query(self, sql: str) -> list[Row]:
        with psycopg.connect(self.url, row_factory=dict_row) as connection:
            return list(connection.execute(sql).fetchall())


def differences(
    landed: Mapping[str, Row], expected: Mapping[str, Row], limit: int = 5
) -> list[str]:
    """How two sets of canonical tasks differ, readably: missing, unexpected, differing fields."""
    found = [f"missing task {task_id}" for task_id in sorted(expected.keys() - landed.keys())]
    found += [f"unexpected task {task_id}" for task_id in sorted(landed.keys() - expected.keys())]
    for task_id in sorted(expected.keys() & landed.keys()):
        for field, value in expected[task_id].items():
            if landed[task_id].get(field) != value:
                found.append(
                    f"task {task_id} {field}: landed {landed[task_id].get(field)!r:.150}, "
                    f"expected {value!r:.150}"
                )
    return found[:limit] + ([f"... {len(found) - limit} more"] if len(found) > limit else [])
