"""The Data API's documented event fields as a typing table, derived once from `schemas.TASK_EVENT`.

The schemas are the one home of field names and types; this table is how the event readers see
them: each field's kind of value, the fields inside objects, and its name in warnings. Both the
field-by-field reader (`event_shape`) and the whole-page check (`event_fits`) are built from it.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from tap_aphex import schemas

#: An event as read from a page: already typed, in the shape of its `task_events` record.
Event = dict[str, t.Any]

# Kinds of documented values, read from each field's JSON schema once; also the words of warnings.
STRING, NUMBER, INTEGER, BOOLEAN, DATETIME = "string", "number", "integer", "boolean", "epoch time"
NUMBER_MAP, STRING_LIST, OBJECT_LIST = "map of numbers", "list of strings", "list of objects"
OBJECT, ANY_MAP = "object", "object of anything"


@dataclass(frozen=True)
class Field:
    """One documented field: its kind, the fields inside it (objects), and its name in warnings."""

    kind: str
    where: str  # e.g. "task.statuses[].createdAt": the field, whatever the index
    inner: dict[str, Field] | None = None


def fields_of(schema: dict[str, t.Any], where: str = "") -> dict[str, Field]:
    """The typing table of an object schema (a stream's, or a nested object's)."""
    return {
        name: _field(sub, f"{where}.{name}" if where else name)
        for name, sub in schema["properties"].items()
    }


def _field(schema: dict[str, t.Any], where: str) -> Field:
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
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and _field(extra, where).kind == NUMBER:
            return Field(NUMBER_MAP, where)
        if extra is True:
            return Field(ANY_MAP, where)
    msg = f"the event reader cannot type {where}: {schema}"  # a schema change needs a reader change
    raise TypeError(msg)


EVENT_FIELDS = fields_of(schemas.TASK_EVENT)
del EVENT_FIELDS["undocumented"]  # ours, not the vendor's
TASK_FIELDS = frozenset(EVENT_FIELDS["task"].inner or ())
