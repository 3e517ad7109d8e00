"""The one tolerant reader of both APIs (docs/data.md, "Tolerant reader, strict writer"): vendor
JSON typed by the streams' schemas (`fields_of`), never coerced; a misfit or a marked value kept as
it came under ``undocumented`` by its path, null in its field, said once per field per run."""

from __future__ import annotations

import functools
import json
import math
import re
import typing as t
from dataclasses import dataclass

from tap_aphex import decoding
from tap_aphex.decoding import DEEP, DEPTH_BOUND, LITERAL, LONE_MARKED, REPLACEMENT
from tap_aphex.schemas import epoch_to_rfc3339

if t.TYPE_CHECKING:
    import logging

Row = dict[str, t.Any]
Raw = t.Mapping[str, t.Any]
Steps = tuple[t.Any, ...]  # keys and indexes, from a record's top
Marked = t.Callable[[str, Steps, bool], str]  # a marked string, its steps, whether it is a key

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


Fields = t.Mapping[str, Field]


def fields_of(schema: t.Mapping[str, t.Any], where: str = "") -> dict[str, Field]:
    """The typing table of an object schema, less our own ``undocumented``."""
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
    if simple := {"number": NUMBER, "integer": INTEGER, "boolean": BOOLEAN}.get(kind):
        return Field(simple, where)
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


class _Record(t.NamedTuple):  # the record being read
    subject: str
    undocumented: Row
    table: int  # its typing table's id: "the same field" is per table
    skip: t.Container[str]


class Reader:
    """Types a run's records; remembers what it has warned about, so that each is said once."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._said: set[t.Hashable] = set()

    def record(self, raw: Raw, fields: Fields, subject: str, *, skip: t.Container[str] = ()) -> Row:
        """``raw`` as a record: every documented field (null when absent), then ``undocumented``;
        ``subject`` names it in warnings, keys in ``skip`` are the caller's and left out."""
        into = _Record(subject, {}, id(fields), skip)
        if decoding.FilteredBody.marks:  # nearly never: only once the policy has marked a value
            raw = unmarked(raw, functools.partial(self._text, into), skip)
        typed = self._object(raw, fields, "", into)
        record = {name: typed.get(name) for name in fields}
        record[UNDOCUMENTED] = into.undocumented or None
        return record

    def warn_once(self, subject: t.Hashable, message: str, *args: object) -> None:
        """A WARNING the first time ``subject`` comes up in this run (``args`` as logging's)."""
        if subject not in self._said:
            self._said.add(subject)
            self.logger.warning(message, *args)

    def _object(self, raw: Raw, fields: Fields, path: str, into: _Record) -> Row:
        out: Row = {}
        for key, value in raw.items():
            field = fields.get(key)
            if field is None:
                if path:
                    out[key] = value  # inside a documented object: kept in place
                elif key not in into.skip:
                    into.undocumented[_free_name(into, key, "undocumented key")] = value
                    self.warn_once(
                        ("unknown", id(fields), key),
                        f"{into.subject}: a field the tap does not know, `{_shortened(key)}`; kept "
                        f"under {_under(key)} (said once per run).",
                    )
                continue
            # Most values fit a scalar kind: tested inline, at no call's cost; the rest: `_value`.
            kind, cls = field.kind, value.__class__
            if (
                value is None
                or (cls is str and kind is STRING)
                or (kind is NUMBER and (cls is int or (cls is float and math.isfinite(value))))
                or (cls is int and kind is INTEGER and -_BIGINT <= value < _BIGINT)
                or (cls is bool and kind is BOOLEAN)
            ):
                out[key] = value
            elif kind is DATETIME and (cls is int or cls is float):
                out[key] = epoch_to_rfc3339(value) or self._value(value, field, path + key, into)
            else:
                out[key] = self._value(value, field, f"{path}{key}", into)
        return out

    def _value(self, value: t.Any, field: Field, path: str, into: _Record) -> object:
        """A list or an object typed as ``field`` says, or None with the value kept as a misfit."""
        kind, cls = field.kind, value.__class__
        if cls is list and kind in (STRING_LIST, OBJECT_LIST):
            return self._items(value, field, path, into)
        if cls is dict and kind == OBJECT:
            return self._object(value, field.inner or {}, f"{path}.", into)
        if cls is dict and kind == NUMBER_MAP:
            numbers = {}
            for name, number in value.items():
                if number.__class__ is int or (number.__class__ is float and math.isfinite(number)):
                    numbers[name] = number
                else:
                    self._misfit(field, NUMBER, f"{path}.{name}", number, into)
            return numbers
        if cls is dict and kind == ANY_MAP:
            return value
        self._misfit(field, kind, path, value, into)
        return None

    def _items(self, raw: list[t.Any], field: Field, path: str, into: _Record) -> list[t.Any]:
        expected, inner = (STRING, None) if field.kind == STRING_LIST else (OBJECT, field.inner)
        if inner is None and all(item.__class__ is str for item in raw):
            return list(raw)  # the usual list of strings: one pass, no path words
        out: list[t.Any] = []
        for index, item in enumerate(raw):
            if inner is None and item.__class__ is str:
                out.append(item)
            elif inner is not None and item.__class__ is dict:
                out.append(self._object(item, inner, f"{path}[{index}].", into))
            else:
                self._misfit(field, expected, f"{path}[{index}]", item, into)
        return out

    def _misfit(self, field: Field, expected: str, path: str, value: object, into: _Record) -> None:
        path = _free_name(into, path, "misfit")
        into.undocumented[path] = value
        self.warn_once(
            ("misfit", id(field)),  # each table's fields are their own objects
            f"{into.subject}: {_shortened(path)} is {decoding.described(value)}, not the "
            f"documented {expected}; kept as it came under {_under(path)}, typed as null (said "
            f"once per run for {field.where}).",
        )

    def whole(self, value: t.Any, subject: str, where: str) -> t.Any:
        """A value no schema types, as the vendor wrote it (`as_written`); too-deep parts said."""
        if not decoding.FilteredBody.marks:  # nearly always: nothing was marked
            return value

        def as_written(text: str, steps: Steps, key: bool) -> str:
            if not key and text.startswith(DEEP):
                self._say_deep("whole", subject, where + _words(steps))
            return decoding.as_written(text)

        return unmarked(value, as_written)

    def _text(self, into: _Record, text: str, steps: Steps, key: bool) -> str:
        """A marked string of the record at ``steps`` as read, said once: U+FFFD for a lone
        surrogate (kept as it came under ``undocumented``), or a too-deep value's raw text."""
        path = _words(steps).removeprefix(".")  # a record's first step is a key
        if not key and text.startswith(DEEP):
            self._say_deep(into.table, into.subject, path)
            return decoding.as_written(text)
        if not LONE_MARKED.search(text):
            return as_read(text)  # only a U+FFFD the vendor sent
        where = _ANY_INDEX.sub("[]", path)
        kept = _free_name(into, path, "lone surrogate")
        into.undocumented[kept] = decoding.as_written(text)
        self.warn_once(
            ("lone", into.table, where),
            f"{into.subject}: the {'key' if key else 'value'} {_shortened(path)} holds a lone "
            f"UTF-16 surrogate ({decoding.described(text, wire=True)}), which is no character: it "
            f"is U+FFFD in the record, and the text as it came is kept under {_under(kept)} (said "
            f"once per run for {_shortened(where)}).",
        )
        return as_read(text)

    def _say_deep(self, table: t.Hashable, subject: str, path: str) -> None:
        field = _ANY_INDEX.sub("[]", path)
        self.warn_once(
            ("deep", table, field),
            f"{subject}: {_shortened(path)} is nested deeper than {DEPTH_BOUND} levels; it "
            f"is kept as its raw JSON text, a string (said once per run for {_shortened(field)}).",
        )


def _words(steps: Steps) -> str:
    """Keys and indexes as a path's words (``.task.successors[1]``), lone surrogates as U+FFFD."""
    return as_read("".join(f"[{step}]" if step.__class__ is int else f".{step}" for step in steps))


_BIGINT = 2**63  # an integer field takes what a warehouse's BIGINT holds; a larger one: a misfit
_ANY_INDEX = re.compile(r"\[\d+\]")


def key_of(value: object) -> str | None:
    """``value`` as a record's key, or None: text that is not blank, as the vendor wrote it (with
    a lone surrogate it would be U+FFFD in the record, or no `startAfter`)."""
    return as_sent(value) if isinstance(value, str) and value.strip() else None


def _shortened(path: str) -> str:  # a long path (500 levels of ``[0]``): its start and its end
    return path if len(path) <= 120 else f"{path[:60]}…{path[-60:]}"


def _under(name: str) -> str:
    return f"undocumented[{_shortened(json.dumps(name, ensure_ascii=False))}]"


def _free_name(into: _Record, name: str, what: str) -> str:
    """``name``, then what it is while taken (a misfit's path and an unknown key can be alike)."""
    while name in into.undocumented:
        name = f"{name} ({what})"
    return name


def marked(text: str) -> bool:
    return not text.isascii() and REPLACEMENT in text


def as_sent(text: str) -> str | None:
    """``text`` as the vendor wrote it, or None when it holds a lone surrogate or stands for a
    too-deep value (an id that could not be sent back)."""
    if marked(text) and (text.startswith(DEEP) or LONE_MARKED.search(text)):
        return None
    return text.replace(LITERAL, REPLACEMENT)


def as_read(text: str) -> str:
    """``text`` as a record holds it: U+FFFD for a lone surrogate, a vendor's U+FFFD as itself."""
    return LONE_MARKED.sub(REPLACEMENT, text).replace(LITERAL, REPLACEMENT)


def unmarked(value: t.Any, text: Marked, skip: t.Container[str] = (), path: Steps = ()) -> t.Any:
    """A copy of ``value`` (a page is never changed), each marked string, key or value, as ``text``
    says; top-level keys in ``skip`` left as they are. The decode policy bounds the recursion."""
    cls = value.__class__
    if cls is str:
        return text(value, path, False) if marked(value) else value
    if cls is list:
        return [unmarked(item, text, (), (*path, index)) for index, item in enumerate(value)]
    if cls is not dict:
        return value
    return {
        (text(key, (*path, key), True) if marked(key) and key not in skip else key): (
            item if key in skip else unmarked(item, text, (), (*path, key))
        )
        for key, item in value.items()
    }
