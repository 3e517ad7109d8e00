"""The usual page, typed fast: when every value fits its documented type, msgspec proves it in C.

Typing an event field by field (`event_shape.EventReader`) is most of the tap's CPU per event, yet
nearly every page fits the vendor's documents. So a page's bytes are first decoded into strict
structs built from the same field table (`event_fields`): every documented key optional, null
allowed, no other key. When that decode succeeds, no value on the page misfits and nothing is
undocumented, so `fitting_page` only turns the structs into dicts and epoch times into text.
Anything else (a misfit, an unknown key, a time out of range, which no type can say) and the page
is read field by field. Both give the same records (keys inside an object may come in another
order: the schema's here, the vendor's there); the tests hold them side by side.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

import msgspec

from tap_aphex.event_fields import (
    ANY_MAP,
    BOOLEAN,
    DATETIME,
    EVENT_FIELDS,
    INTEGER,
    NUMBER,
    NUMBER_MAP,
    OBJECT,
    OBJECT_LIST,
    STRING,
    STRING_LIST,
    Event,
    Field,
)
from tap_aphex.timestamps import TimeOutOfRange, epoch_to_rfc3339, recent_text

# `int | float` keeps each number as it came (`float` alone would make 12 into 12.0); like the
# field-by-field reader, neither takes a boolean, and msgspec refuses NaN and Infinity.
_Number = int | float
_VALUES: dict[str, t.Any] = {
    STRING: str,
    NUMBER: _Number,
    INTEGER: int,
    BOOLEAN: bool,
    DATETIME: _Number,  # the range (1900-9999) is checked when the time is converted
    NUMBER_MAP: dict[str, _Number],
    STRING_LIST: list[str],
    ANY_MAP: dict[str, t.Any],
}


def _strict(field: Field, name: str) -> t.Any:
    """The msgspec type of a field's fitting values: null fits every field; absent is UNSET."""
    value = _VALUES.get(field.kind)
    if value is None:  # OBJECT or OBJECT_LIST
        inner = _object(name, field.inner or {})
        value = list[inner] if field.kind == OBJECT_LIST else inner  # type: ignore[valid-type]
    return value | None | msgspec.UnsetType


def _object(
    name: str, fields: dict[str, Field], absent: t.Any = msgspec.UNSET, **required: t.Any
) -> type[msgspec.Struct]:
    """A struct with a field per documented key, in the schema's order, and no other key.

    A key is optional unless ``required``; when it is absent the field holds ``absent``, and
    `msgspec.to_builtins` leaves UNSET ones out. The structs only live until their page's records
    are built from them, and hold no cycles, so the garbage collector does not track them.
    """
    declared = [
        (key, required[key]) if key in required else (key, _strict(f, f"{name}_{key}"), absent)
        for key, f in fields.items()
    ]
    return msgspec.defstruct(name, declared, kw_only=True, gc=False, forbid_unknown_fields=True)


# An event's id must be a string with more than spaces: without one the field-by-field reader
# stops the page. A key absent at the top level is null in the record, as in the field-by-field
# reader's; inside an object it stays absent.
_EventId = t.Annotated[str, msgspec.Meta(pattern=r"\S")]
_Event = _object("FittingEvent", EVENT_FIELDS, absent=None, eventId=_EventId)
_Page = msgspec.defstruct(
    "FittingPage",
    [("data", list[_Event]), ("nextStartAfter", str | None, None)],  # type: ignore[valid-type]
    gc=False,
    # No other key either: msgspec skips an unknown key's value without checking it (bad UTF-8, a
    # number out of range), where the field-by-field reader's decode would refuse the body.
    forbid_unknown_fields=True,
)
_PAGE = msgspec.json.Decoder(_Page)


@dataclass(frozen=True)
class _Shape:
    """Where an object's epoch times are: its own keys, and the objects or lists of them inside."""

    times: tuple[str, ...]
    objects: tuple[tuple[str, _Shape, bool], ...]  # (key, shape inside, True: a list of objects)


def _shape(fields: dict[str, Field]) -> _Shape:
    objects = tuple(
        (key, _shape(field.inner or {}), field.kind == OBJECT_LIST)
        for key, field in fields.items()
        if field.kind in (OBJECT, OBJECT_LIST)
    )
    return _Shape(tuple(key for key, field in fields.items() if field.kind == DATETIME), objects)


_EVENT_SHAPE = _shape(EVENT_FIELDS)


@dataclass(frozen=True)
class FittingPage:
    """The typed events of a page that fits, and where the next page starts (None: the end)."""

    events: list[Event]
    next_start_after: str | None


def fitting_page(body: bytes) -> FittingPage | None:
    """``body``'s page typed the fast way, or None when it is not a page that fits.

    Bytes that are no JSON raise as in any decode (UnicodeDecodeError, for one): the caller says so.
    """
    try:
        page: t.Any = _PAGE.decode(body)  # a FittingPage struct, made at run time
    except msgspec.DecodeError:  # a misfit or an unknown key (ValidationError), or no JSON
        return None
    events: list[Event] = msgspec.to_builtins(page.data)  # dicts and lists, in C
    try:
        for event in events:
            _convert_times(event, _EVENT_SHAPE)
            event["undocumented"] = None  # nothing can be: no unknown key and no misfit
    except TimeOutOfRange:
        return None
    return FittingPage(events, page.nextStartAfter)


def _convert_times(record: dict[str, t.Any], shape: _Shape) -> None:
    """The epoch times in ``record`` and the objects inside it as RFC 3339 text, in place (all of
    them are fresh from `to_builtins`)."""
    for key in shape.times:
        value = record.get(key)
        if value is not None:
            record[key] = recent_text(value) or epoch_to_rfc3339(value)
    for key, inner, many in shape.objects:
        value = record.get(key)
        if value is None:
            continue
        for item in value if many else (value,):
            _convert_times(item, inner)
