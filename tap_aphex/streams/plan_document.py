"""The Published Plans document, read one published version at a time (the wire side of plans).

The vendor's data model could not be read, so the shape below is ASSUMED (see README, "What is
assumed"). Meeting the real document should be a change to this module and the vendor field lists
in `schemas.py` alone:

    {"project": {...},
     "publishedPlans": [{"id", "version", "name", "publishedAt", "publishedBy", "comment",
                         "tasks": [{"taskId", ...}], "statuses": [{"taskId", ...}]}, ...]}

A tolerant reader: nothing is dropped and nothing is guessed.

- A value that does not fit its documented type: the field is null, the value is kept under the
  record's ``undocumented`` (keyed by its name), one WARNING per field per run.
- Fields we do not expect stay under ``undocumented``: the version's, each row's, and the document's
  other members (``undocumented.document``). A list we do not expect on a version is a table the tap
  does not know (``Tasks``, ``taskStatuses``...): kept whole, with a WARNING once per name per run.
- A table that is not a list: kept under the version's ``undocumented``, no rows, a WARNING.
- A row without its key (not an object, or a task without a string ``taskId``) is never sent with
  a null key: it stays on its version, under ``undocumented.unkeyed_rows.<table>``, with a WARNING.
- A version without an id (a string or an integer), or without a readable ``publishedAt``, cannot
  be keyed or placed against the bookmark: it is SKIPPED with a WARNING naming it (the project's
  other versions land). A second version with an id already seen in the same document is skipped
  with a WARNING once per id.
- A version the caller already has (``is_new`` says no: landed in an earlier run) is not typed
  at all, so nothing about it is warned about again; a version skipped as above is warned about
  on the run that first meets it only (the caller keeps what was said in ``said``).
- What is not the document at all (not JSON, cut off, integers beyond 64 bits, no
  ``publishedPlans`` list) raises `UnexpectedResponseError`: that project's failure.
"""

from __future__ import annotations

import datetime as dt
import difflib
import typing as t
from dataclasses import dataclass, field

import ijson

from tap_aphex import schemas
from tap_aphex.decoding import LIST_START, top_level_items
from tap_aphex.reader import Reader, Row, fields_of, json_type
from tap_aphex.report import UnexpectedResponseError
from tap_aphex.schemas import epoch_to_rfc3339, rfc3339_to_datetime

if t.TYPE_CHECKING:
    import logging

VERSIONS_KEY = "publishedPlans"
VERSION_ID = "id"
VERSION_FIELDS = fields_of(schemas.VENDOR_VERSION_FIELDS.to_dict())
TABLE_FIELDS = {
    table: fields_of(fields.to_dict()) for table, fields in schemas.VENDOR_TABLE_FIELDS.items()
}
#: The key of each table's rows, from the schemas (None: the row's position is its key).
TABLE_KEYS = {
    table: next(iter(fields.to_dict().get("required", [])), None)
    for table, fields in schemas.VENDOR_TABLE_FIELDS.items()
}
UNKEYED = "unkeyed_rows"


@dataclass
class PublishedVersion:
    """One published version: its `published_plans` record and its tables' rows, typed lazily."""

    record: Row
    published: dt.datetime
    label: str  # the project, for messages
    reader: Reader = field(repr=False)
    tables: dict[str, list[t.Any]] = field(default_factory=dict, repr=False)  # rows as they came
    unkeyed: dict[str, set[int]] = field(default_factory=dict, repr=False)  # positions kept aside

    @property
    def id(self) -> str:
        return str(self.record["publishedPlanId"])

    def rows(self, table: str) -> t.Iterator[Row]:
        """The table's keyed rows as records, typed one at a time (no second copy of the table)."""
        keys = {key: self.record[key] for key in ("publishedPlanId", "version", "publishedAt")}
        skip = self.unkeyed.get(table, set())
        for number, raw in enumerate(self.tables.get(table, []), start=1):
            if number in skip:
                continue
            subject = f"Project {self.label}, version {self.id}, {table} row {number}"
            row = self.reader.record(raw, TABLE_FIELDS[table], subject)
            yield {**keys, "rowNumber": number, **row}


class DocumentReader:
    """Reads published-plans documents; one per stream, so that warnings are once per run."""

    def __init__(self, logger: logging.Logger) -> None:
        self.reader = Reader(logger)
        self._is_new: t.Callable[[str, dt.datetime], bool] | None = None
        self._said: t.Collection[str] = ()
        self._skipped_now: set[str] = set()

    def versions(
        self,
        body: t.IO[bytes],
        label: str,
        *,
        is_new: t.Callable[[str, dt.datetime], bool] | None = None,
        said: t.Collection[str] = (),
        skipped: set[str] | None = None,
    ) -> t.Iterator[PublishedVersion | None]:
        """Each entry of the document's versions list as it is read from ``body``.

        None stands for an entry that was skipped (and warned about), or that ``is_new`` (id,
        published) says the caller has already; so that the caller still counts every entry the
        API returned against the `limit` it asked for. ``said``: the skipped entries warned about
        in an earlier run (not again); ``skipped`` collects this document's.
        """
        self._is_new, self._said = is_new, said
        self._skipped_now = skipped if skipped is not None else set()
        document: Row = {}  # the members beside the versions, e.g. "project"
        seen: set[str] = set()
        saw_versions = False
        after_versions: list[str] = []
        try:
            for key, value in top_level_items(body, VERSIONS_KEY):
                if value is LIST_START:
                    saw_versions = True
                    continue
                if key != VERSIONS_KEY:
                    document[key] = value
                    if saw_versions:
                        after_versions.append(key)
                    continue
                saw_versions = True
                version = self._version(value, document, label)
                value = None  # let this version go before the next one is read
                if version is not None and version.id in seen:
                    self.reader.warn_once(
                        ("duplicate", label, version.id),
                        "Project %s: the document holds version id %s more than once; the "
                        "first is emitted, the others are skipped.",
                        label,
                        version.id,
                    )
                    version = None
                if version is not None:
                    seen.add(version.id)
                yield version
                version = None  # not held while the next one is read
        except ijson.JSONError as error:
            where = " ".join(str(error).split())[:160]  # yajl's message spans lines
            msg = f"the published-plans document is not valid JSON ({where})"
            raise UnexpectedResponseError(msg) from error
        if after_versions:
            # Streaming: the versions went out before these arrived. Say so, never drop quietly.
            self.reader.logger.warning(
                "Project %s: the published-plans document has %s after %r; the versions already "
                "emitted do not carry them (plan_shape.py assumes they come first).",
                label,
                ", ".join(repr(key) for key in after_versions),
                VERSIONS_KEY,
            )
        if not saw_versions:
            msg = f'the published-plans document has no "{VERSIONS_KEY}" list (shape in README)'
            raise UnexpectedResponseError(msg)

    def _version(self, value: object, document: Row, label: str) -> PublishedVersion | None:
        if not isinstance(value, dict):
            what = f"an entry that is not an object: {value!r:.80}"
            self._skipped(label, what, what)
            return None
        version_id = value.get(VERSION_ID)
        if isinstance(version_id, bool) or not isinstance(version_id, (str, int)):
            self._skipped(label, f"a version without an id: {_brief(value)}", _brief(value))
            return None
        version_id = str(version_id)  # an id is a key: an integer id is written as its digits
        published_at = value.get("publishedAt")
        is_number = isinstance(published_at, (int, float)) and not isinstance(published_at, bool)
        if not is_number or epoch_to_rfc3339(t.cast("float", published_at)) is None:
            why = (
                "null"
                if published_at is None
                else f"{json_type(published_at)} {published_at!r:.40}"
            )
            what = f"version {version_id}: its publishedAt is {why}, not a time"
            self._skipped(label, what, f"id {version_id}")
            return None
        published = rfc3339_to_datetime(epoch_to_rfc3339(t.cast("float", published_at)) or "")
        assert published is not None  # checked above
        if self._is_new is not None and not self._is_new(version_id, published):
            return None  # landed in an earlier run: said about then, not typed again
        # A list the schemas do not name is a table the tap does not know: said as such.
        unknown_tables = {
            name: item
            for name, item in value.items()
            if isinstance(item, list) and name not in VERSION_FIELDS and name not in TABLE_FIELDS
        }
        subject = f"Project {label}, version {version_id}"
        fields = self.reader.record(
            value, VERSION_FIELDS, subject, skip={VERSION_ID, *TABLE_FIELDS, *unknown_tables}
        )
        undocumented: Row = fields.pop("undocumented") or {}
        for name, item in unknown_tables.items():
            self._unknown_table(label, version_id, name)
            undocumented[name] = item
        record: Row = {"publishedPlanId": version_id, **fields}
        record["project"] = self._project(document.get("project"), undocumented, label)
        if beside := {key: item for key, item in document.items() if key != "project"}:
            undocumented["document"] = beside
        tables: dict[str, list[t.Any]] = {}
        skip: dict[str, set[int]] = {}
        unkeyed: Row = {}
        for table in TABLE_FIELDS:
            rows = tables[table] = self._table(
                value.get(table), table, version_id, label, undocumented
            )
            lost = self._unkeyed_rows(rows, table, version_id, label)
            skip[table] = set(lost)
            if lost:
                unkeyed[table] = list(lost.values())
        if unkeyed:
            undocumented[UNKEYED] = unkeyed
        record["rowCounts"] = {table: len(tables[table]) - len(skip[table]) for table in tables}
        record["undocumented"] = undocumented or None
        return PublishedVersion(record, published, label, self.reader, tables, skip)

    def _project(self, project: object, undocumented: Row, label: str) -> object:
        if project is None or isinstance(project, dict):
            return project
        self.reader.warn_once(
            ("document", "project"),
            "Project %s: the document's `project` is %s %.40r, not an object; kept under "
            'undocumented["project"].',
            label,
            json_type(project),
            project,
        )
        undocumented["project"] = project
        return None

    def _table(
        self, rows: object, table: str, version_id: str, label: str, undocumented: Row
    ) -> list[t.Any]:
        if rows is None:
            return []  # an absent or null table has no rows
        if isinstance(rows, list):
            return rows
        self.reader.warn_once(
            ("table", table),
            'Project %s, version %s: `%s` is not a list; kept under undocumented["%s"], no rows '
            "from it (said once per run).",
            label,
            version_id,
            table,
            table,
        )
        undocumented[table] = rows
        return []

    def _unkeyed_rows(
        self, rows: list[t.Any], table: str, version_id: str, label: str
    ) -> dict[int, t.Any]:
        """The rows (by position, from 1) that cannot be sent: not objects, or without their key."""
        key = TABLE_KEYS[table]
        lost = {
            number: row
            for number, row in enumerate(rows, start=1)
            if not isinstance(row, dict) or (key is not None and not isinstance(row.get(key), str))
        }
        if lost:
            self.reader.warn_once(
                ("unkeyed", table),
                "Project %s, version %s: %d %s row(s) %s (the first is row %d); kept on the "
                'version under undocumented["%s"]["%s"], never sent with a null key (said once '
                "per run).",
                label,
                version_id,
                len(lost),
                table,
                f"without a string `{key}`" if key else "that are not objects",
                next(iter(lost)),
                UNKEYED,
                table,
            )
        return lost

    def _unknown_table(self, label: str, version_id: str, name: str) -> None:
        close = difflib.get_close_matches(name.lower(), list(TABLE_FIELDS), n=1, cutoff=0.6)
        hint = f" (the tap reads `{close[0]}`)" if close else ""
        self.reader.warn_once(
            ("unknown table", name),
            "Project %s, version %s: a table the tap does not know, `%s`%s; kept whole under the "
            'version\'s undocumented["%s"], no table stream gets its rows (said once per run).',
            label,
            version_id,
            name,
            hint,
            name,
        )

    def _skipped(self, label: str, what: str, key: str) -> None:
        """Warn about a skipped entry unless an earlier run did (``key`` names it in the state)."""
        self._skipped_now.add(key)
        if key in self._said:
            return
        self.reader.warn_once(
            ("skipped", label, what),
            "Project %s: skipped %s; the project's other versions land.",
            label,
            what,
        )


def _brief(version: Row) -> str:
    return ", ".join(f"{key}={version.get(key)!r:.40}" for key in ("version", "publishedAt"))
