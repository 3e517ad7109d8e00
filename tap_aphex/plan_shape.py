"""The Published Plans document, read one published version at a time.

The vendor's data model could not be read, so the shape below is ASSUMED (see README, "What is
assumed"). Meeting the real document should be a change to this module alone:

    {"project": {...},
     "publishedPlans": [{"id", "version", "name", "publishedAt", "publishedBy", "comment",
                         "tasks": [{"taskId", ...}], "statuses": [{"taskId", ...}]}, ...]}

Nothing is dropped: fields we do not expect stay on the version record under ``undocumented``
(tables we do not know included, whole), and on each row under ``undocumented``.
"""

from __future__ import annotations

import logging
import typing as t
from dataclasses import dataclass, field

import ijson  # streams the document: a 32 MB response never sits in memory whole

from tap_aphex.errors import UnexpectedResponseError
from tap_aphex.timestamps import epoch_ms_to_rfc3339

VERSIONS_KEY = "publishedPlans"
VERSION_FIELDS = ("id", "version", "name", "publishedAt", "publishedBy", "comment")
TASK_FIELDS = (
    "taskId",
    "name",
    "start",
    "end",
    "duration",
    "shift",
    "ownerName",
    "ownerEmail",
    "subcontractor",
    "wbsPath",
    "wbsName",
    "externalId",
    "packageCode",
    "packageName",
    "keyTask",
    "status",
    "notes",
)
STATUS_FIELDS = ("taskId", "date", "type", "name", "category", "value", "addedBy", "createdAt")
#: The tables a version holds, each landing in a stream of its own, with the fields we expect.
TABLES: dict[str, tuple[str, ...]] = {"tasks": TASK_FIELDS, "statuses": STATUS_FIELDS}
TIME_FIELDS = frozenset({"publishedAt", "start", "end", "date", "createdAt"})

Row = dict[str, t.Any]

logger = logging.getLogger(__name__)


@dataclass
class PublishedVersion:
    """One published version: its `published_plans` record and the rows of each of its tables."""

    record: Row
    _raw_tables: dict[str, list[Row]] = field(default_factory=dict)

    def rows(self, table: str) -> t.Iterator[Row]:
        """The table's rows as records, converted one at a time (no second copy of the table)."""
        keys = {key: self.record[key] for key in ("publishedPlanId", "version", "publishedAt")}
        for number, row in enumerate(self._raw_tables.get(table, []), start=1):
            yield _row(row, TABLES[table], {**keys, "rowNumber": number})


def read_versions(body: t.IO[bytes]) -> t.Iterator[PublishedVersion]:
    """Yield each published version of the document as it is read from ``body``."""
    document: Row = {}  # the members beside the versions, e.g. "project"
    saw_versions = False
    after_versions: list[str] = []
    try:
        for key, value in _top_level_items(body):
            if key == VERSIONS_KEY:
                saw_versions = True
                yield _version(value, document)
                value = None  # let this version go before the next one is read
            else:
                document[key] = value
                if saw_versions:
                    after_versions.append(key)
    except ijson.JSONError as error:
        msg = f"the published-plans document is not valid JSON ({error})"
        raise UnexpectedResponseError(msg) from error
    if after_versions:
        # Streaming: the versions went out before these arrived. Say so rather than drop quietly.
        logger.warning(
            "The published-plans document has %s after %r; the versions already emitted do not "
            "carry them (plan_shape.py assumes they come first).",
            ", ".join(repr(key) for key in after_versions),
            VERSIONS_KEY,
        )
    if not saw_versions:
        msg = f'the published-plans document has no "{VERSIONS_KEY}" list (shape assumed in README)'
        raise UnexpectedResponseError(msg)


def _top_level_items(body: t.IO[bytes]) -> t.Iterator[tuple[str, t.Any]]:
    """(key, value) for each top-level member; the versions list comes item by item."""
    versions_item = f"{VERSIONS_KEY}.item"
    builder: ijson.ObjectBuilder | None = None
    building = ""
    for prefix, event, value in ijson.parse(body, use_float=True):
        if builder is None:
            if prefix == versions_item and event in ("start_map", "start_array"):
                builder, building = ijson.ObjectBuilder(), versions_item
            elif prefix and "." not in prefix and prefix != VERSIONS_KEY:
                if event in ("start_map", "start_array"):
                    builder, building = ijson.ObjectBuilder(), prefix
                elif event not in ("map_key", "end_map", "end_array"):
                    yield prefix, value  # a scalar member
                    continue
            if builder is None:
                continue
        builder.event(event, value)
        if prefix == building and event in ("end_map", "end_array"):
            yield (VERSIONS_KEY if building == versions_item else building), builder.value
            builder = None


def _version(value: object, document: Row) -> PublishedVersion:
    if not isinstance(value, dict) or not isinstance(value.get("id"), (str, int)):
        msg = f"a published version has no id: {str(value)[:200]}"
        raise UnexpectedResponseError(msg)
    version_id = str(value["id"])
    record: Row = {key: _converted(key, value.get(key)) for key in VERSION_FIELDS}
    record["publishedPlanId"] = version_id
    del record["id"]
    record["project"] = document.get("project")
    undocumented = {
        key: item for key, item in value.items() if key not in VERSION_FIELDS and key not in TABLES
    }
    if beside := {key: item for key, item in document.items() if key != "project"}:
        undocumented["document"] = beside
    record["undocumented"] = undocumented or None
    tables = {table: value.get(table) or [] for table in TABLES}
    for table, rows in tables.items():
        if not isinstance(rows, list):
            msg = f"version {version_id}: {table!r} is not a list"
            raise UnexpectedResponseError(msg)
    record["rowCounts"] = {table: len(rows) for table, rows in tables.items()}
    return PublishedVersion(record, tables)


def _row(row: object, expected: tuple[str, ...], keys: Row) -> Row:
    if not isinstance(row, dict):
        msg = f"a table row is not an object: {str(row)[:200]}"
        raise UnexpectedResponseError(msg)
    documented = {key: _converted(key, row.get(key)) for key in expected}
    undocumented = {key: value for key, value in row.items() if key not in expected}
    return {**keys, **documented, "undocumented": undocumented or None}


def _converted(key: str, value: object) -> object:
    if key not in TIME_FIELDS:
        return value
    try:
        return epoch_ms_to_rfc3339(value)
    except ValueError as error:
        msg = f"published plans: {key}: {error}"
        raise UnexpectedResponseError(msg) from error
