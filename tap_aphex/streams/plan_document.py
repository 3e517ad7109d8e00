"""The Published Plans document, parsed one version at a time (`DocumentReader`) or scanned. Its
shape is ASSUMED (docs/assumptions.md): the real one should change this module and `schemas.py`
alone. What does not fit is kept under ``undocumented`` (docs/data.md)."""

from __future__ import annotations

import datetime as dt
import difflib
import json
import typing as t
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import ijson

from tap_aphex import decoding, schemas
from tap_aphex.decoding import described, readable
from tap_aphex.reader import Reader, Row, fields_of, key_of
from tap_aphex.report import UnexpectedResponseError
from tap_aphex.schemas import epoch_to_rfc3339, rfc3339_to_datetime


class Landed(t.Protocol):  # a project's read (`plan_progress`), as the reader asks it
    def new_for(self, version_id: str, published: dt.datetime, number: object) -> list[t.Any]: ...
    def note_skipped(self, entry: str) -> bool: ...  # True: no earlier run said so


VERSIONS_KEY = "publishedPlans"
VERSION_ID = "id"
_ENTRY = f"{VERSIONS_KEY}.item"  # ijson's prefix of an entry of the versions list (`VersionScan`)
_PLACING = {f"{_ENTRY}.{key}": key for key in (VERSION_ID, "publishedAt", "version")}
_SCALARS = ("string", "number", "boolean", "null")
VERSION_FIELDS = fields_of(schemas.VENDOR_VERSION_FIELDS.to_dict())
TABLE_FIELDS = {
    table: fields_of(fields.to_dict()) for table, fields in schemas.VENDOR_TABLE_FIELDS.items()
}
#: The key of each table's rows, from the schemas (None: the row's position is its key).
TABLE_KEYS = {
    table: next(iter(fields.to_dict().get("required", [])), None)
    for table, fields in schemas.VENDOR_TABLE_FIELDS.items()
}


@dataclass
class PublishedVersion:
    """One published version: its `published_plans` record and its tables' rows, typed lazily."""

    id: str  # the record's `publishedPlanId`
    record: Row
    published: dt.datetime
    label: str  # the project, for messages
    reader: Reader = field(repr=False)
    tables: dict[str, list[tuple[int, t.Any]]] = field(default_factory=dict, repr=False)  # keyed

    def rows(self, table: str) -> t.Iterator[Row]:
        """The table's keyed rows as records, typed one at a time (no second copy of the table)."""
        keys = {key: self.record[key] for key in ("publishedPlanId", "version", "publishedAt")}
        for number, raw in self.tables.get(table, []):  # each with its position, from 1
            subject = f"Project {self.label}, version {self.id}, {table} row {number}"
            row = self.reader.record(raw, TABLE_FIELDS[table], subject)
            yield {**keys, "rowNumber": number, **row}


class DocumentReader(Reader):
    """Reads published-plans documents; one per stream, so that warnings are once per run."""

    def versions(
        self, body: t.IO[bytes], label: str, *, read: Landed | None = None
    ) -> t.Iterator[PublishedVersion | None]:
        """Each entry of the versions list, as read; None: one skipped, or one ``read`` has."""
        document: Row = {}  # the members beside the versions, e.g. "project"
        seen: dict[str, object] = {}  # each version id, as the document wrote it first
        after_versions: list[str] | None = None  # the members after it (None: no versions list)
        for key, value in decoding.top_level_items(body, VERSIONS_KEY):
            if value is decoding.LIST_START:
                after_versions = []
            elif key != VERSIONS_KEY:
                document[key] = value
                if after_versions is not None:
                    after_versions.append(key)
            else:  # an entry: `top_level_items` gave LIST_START first
                version = self._version(value, document, label, read, seen)
                value = None  # let this version go before the next one is read
                if isinstance(version, tuple):  # skipped
                    what, said_as = version
                    if read is None or read.note_skipped(said_as):  # not said in an earlier run
                        self.warn_once(
                            ("skipped", label, what),
                            f"Project {label}: skipped {what}; the project's other versions land.",
                        )
                    version = None
                yield version
                version = None  # not held while the next one is read
        if after_versions:
            # The versions went out as read, before these came (holding them would hold the
            # document): said, as the assumed shape is wrong.
            names = ", ".join(json.dumps(k, ensure_ascii=False)[:40] for k in after_versions[:5])
            more = f" and {len(after_versions) - 5} more" if len(after_versions) > 5 else ""
            self.warn_once(  # once per project, however many requests read it
                ("after versions", label),
                f"Project {label}: the published-plans document has {names}{more} "
                f'after "{VERSIONS_KEY}", where the tap assumes they come first '
                "(docs/assumptions.md): the versions read before them do not carry them. Please "
                "report this to tap-aphex's maintainers, naming the document's top-level keys in "
                "their order.",
            )
        if after_versions is None:
            msg = f'the published-plans document has no "{VERSIONS_KEY}" list (docs/assumptions.md)'
            raise UnexpectedResponseError(msg)

    def _version(
        self, value: object, document: Row, label: str, read: Landed | None, seen: dict[str, object]
    ) -> PublishedVersion | tuple[str, str] | None:  # skipped: what it is, its key in the state
        if not isinstance(value, dict):
            what = f"an entry that is not an object: {described(value, 80, wire=True)}"
            return what, what
        version_id = version_id_of(value.get(VERSION_ID))
        if version_id is None:
            brief = ", ".join(
                f"{k} is {described(value.get(k), 40, wire=True)}" for k in ("id", "version")
            )
            return f"a version without an id: {brief}", brief
        shown = readable(version_id)
        published = published_of(value.get("publishedAt"))
        if published is None:
            why = described(value.get("publishedAt"), 40, wire=True)
            return f"version {shown}: its publishedAt is {why}, not a time", f"id {version_id}"
        if read is not None and not read.new_for(version_id, published, value.get("version")):
            return None  # landed in an earlier run: said about then, not typed again
        if version_id in seen:  # only the first is typed and emitted
            # 42 and "42" make one key (an integer id is its digits): both are named.
            first, came = seen[version_id], value.get(VERSION_ID)
            kinds = f" (as {described(first)} and {described(came)})"
            both = "" if type(first) is type(came) else kinds
            self.warn_once(
                ("duplicate", label, version_id),
                f"Project {label}: the document holds version id {version_id} more than "
                f"once{both}; the first is emitted, the others are skipped.",
            )
            return None
        seen[version_id] = value.get(VERSION_ID)
        subject, whole_subject = f"Project {label}, version {shown}", f"Project {label}"
        # A list the schemas do not name is a table the tap does not know: said as such.
        unknown_tables = {
            name: item
            for name, item in value.items()
            if isinstance(item, list) and name not in VERSION_FIELDS and name not in TABLE_FIELDS
        }
        fields = self.record(
            value, VERSION_FIELDS, subject, skip={VERSION_ID, *TABLE_FIELDS, *unknown_tables}
        )
        undocumented: Row = fields.pop("undocumented") or {}
        for name, item in unknown_tables.items():
            close = difflib.get_close_matches(name.lower(), list(TABLE_FIELDS), n=1, cutoff=0.6)
            reads = f" (the tap reads `{close[0]}`)" if close else ""
            self.warn_once(
                ("unknown table", name),
                f"{subject}: a table the tap does not know, `{name}`{reads}; kept whole under the "
                f'version\'s undocumented["{name}"], no table stream gets its rows (said once '
                "per run).",
            )
            undocumented[self.whole(name, subject, "")] = self.whole(item, subject, name)
        record: Row = {"publishedPlanId": version_id, **fields}
        beside = {key: self.whole(item, whole_subject, key) for key, item in document.items()}
        record["project"] = project = beside.pop("project", None)
        if project is not None and not isinstance(project, dict):
            self.warn_once(
                ("document", "project"),
                f"Project {label}: the document's `project` is {described(project, 40)}, not an "
                'object; kept under undocumented["project"].',
            )
            undocumented["project"], record["project"] = project, None
        for member in beside:
            self.warn_once(
                ("document member", member),
                f"Project {label}: the document has a member the tap does not know, "
                f'`{readable(member, 60)}`; kept under each version\'s undocumented["document"] '
                "(said once per run).",
            )
        if beside:
            undocumented["document"] = beside
        tables: dict[str, list[tuple[int, t.Any]]] = {}
        for table, key in TABLE_KEYS.items():
            rows = value.get(table)  # absent or null: no rows
            if rows is not None and not isinstance(rows, list):
                self.warn_once(
                    ("table", table),
                    f"{subject}: `{table}` is {described(rows, 40, wire=True)}, not an array; kept "
                    f'under undocumented["{table}"], no rows from it (said once per run).',
                )
                undocumented[table] = self.whole(rows, subject, table)  # as the vendor wrote it
            rows = rows if isinstance(rows, list) else []
            aside = self._rows_aside(rows, table, key, subject, undocumented)
            tables[table] = [(n, row) for n, row in enumerate(rows, start=1) if n not in aside]
        record["rowCounts"] = {table: len(rows) for table, rows in tables.items()}
        record["undocumented"] = undocumented or None
        return PublishedVersion(version_id, record, published, label, self, tables)

    def _rows_aside(
        self, rows: list[t.Any], table: str, key: str | None, subject: str, undocumented: Row
    ) -> set[int]:
        """The positions of rows never sent as rows, kept by table in ``undocumented``."""
        aside: dict[str, dict[int, t.Any]] = {"unkeyed_rows": {}, "repeated_rows": {}}
        keys: set[str] = set()
        for number, row in enumerate(rows, start=1):
            row_key = key_of(row.get(key)) if isinstance(row, dict) and key else None
            if not isinstance(row, dict) or (key is not None and row_key is None):
                aside["unkeyed_rows"][number] = row
            elif row_key in keys:
                aside["repeated_rows"][number] = row
            elif row_key is not None:
                keys.add(row_key)
        reasons = {
            "unkeyed_rows": f"without a `{key}` (text, not blank)" if key else "not objects",
            "repeated_rows": f"with the `{key}` of a row before them",
        }
        for name, rows_kept in aside.items():
            if rows_kept:
                self.warn_once(
                    (name, table),
                    f"{subject}: {len(rows_kept)} {table} row(s) {reasons[name]} (the first is "
                    f"row {next(iter(rows_kept))}); kept on the version under "
                    f'undocumented["{name}"]["{table}"], never sent as a row (said once per run).',
                )
                undocumented.setdefault(name, {})[table] = [
                    self.whole(row, subject, f"{table}[{number}]")
                    for number, row in rows_kept.items()
                ]
        return {*aside["unkeyed_rows"], *aside["repeated_rows"]}


def version_id_of(value: object) -> str | None:
    return str(value) if value.__class__ is int else key_of(value)


def published_of(value: object) -> dt.datetime | None:
    """A version's `publishedAt` (epoch milliseconds) as a time, or None."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    text = epoch_to_rfc3339(t.cast("float", value)) if is_number else None
    return rfc3339_to_datetime(text) if text else None


class VersionScan:
    """The download thread's scan of an answer as it passes (`feed`, None once whole): its entries
    (each counts against `limit`), placed as the reader would. Only an entry's scalars are kept:
    a version of 12,000 tasks is built by the reader alone, so memory stays bounded."""

    def __init__(self, content_type: str | None) -> None:
        self._events: list[tuple[str, str, t.Any]] = ijson.sendable_list()
        # The bytes pass the decode policy, as the reader's do: ijson never sees what it cannot
        # read (a long integer crashes its C backend).
        self._body = decoding.FilteredBody(content_type, "The Published Plans API")
        self._parser = ijson.parse_coro(self._events)
        self._in_versions = False
        self._entry: dict[str, t.Any] | None = None  # an entry's scalars that place it, by key
        self.received = 0
        self.size = 0  # the bytes of the answer (its body as it came, gzip undone)
        self.placed: list[tuple[str, dt.datetime]] = []  # each version's id and time
        self.numbers: list[object] = []  # each entry's `version` number (None: it has none)
        self.readable = True  # False: not JSON; the reader will say what is wrong

    def feed(self, chunk: bytes | None) -> None:
        self.size += len(chunk or b"")
        if not self.readable:
            return
        try:
            if data := self._body.feed(chunk or b"", final=chunk is None):
                self._parser.send(data)  # never b"": ijson reads it as the end
            if chunk is None:
                self._parser.close()
        except (ijson.JSONError, UnexpectedResponseError, InvalidOperation):
            self.readable = False
        for prefix, event, value in self._events:
            if prefix == VERSIONS_KEY and event in ("start_array", "end_array"):
                self._in_versions = event == "start_array"
            elif not self._in_versions:
                continue
            elif prefix == _ENTRY and event == "end_map" and self._entry is not None:
                version_id = version_id_of(self._entry.get(VERSION_ID))
                published = published_of(self._entry.get("publishedAt"))
                if version_id is not None and published is not None:
                    self.placed.append((version_id, published))
                self.numbers.append(self._entry.get("version"))
                self._entry = None
            elif prefix == _ENTRY and event in ("start_map", "start_array", *_SCALARS):
                self.received += 1  # an entry of the versions list, whatever it is
                self._entry = {} if event == "start_map" else None
                if self._entry is None:
                    self.numbers.append(None)  # not an object: no number to prove anything
            elif self._entry is not None and prefix in _PLACING and event in _SCALARS:
                # As the reader will see it: ijson's exact decimal a float (`json_float`).
                exact = value.__class__ is Decimal
                self._entry[_PLACING[prefix]] = decoding.json_float(value) if exact else value
        del self._events[:]
