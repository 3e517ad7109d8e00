"""Values of the published-plans document typed against the schemas, never coerced.

Each documented field has the JSON type its property in `schemas.py` gives it; that is the only list
of fields. A value that does not fit is not guessed at: the typed field is null and the value is
kept as it came under the record's ``undocumented``, keyed by its name in the document.

Times (``format: date-time``) are epoch numbers read by magnitude (seconds below 10^11, else
milliseconds: see `tap_aphex.timestamps`); a time outside the years 1900-9999, a string or a
boolean is kept raw. Integers may come as integral floats (``3.0`` is the same JSON number); other
numbers, strings and booleans are taken only as themselves.
"""

from __future__ import annotations

import math
import typing as t

from tap_aphex.timestamps import TimeOutOfRange, epoch_to_rfc3339

if t.TYPE_CHECKING:
    import logging

    from singer_sdk import typing as th

Row = dict[str, t.Any]


class Misfit(ValueError):
    """A value that does not fit its documented type; its message says how, in a few words."""


def kinds_of(properties: th.PropertiesList) -> dict[str, str]:
    """Each property's kind ("string", "integer", "number", "boolean", "object", "date-time")."""
    kinds: dict[str, str] = {}
    for name, schema in properties.to_dict()["properties"].items():
        types = [kind for kind in schema["type"] if kind != "null"]
        kinds[name] = "date-time" if schema.get("format") == "date-time" else types[0]
    return kinds


def required_of(properties: th.PropertiesList) -> list[str]:
    return list(properties.to_dict().get("required", []))


def typed(kind: str, value: object) -> object:
    """``value`` as a value of ``kind``; None stays None; `Misfit` when it is something else."""
    if value is None:
        return None
    if isinstance(value, bool):  # a bool is an int in Python, never in JSON
        if kind == "boolean":
            return value
        raise Misfit(f"a boolean ({value!r})")
    if kind == "date-time":
        if not isinstance(value, (int, float)):
            raise Misfit(f"{_a(_json_type(value))}, not an epoch time")
        try:
            return epoch_to_rfc3339(value)
        except TimeOutOfRange as error:
            raise Misfit(str(error)) from None
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    if _fits(kind, value):
        return value
    raise Misfit(f"{_a(_json_type(value))}, not {_a(kind)}")


def _fits(kind: str, value: object) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int)
    if kind == "number":
        return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
    if kind == "boolean":
        return False  # booleans were taken above
    if kind == "object":
        return isinstance(value, dict)
    msg = f"no rule for the schema type {kind!r}"  # a new kind in schemas.py needs one here
    raise TypeError(msg)


def _json_type(value: object) -> str:
    for python, name in ((str, "string"), ((int, float), "number"), (dict, "object")):
        if isinstance(value, python):
            return name
    return "list" if isinstance(value, list) else type(value).__name__


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def shaped(
    raw: t.Mapping[str, object], kinds: t.Mapping[str, str], *, skip: t.Container[str] = ()
) -> tuple[Row, Row, dict[str, str]]:
    """(typed documented fields, everything else as it came, why each misfit did not fit).

    Fields in ``skip`` are left out of both (the caller handles them).
    """
    values: Row = {}
    undocumented: Row = {}
    misfits: dict[str, str] = {}
    for name, kind in kinds.items():
        value = raw.get(name)
        try:
            values[name] = typed(kind, value)
        except Misfit as why:
            values[name] = None
            undocumented[name] = value
            misfits[name] = str(why)
    for name, value in raw.items():
        if name not in kinds and name not in skip:
            undocumented[name] = value
    return values, undocumented, misfits


class Warnings:
    """WARNINGs said once per subject per run (a field, a table, a version id)."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._said: set[tuple[str, ...]] = set()

    def once(self, subject: tuple[str, ...], message: str, *args: object) -> None:
        if subject not in self._said:
            self._said.add(subject)
            self.logger.warning(message, *args)
