"""The one tolerant reader of both APIs: vendor JSON typed by the streams' schemas, never coerced.

The schemas (`schemas.py`) are the one home of field names and types; `fields_of` turns an object
schema into the typing table this reader walks. One rule per JSON type, for every stream:

- A value that fits its documented type lands as it is: strings and booleans as themselves,
  numbers as ``int``/``float`` (never a bool, never NaN or infinity), integers as ``int`` only
  (``12.0`` is a misfit, not 12: the value is never coerced), epoch times as RFC 3339 UTC text
  (`epoch_to_rfc3339`). Null stays null; inside objects an absent key stays absent.
- A value that does not fit is kept as it came under the record's top-level ``undocumented``,
  keyed by its path in the vendor's JSON (``task.start``, ``task.statuses[1].createdAt``,
  ``duration``); the typed field is null (an entry of a list or a map is left out) and the first
  such value of each field in a run gets one WARNING naming the record.
- A top-level key the schema does not name is kept under ``undocumented`` by its name (one WARNING
  per name per run); inside documented objects unknown keys stay where they are, since those
  schemas allow more properties.
- What the decode policy marked (`decoding.py`), anywhere in the record, keys included: a lone
  UTF-16 surrogate is U+FFFD in the value, its escape as it came (``Pour slab \\ud83d``) is kept
  under ``undocumented`` by the value's path; a value nested deeper than the bound is its raw
  JSON text. Each with one WARNING per field per run naming the record.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import typing as t
from dataclasses import dataclass

from tap_aphex.decoding import (
    DEEP,
    DEPTH_BOUND,
    LONE_BASE,
    LONE_LAST,
    REPLACEMENT,
    lone_escape,
    marks_made,
)

if t.TYPE_CHECKING:
    import logging

Row = dict[str, t.Any]

# Kinds of documented values, read once from each field's JSON schema; also the words of warnings.
STRING, NUMBER, INTEGER, BOOLEAN, DATETIME = "string", "number", "integer", "boolean", "epoch time"
NUMBER_MAP, STRING_LIST, OBJECT_LIST = "map of numbers", "list of strings", "list of objects"
OBJECT, ANY_MAP = "object", "object of anything"
UNDOCUMENTED = "undocumented"


@dataclass(frozen=True)
class Field:
    """One documented field: its kind, the fields inside it (objects), and its name in warnings."""

    kind: str
    where: str  # e.g. "task.statuses[].createdAt": the field, whatever the index
    inner: dict[str, Field] | None = None


def fields_of(schema: t.Mapping[str, t.Any], where: str = "") -> dict[str, Field]:
    """The typing table of an object schema (a stream's, or a nested object's).

    Our own ``undocumented`` is left out: it holds what the vendor sent beyond the documents.
    """
    return {
        name: _field(sub, f"{where}.{name}" if where else name)
        for name, sub in schema["properties"].items()
        if name != UNDOCUMENTED
    }


def _field(schema: t.Mapping[str, t.Any], where: str) -> Field:
    types = schema.get("type", [])
    kinds = [name for name in ([types] if isinstance(types, str) else types) if name != "null"]
    kind = kinds[0] if len(kinds) == 1 else "several"  # documented: one type, maybe nullable
    if kind == "string":
        return Field(DATETIME if schema.get("format") == "date-time" else STRING, where)
    simple = {"number": NUMBER, "integer": INTEGER, "boolean": BOOLEAN}
    if kind in simple:
        return Field(simple[kind], where)
    if kind == "array":
        item = _field(schema["items"], f"{where}[]")
        if item.kind == STRING:
            return Field(STRING_LIST, where)
        if item.kind == OBJECT:
            return Field(OBJECT_LIST, where, item.inner)
    elif kind == "object":
        if schema.get("properties"):
            return Field(OBJECT, where, fields_of(schema, where))
        extra = schema.get("additionalProperties", True)
        if isinstance(extra, t.Mapping) and _field(extra, where).kind == NUMBER:
            return Field(NUMBER_MAP, where)
        if extra is True:
            return Field(ANY_MAP, where)
    msg = f"the reader has no rule for {where}: {schema}"  # a new kind of schema needs a rule here
    raise TypeError(msg)


class Reader:
    """Types a run's records; remembers what it has warned about, so that each is said once."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._said: set[t.Hashable] = set()

    def record(
        self,
        raw: t.Mapping[str, t.Any],
        fields: t.Mapping[str, Field],
        subject: str,
        *,
        skip: t.Container[str] = (),
    ) -> Row:
        """``raw`` as a record: every documented field (null when absent), then ``undocumented``.

        ``subject`` names the record in warnings ("Event X", "Project P, version V, tasks row 3");
        keys in ``skip`` are the caller's to handle and are left out.
        """
        undocumented: Row = {}
        if marks_made():  # nearly never: only once the decode policy has marked a value
            raw = self._unmarked(raw, (subject, undocumented, id(fields)), skip)
        typed = self._object(raw, fields, "", subject, undocumented, top_level=True, skip=skip)
        record = {name: typed.get(name) for name in fields}
        record[UNDOCUMENTED] = undocumented or None
        return record

    def warn_once(self, subject: t.Hashable, message: str, *args: object) -> None:
        """A WARNING the first time ``subject`` comes up in this run (``args`` as logging's)."""
        if subject not in self._said:
            self._said.add(subject)
            self.logger.warning(message, *args)

    def _object(
        self,
        raw: t.Mapping[str, t.Any],
        fields: t.Mapping[str, Field],
        path: str,
        subject: str,
        undocumented: Row,
        *,
        top_level: bool = False,
        skip: t.Container[str] = (),
    ) -> Row:
        out: Row = {}
        for key, value in raw.items():
            field = fields.get(key)
            if field is None:
                if not top_level:
                    out[key] = value  # inside a documented object: kept in place
                elif key not in skip:
                    undocumented[_free_name(undocumented, key, "undocumented key")] = value
                    self.warn_once(
                        ("unknown", id(fields), key),
                        f"{subject}: a field the tap does not know, `{key}`; kept under "
                        f"undocumented[{key!r}] (said once per run).",
                    )
                continue
            # Most values fit a scalar kind: tested here, so that they cost no call (the reader
            # is most of the tap's CPU per event); everything else is `_value`'s.
            kind, cls = field.kind, value.__class__
            if (
                value is None
                or (cls is str and kind is STRING)
                or (kind is NUMBER and (cls is int or (cls is float and math.isfinite(value))))
                or (cls is int and kind is INTEGER)
                or (cls is bool and kind is BOOLEAN)
            ):
                out[key] = value
            elif (
                kind is DATETIME
                and (cls is int or cls is float)
                and (text := epoch_to_rfc3339(value))
            ):
                out[key] = text
            else:
                out[key] = self._value(value, field, f"{path}{key}", subject, undocumented)
        return out

    def _value(
        self, value: object, field: Field, path: str, subject: str, undocumented: Row
    ) -> object:
        """A list or an object typed as ``field`` says, or None with the value kept as a misfit."""
        kind, cls = field.kind, value.__class__
        if kind in (STRING_LIST, OBJECT_LIST) and cls is list:
            return self._items(value, field, path, subject, undocumented)  # type: ignore[arg-type]
        if cls is dict and kind in (OBJECT, NUMBER_MAP, ANY_MAP):
            mapping = t.cast("Row", value)
            if kind == OBJECT:
                return self._object(mapping, field.inner or {}, f"{path}.", subject, undocumented)
            if kind == NUMBER_MAP:
                return self._numbers(mapping, field, path, subject, undocumented)
            return mapping
        self._misfit(field, field.kind, path, value, subject, undocumented)
        return None

    def _numbers(self, raw: Row, field: Field, path: str, subject: str, undocumented: Row) -> Row:
        out = {}
        for name, value in raw.items():
            if _is_number(value):
                out[name] = value
            else:
                self._misfit(field, NUMBER, f"{path}.{name}", value, subject, undocumented)
        return out

    def _items(
        self, raw: list[t.Any], field: Field, path: str, subject: str, undocumented: Row
    ) -> list[t.Any]:
        expected, inner = (STRING, None) if field.kind == STRING_LIST else (OBJECT, field.inner)
        if inner is None and all(item.__class__ is str for item in raw):
            return list(raw)  # the usual list of strings: one pass, no path words
        out: list[t.Any] = []
        for index, item in enumerate(raw):
            if inner is None and item.__class__ is str:
                out.append(item)
            elif inner is not None and item.__class__ is dict:
                out.append(self._object(item, inner, f"{path}[{index}].", subject, undocumented))
            else:
                self._misfit(field, expected, f"{path}[{index}]", item, subject, undocumented)
        return out

    def _misfit(
        self,
        field: Field,
        expected: str,
        path: str,
        value: object,
        subject: str,
        undocumented: Row,
    ) -> None:
        path = _free_name(undocumented, path, "misfit")  # a vendor key of that very name came first
        undocumented[path] = value
        self.warn_once(
            ("misfit", id(field)),  # each table's fields are their own objects
            f"{subject}: {path} is {json_type(value)} {value!r:.60}, not the documented "
            f"{expected}; kept as it came under undocumented[{path!r}], typed as null "
            f"(said once per run for {field.where}).",
        )

    def _unmarked(
        self, raw: t.Mapping[str, t.Any], record: _Into, skip: t.Container[str]
    ) -> t.Mapping[str, t.Any]:
        """``raw`` with the decode policy's markers read: a copy along the paths that hold any.

        Iterative, not recursive: a record may nest up to the decode policy's bound. ``skip``:
        top-level keys the caller reads as records of their own (tables' rows).
        """
        values: list[_Path] = []  # strings that hold a marker, by their path
        keys: list[_Path] = []  # keys that do, by the path of their value
        pending: list[tuple[t.Any, _Path]] = [(raw, ())]
        while pending:
            container, path = pending.pop()
            items = container.items() if container.__class__ is dict else enumerate(container)
            for key, item in items:
                if not path and key in skip:
                    continue
                if key.__class__ is str and not key.isascii() and _LONE.search(key):
                    keys.append((*path, key))
                cls = item.__class__
                if cls is str:
                    if not item.isascii() and (item.startswith(DEEP) or _LONE.search(item)):
                        values.append((*path, key))
                elif cls is dict or cls is list:
                    pending.append((item, (*path, key)))
        if not values and not keys:
            return raw
        root = dict(raw)
        copied = {id(root)}
        for path in values:
            parent = _writable(root, path[:-1], copied)
            parent[path[-1]] = self._text(parent[path[-1]], _path_words(path), record)
        for path in sorted(keys, key=len, reverse=True):  # the deepest first: paths stay valid
            parent = _writable(root, path[:-1], copied)
            old = path[-1]
            new = self._text(old, _path_words(path), record, key=True)
            renamed = {(new if name == old else name): item for name, item in parent.items()}
            parent.clear()
            parent.update(renamed)
        return root

    def _text(self, text: str, path: str, record: _Into, *, key: bool = False) -> str:
        """A string with its markers read: U+FFFD for each lone surrogate, the raw text of a
        too-deep value; what came is kept and said once per field per run."""
        subject, undocumented, table = record
        where = _ANY_INDEX.sub("[]", path)
        shown, field = _shortened(path), _shortened(where)
        if not key and text.startswith(DEEP):
            self.warn_once(
                ("deep", table, where),
                f"{subject}: {shown} is nested deeper than {DEPTH_BOUND} levels; it is kept as its "
                f"raw JSON text, a string (said once per run for {field}).",
            )
            return text[len(DEEP) :]
        if not _LONE.search(text):
            return text
        came = _LONE.sub(lambda match: lone_escape(match[1]), text)
        path = _free_name(undocumented, path, "lone surrogate")
        undocumented[path] = came
        what = "the key" if key else "the value"
        self.warn_once(
            ("lone", table, where),
            f"{subject}: {what} {shown} holds a lone UTF-16 surrogate ({came!r:.60}), which is "
            f"no character: it is U+FFFD in the record, and the text as it came is kept under "
            f"undocumented[{_shortened(repr(path))}] (said once per run for {field}).",
        )
        return _LONE.sub(REPLACEMENT, text)


#: Where a record's notes go: its subject (for warnings), its `undocumented`, and the id of its
#: typing table (a field is "the same field" within one table: a version's name is not a task's).
_Into = tuple[str, Row, int]
# A lone surrogate, as the decode policy marks it; an index in a path, for "once per field".
_LONE = re.compile(f"\ufffd([{chr(LONE_BASE)}-{chr(LONE_LAST)}])")
_ANY_INDEX = re.compile(r"\[\d+\]")


_Path = tuple[t.Any, ...]  # keys and indexes from the record down
_SHOWN = 120  # characters of a path in a warning


def _shortened(path: str) -> str:
    """A path for a message: a long one (500 levels of ``[0]``) by its start and its end."""
    return path if len(path) <= _SHOWN else f"{path[: _SHOWN // 2]}…{path[-_SHOWN // 2 :]}"


def _path_words(path: _Path) -> str:
    """A path as the reader writes it: ``task.successors[1]``, lone surrogates as U+FFFD."""
    words = ""
    for step in path:
        if step.__class__ is int:
            words += f"[{step}]"
        else:
            name = _LONE.sub(REPLACEMENT, step)
            words = f"{words}.{name}" if words else name
    return words


def _writable(root: Row, path: _Path, copied: set[int]) -> t.Any:
    """The container at ``path`` under ``root``, copied (once) with each container above it:
    the decoded page is never changed in place."""
    container: t.Any = root
    for step in path:
        child = container[step]
        if id(child) not in copied:
            child = dict(child) if child.__class__ is dict else list(child)
            container[step] = child
            copied.add(id(child))
        container = child
    return container


def _is_number(value: object) -> bool:
    cls = value.__class__
    return cls is int or (cls is float and math.isfinite(t.cast("float", value)))


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages."""
    names = {str: "string", bool: "boolean", int: "number", float: "number", dict: "object"}
    return names.get(value.__class__, "list" if isinstance(value, list) else "null")


def _free_name(kept: Row, name: str, what: str) -> str:
    """``name``, or when `undocumented` already holds it, the name followed by what it is.

    Misfits are kept by their vendor path ("task.start") and top-level keys nobody documented by
    their name, which could be the same text: both are kept, the second one renamed.
    """
    while name in kept:
        name = f"{name} ({what})"
    return name


# --- epoch times ------------------------------------------------------------------------------
# The vendor documents epoch milliseconds, but its own sample status has an 11-digit `createdAt`,
# so a time is read by its magnitude: below 10^11 it is seconds (10^11 s is the year 5138), else
# milliseconds (10^11 ms is March 1973, before any Aphex data). Outside the years 1900-9999 either
# way it is no time: the reader keeps it raw rather than guess.
SECONDS_BELOW = 10**11
_EPOCH = dt.datetime(1970, 1, 1)  # naive: the text says UTC with its "Z"
_FIRST_MS = -2_208_988_800_000  # 1900-01-01T00:00:00.000Z
_LAST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def epoch_to_rfc3339(value: float) -> str | None:
    """``value`` (epoch seconds or milliseconds) as ``2021-03-01T08:36:07.389Z``; None if no time.

    Integer milliseconds keep the arithmetic exact (a float division can land a millisecond off).
    """
    if value.__class__ is float and not math.isfinite(value):
        return None
    millis = round(value * 1000) if abs(value) < SECONDS_BELOW else round(value)
    if not _FIRST_MS <= millis <= _LAST_MS:
        return None
    return (_EPOCH + dt.timedelta(milliseconds=millis)).isoformat(timespec="milliseconds") + "Z"


def rfc3339_to_datetime(value: str) -> dt.datetime | None:
    """A time this tap wrote (RFC 3339 with a zone), else None (``fromisoformat`` reads "Z" only
    from Python 3.11)."""
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None
