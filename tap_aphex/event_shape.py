"""The Data API's event JSON, read tolerantly and written as exactly what the schemas say.

Field names and types come from `schemas.TASK_EVENT` (the one home of both) through the typing
table of `event_fields`; each event is typed in one pass over its own keys. A page whose every
value fits takes a faster way to the same records (`event_fits`). The rules:

- A value that fits its documented type lands typed: strings and booleans as they are, numbers as
  ``int``/``float`` (never a bool), integers as ``int`` only, epoch times as RFC 3339 UTC with
  milliseconds (`timestamps.epoch_to_rfc3339`: below 10^11 seconds, else milliseconds; a float is a
  time too). Absent keys stay absent inside objects; null stays null.
- A value that does not fit is never coerced ("12", 12.0 for an integer, True for a number, a time
  out of range): the typed field is null (an entry of a list or a map is left out), the value is
  kept as it came under the record's top-level ``undocumented``, keyed by its path in the vendor's
  JSON (``createdAt``, ``task.start``, ``task.statuses[1].createdAt``, ``task.successors[0]``,
  ``task.labourResources.Carpenters``), and the first such value of each field in a run gets one
  WARNING naming the event and the field.
- Fields the documents do not name are kept: inside ``task`` and inside each status as they come
  (their schemas allow more properties); at the top level of an event under ``undocumented`` by
  name; in a `tasks` record the task's own under ``undocumented`` by name (the values of the task
  and the event's ``createdAt`` that did not fit keep their vendor path there too). A deletion
  whose time is unreadable still deletes: ``_sdc_deleted_at`` is then the time the tap read it.
- Identity: only the ``eventId`` identifies an event (the record's key and the log's position). A
  page holding an event without a string ``eventId`` (or with one of only spaces) stops the
  stream before any of it is delivered, with an error naming the position: delivering around it
  would lose it or send a keyless record, and no cursor is guessed. A ``type`` or ``task.id``
  that does not fit is a value like any other: the event lands in `task_events` (raw kept) and
  changes no task, with a warning.

Pages are decoded by msgspec, which refuses NaN and Infinity; a non-finite float is still a misfit.
The reader decodes the page itself, so that the whole-page check reads the same bytes.
"""

from __future__ import annotations

import logging
import math
import time
import typing as t
from dataclasses import dataclass

import msgspec

from tap_aphex.errors import UnexpectedResponseError
from tap_aphex.event_fields import (
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
    TASK_FIELDS,
    Event,
    Field,
)
from tap_aphex.event_fits import fitting_page
from tap_aphex.timestamps import TimeOutOfRange, epoch_to_rfc3339

UPSERT_TYPES = frozenset({"TaskCreated", "TaskUpdated"})
DELETE_TYPE = "TaskDeleted"

#: After a page that does not fit, this many are read field by field before the check is tried
#: again: a change on the vendor's side costs a few percent, and its end is noticed soon.
SKIP_AFTER_MISFIT = 7
_Into = tuple[str, dict[str, t.Any]]  # the event being typed: its id, and where misfits are kept


@dataclass(frozen=True)
class EventPage:
    """The events of one 200 response, typed, and where the next page starts (None: the end)."""

    events: list[Event]
    next_start_after: str | None


class EventReader:
    """Reads a run's pages; remembers which fields it has warned about, so once per run each."""

    def __init__(self, logger: logging.Logger, *, check_whole_pages: bool = True) -> None:
        self.logger = logger
        # The fast way for pages that fit (`event_fits`); the tests turn it off to compare.
        self.check_whole_pages = check_whole_pages
        self._warned: set[str] = set()
        self._unchecked_pages = 0  # pages still to read field by field before checking again

    def page(self, body: bytes, *, start_after: str | None = None) -> EventPage:
        """The typed events of a 200 body; ``start_after`` (the cursor sent) for errors.

        Raises `msgspec.DecodeError` (or UnicodeDecodeError, RecursionError) when the body is not
        JSON: the caller knows the response and says so.
        """
        fitting = None
        if self.check_whole_pages and self._unchecked_pages:
            self._unchecked_pages -= 1
        elif self.check_whole_pages:
            fitting = fitting_page(body)
            if fitting is None:  # a new field, say, is likely on the next pages too: a failed
                self._unchecked_pages = SKIP_AFTER_MISFIT  # check costs about a quarter more
        if fitting is not None:
            return EventPage(fitting.events, fitting.next_start_after or None)
        payload = msgspec.json.decode(body)
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            msg = 'the Data API answered without a JSON object holding a "data" list of events'
            raise UnexpectedResponseError(msg)
        data: list[t.Any] = payload["data"]
        events = [self._event(raw, index, data, start_after) for index, raw in enumerate(data)]
        cursor = payload.get("nextStartAfter")
        if cursor is not None and not isinstance(cursor, str):
            msg = f'"nextStartAfter" is no event id: {type(cursor).__name__} {cursor!r:.40}'
            raise UnexpectedResponseError(msg)
        return EventPage(events, cursor or None)

    def event_record(self, event: Event) -> dict[str, t.Any]:
        """The `task_events` record (fresh dicts: the SDK pops deselected properties in place)."""
        record = dict(event)
        if record["task"] is not None:
            record["task"] = dict(record["task"])
        return record

    def task_record(self, event: Event) -> dict[str, t.Any] | None:
        """The `tasks` record an event produces, or None (with a warning) when it changes no task.

        Created and Updated carry the full task, so the record replaces the task; Deleted carries
        only the id, so the record is the id with ``_sdc_deleted_at`` set to the deletion's time
        (or, when that time is unreadable, the time the tap read it: a deletion is never lost).
        """
        task, kind = event["task"], event["type"]
        if kind not in UPSERT_TYPES and kind != DELETE_TYPE:
            self._warn_once(
                f"type {kind!r:.40}",
                f"Event {event['eventId']} has type {kind!r:.40}, which says nothing documented "
                "about the task: it is in task_events and changes no task (said once per type).",
            )
            return None
        if task is None or not isinstance(task.get("id"), str):
            self._warn_once(
                "task id",
                f"Event {event['eventId']} names no readable task id: it is in task_events as it "
                "came and changes no task (said once per run).",
            )
            return None
        produced_by = {
            "eventId": event["eventId"],
            "eventType": kind,
            "eventCreatedAt": event["createdAt"],
        }
        if kind == DELETE_TYPE:
            deleted_at = event["createdAt"] or epoch_to_rfc3339(time.time())
            return {"id": task["id"], **produced_by, "_sdc_deleted_at": deleted_at}
        extra = task.keys() - TASK_FIELDS
        documented = {k: v for k, v in task.items() if k not in extra} if extra else dict(task)
        undocumented = {k: task[k] for k in task if k in extra}
        misfits = event["undocumented"]
        if misfits:
            undocumented.update(
                (k, v) for k, v in misfits.items() if k == "createdAt" or k.startswith("task.")
            )
        return {
            **documented,
            "undocumented": undocumented or None,
            **produced_by,
            "_sdc_deleted_at": None,
        }

    def _event(self, raw: object, index: int, data: list[object], start_after: str | None) -> Event:
        event_id = raw.get("eventId") if isinstance(raw, dict) else None
        # An id of spaces could not be resumed after either: a bookmark must be a real id.
        if not isinstance(event_id, str) or not event_id.strip() or not isinstance(raw, dict):
            after = f" after {start_after}" if start_after else ""
            msg = (
                f"event {index + 1} of {len(data)} on the page{after} has no eventId (got "
                f"{type(event_id).__name__} {event_id!r:.40}): an event without its id can be "
                "neither delivered nor resumed after, so the stream stops before this page (the "
                "state keeps the last full page). Tell Aphex (hello@aphex.co); the next run "
                "retries this page."
            )
            raise UnexpectedResponseError(msg)
        undocumented: dict[str, t.Any] = {}  # fields we do not know, and values that do not fit
        typed = self._object(raw, EVENT_FIELDS, "", (event_id, undocumented), undocumented)
        record = {name: typed.get(name) for name in EVENT_FIELDS}
        record["undocumented"] = undocumented or None
        return record

    def _object(
        self,
        raw: dict[str, t.Any],
        fields: dict[str, Field],
        path: str,
        into: _Into,
        unknown: dict[str, t.Any] | None = None,
    ) -> dict[str, t.Any]:
        """``raw`` typed by ``fields``; unknown keys stay in it, or go to ``unknown`` if given."""
        out: dict[str, t.Any] = {}
        for key, value in raw.items():
            field = fields.get(key)
            if field is None:
                if unknown is None:
                    out[key] = value
                else:  # a top-level key: `undocumented`, where a misfit's path may hold the name
                    unknown[_free_name(unknown, key, "undocumented key")] = value
                continue
            if value is None:
                out[key] = None
                continue
            kind, cls = field.kind, value.__class__
            if kind == STRING:
                if cls is str:
                    out[key] = value
                    continue
            elif kind == DATETIME:
                if cls is int or cls is float:
                    try:
                        out[key] = epoch_to_rfc3339(value)
                        continue
                    except TimeOutOfRange:
                        pass
            elif kind == NUMBER:
                if cls is int or (cls is float and math.isfinite(value)):
                    out[key] = value
                    continue
            elif kind in (INTEGER, BOOLEAN):
                if cls is (int if kind == INTEGER else bool):
                    out[key] = value
                    continue
            elif kind in (STRING_LIST, OBJECT_LIST):
                if cls is list:
                    out[key] = self._items(value, field, f"{path}{key}", into)
                    continue
            elif cls is dict:  # OBJECT, NUMBER_MAP, ANY_MAP
                if kind == OBJECT:
                    out[key] = self._object(value, field.inner or {}, f"{path}{key}.", into)
                elif kind == NUMBER_MAP:
                    out[key] = self._numbers(value, field, f"{path}{key}.", into)
                else:
                    out[key] = value
                continue
            out[key] = None
            self._misfit(field, kind, f"{path}{key}", value, into)
        return out

    def _numbers(
        self, raw: dict[str, t.Any], field: Field, path: str, into: _Into
    ) -> dict[str, t.Any]:
        out = {}
        for name, value in raw.items():
            cls = value.__class__
            if cls is int or (cls is float and math.isfinite(value)):
                out[name] = value
            else:
                self._misfit(field, NUMBER, f"{path}{name}", value, into)
        return out

    def _items(self, raw: list[t.Any], field: Field, path: str, into: _Into) -> list[t.Any]:
        if field.kind == STRING_LIST:
            if all(item.__class__ is str for item in raw):  # the usual case: one C-level pass
                return list(raw)
            expected, inner = STRING, None
        else:
            expected, inner = OBJECT, field.inner or {}
        out: list[t.Any] = []
        for index, item in enumerate(raw):
            cls = item.__class__
            if inner is None and cls is str:
                out.append(item)
            elif inner is not None and cls is dict:
                out.append(self._object(item, inner, f"{path}[{index}].", into))
            else:
                self._misfit(field, expected, f"{path}[{index}]", item, into)
        return out

    def _misfit(self, field: Field, expected: str, path: str, value: object, into: _Into) -> None:
        event_id, misfits = into
        path = _free_name(misfits, path, "misfit")  # a vendor key of that very name came first
        misfits[path] = value
        self._warn_once(
            field.where,
            f"Event {event_id}: {path} is {type(value).__name__} {value!r:.60}, not the documented "
            f"{expected}; kept as it came under undocumented[{path!r}], typed as null "
            f"(said once per run for {field.where}).",
        )

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.logger.warning("%s", message)


def _free_name(kept: dict[str, t.Any], name: str, what: str) -> str:
    """``name``, or when `undocumented` already holds it, the name followed by what it is.

    Misfits are kept by their vendor path ("task.start") and top-level keys nobody documented by
    their name, which could be the same text: both are kept, the second one renamed.
    """
    while name in kept:
        name = f"{name} ({what})"
    return name
