"""The task-event log's rules: a page's events, the records they make, the cursor between pages.
Event ids are random strings: the position is "the last event delivered", never "the largest id".
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import typing as t
from collections.abc import Iterable
from decimal import InvalidOperation
from http import HTTPStatus

import msgspec
import requests
from singer_sdk.helpers.jsonpath import extract_jsonpath
from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

from tap_aphex import schemas
from tap_aphex.decoding import REPLACEMENT, FilteredBody, described, json_float, readable, refused
from tap_aphex.reader import Reader, Row, as_sent, fields_of, key_of
from tap_aphex.report import AphexError, UnexpectedResponseError
from tap_aphex.schemas import epoch_to_rfc3339
from tap_aphex.streams.log_position import KEPT, asked

EVENT_FIELDS = fields_of(schemas.TASK_EVENT)
TASK_FIELDS = frozenset(EVENT_FIELDS["task"].inner or ())
TASK_CHANGES = frozenset({"TaskCreated", "TaskUpdated", "TaskDeleted"})


class PaginationLoopError(AphexError):
    """The Data API returned events but no way forward."""


_PAGE_DECODER = msgspec.json.Decoder(float_hook=json_float)


def decoded_json(response: requests.Response) -> object:
    """The page as JSON, decoded once per response (the records and the next cursor share it),
    not by the SDK's `response.json()`, which makes every number a Decimal, for each JSONPath."""
    held = vars(response)
    if "_decoded_json" not in held:
        body = FilteredBody(response.headers.get("Content-Type"), "The Data API")
        try:
            held["_decoded_json"] = _PAGE_DECODER.decode(body.feed(response.content, final=True))
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError, InvalidOperation) as error:
            raise refused(body, error, f"{len(response.content)} bytes") from error
    return held["_decoded_json"]


def no_id_words(value: object) -> str:
    """A value that is no event id, for a message; a lone surrogate is said, as the start of a
    long id may not show it."""
    lone = isinstance(value, str) and as_sent(value) is None
    return described(value, 40, wire=True) + (" (it holds a lone surrogate)" if lone else "")


_PAGE_MEMBERS = frozenset({"data", "nextStartAfter"})  # what the vendor documents of a page


def read_page(payload: object, reader: Reader, *, start_after: str | None) -> list[Row]:
    """A decoded 200 body's events, typed; ``start_after`` (the cursor sent) for messages."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        msg = 'the Data API answered without a JSON object holding a "data" list of events'
        raise UnexpectedResponseError(msg)
    data: list[t.Any] = payload["data"]
    for member in payload.keys() - _PAGE_MEMBERS:  # no record holds a page: said, not kept
        reader.warn_once(
            ("page member", member),
            f"The Data API's page has a member the tap does not know, `{readable(str(member))}`; "
            "no record holds a page, so it is not kept (said once per run).",
        )
    events = []
    for index, raw in enumerate(data):
        event_id = raw.get("eventId") if isinstance(raw, dict) else None
        sent = key_of(event_id)
        if not isinstance(raw, dict) or sent is None:
            got = (
                no_id_words(event_id)
                if isinstance(raw, dict)
                else f"an entry that is {described(raw, 40, wire=True)}"
            )
            after = f" after {readable(start_after)}" if start_after else ""
            msg = (
                f"event {index + 1} of {len(data)} on the page{after} has no eventId (got {got}): "
                "an event without its id (text, not blank, without a lone surrogate) can be "
                "neither delivered nor resumed after, so the stream stops before this page (the "
                "state keeps the last full page). Tell Aphex (hello@aphex.co); the next run "
                "retries this page."
            )
            raise UnexpectedResponseError(msg)
        events.append(reader.record(raw, EVENT_FIELDS, f"Event {readable(sent)}"))
    return events


def next_cursor(found: Iterable[object]) -> str | None:
    """The page's ``nextStartAfter`` (what its JSONPath found): an event id, or None at the end.
    Anything but empty must be an id as an `eventId` is (only spaces: a server could read it as
    none; a lone surrogate: no form in a URL)."""
    cursor = next(iter(found), None)
    if cursor is None or cursor == "":
        return None
    if (sent := key_of(cursor)) is None:
        msg = (
            f'"nextStartAfter" is no event id: {no_id_words(cursor)}; the events before it '
            "are delivered. If the next run meets it again, tell Aphex (hello@aphex.co)"
        )
        raise UnexpectedResponseError(msg)
    return sent  # a U+FFFD the vendor sent goes back as it came


def task_record(event: Row, reader: Reader) -> Row | None:
    """The `tasks` record of an event, or None (with a warning) when it changes no task. A
    deletion carries only the id: its record is the id with ``_sdc_deleted_at`` (the event's time
    or, when unreadable, now: a deletion is never lost)."""
    task, kind = event["task"], event["type"]
    if kind not in TASK_CHANGES:
        # None: absent, null, or a misfit the reader has said and kept under `undocumented`.
        what = (
            f"type is {described(kind, 40)}"
            if kind is not None
            else "type is missing or unreadable"
        )
        reader.warn_once(
            ("type", kind),
            f"Event {readable(event['eventId'])}'s {what}, which says nothing documented about "
            "the task: it is in task_events and changes no task (said once per type).",
        )
        return None
    # The task id is a `tasks` key as an event's own id is one (`key_of`). With a lone surrogate
    # it is U+FFFD here (two such ids would be one task), its text as it came under `undocumented`
    # (`_free_name` may add a suffix), where a misfit's value is too.
    task_id = task.get("id") if task is not None else None
    kept = event["undocumented"] or {}
    lone = isinstance(task_id, str) and REPLACEMENT in task_id
    lone = lone and any(path.partition(" (")[0] == "task.id" for path in kept)
    if lone or key_of(task_id) is None:
        if task is None or "id" not in task:
            got = "none"
        elif lone:  # as it came: of the paths alike, the first taken has no suffix
            got = f'a string "{readable(kept["task.id"], 40)}" (it holds a lone surrogate)'
        else:
            got = described(kept.get("task.id", task_id), 40)
        reader.warn_once(
            "task id",
            f"Event {readable(event['eventId'])} names no task id (got {got}; an id is text, not "
            "blank, without a lone surrogate): it is in task_events as it came and changes no "
            "task (said once per run).",
        )
        return None
    produced_by = dict(eventId=event["eventId"], eventType=kind, eventCreatedAt=event["createdAt"])
    if kind == "TaskDeleted":
        deleted_at = event["createdAt"]
        if deleted_at is None:  # a deletion is never lost: it is dated by the run instead
            deleted_at = epoch_to_rfc3339(time.time())
            reader.warn_once(
                "deleted at",
                f"Event {readable(event['eventId'])} deletes task {readable(task['id'])} but its "
                "createdAt is missing or unreadable: the deletion's _sdc_deleted_at is this run's "
                "time instead, not when it happened (said once per run).",
            )
        return {"id": task["id"], **produced_by, "_sdc_deleted_at": deleted_at}
    documented = {key: value for key, value in task.items() if key in TASK_FIELDS}
    undocumented = {key: value for key, value in task.items() if key not in TASK_FIELDS}
    # The event's misfits that belong to the task (and its time) keep their vendor path here too.
    for key, value in (event["undocumented"] or {}).items():
        if key == "createdAt" or key.startswith("task."):
            undocumented[key] = value
    return {
        **documented,
        "undocumented": undocumented or None,
        **produced_by,
        "_sdc_deleted_at": None,
    }


STATUS_FIELDS = tuple((EVENT_FIELDS["task"].inner or {})["statuses"].inner or ())


def status_records(task: Row) -> list[Row]:
    """The `task_statuses` records of a `tasks` record (none for a deletion). A status's
    undocumented keys, and its misfit values kept on the task (``task.statuses[2].value``), go to
    its own ``undocumented``."""
    if task.get("_sdc_deleted_at") or not isinstance(task.get("statuses"), list):
        return []
    misfits = task.get("undocumented") or {}
    records: list[Row] = []
    seen: dict[str, int] = {}
    for index, status in enumerate(task["statuses"]):
        prefix = f"task.statuses[{index}]."
        undocumented = {key: value for key, value in status.items() if key not in STATUS_FIELDS}
        undocumented |= {
            path[len(prefix) :]: value for path, value in misfits.items() if path.startswith(prefix)
        }
        identity = [status.get(name) for name in ("date", "type", "createdAt", "addedBy")]
        digest = hashlib.blake2b(json.dumps(identity).encode(), digest_size=8).hexdigest()
        seen[digest] = seen.get(digest, 0) + 1
        key = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"
        records.append(
            {
                "taskId": task["id"],
                "statusKey": key,
                "projectId": task.get("projectId"),
                **{name: status.get(name) for name in STATUS_FIELDS},
                "undocumented": undocumented or None,
                "eventId": task["eventId"],
                "eventCreatedAt": task["eventCreatedAt"],
            }
        )
    return records


def newest_change_per_task(events: Iterable[Row], reader: Reader) -> list[Row]:
    """The `tasks` records of a page: each task's newest change only, in the order of those. A
    target that upserts on `id` ends the same as with every change, with fewer rows."""
    newest: dict[str, Row] = {}
    for event in events:
        record = task_record(event, reader)
        if record is not None:
            newest.pop(record["id"], None)  # re-inserted last: the order of the newest changes
            newest[record["id"]] = record
    return list(newest.values())


#: Empty pages with a new cursor followed in a row before the log is taken to have no end.
EMPTY_PAGES_FOLLOWED = 20


class EventLogPaginator(BaseAPIPaginator["str | None"]):
    """Follows ``nextStartAfter`` from ``start``. Not the SDK's JSONPath paginator: it starts
    with no token, and stops only on a token equal to the one before, so cursors that lead back
    several pages would loop. An empty page with a new cursor is followed."""

    def __init__(self, jsonpath: str, start: str | None, logger: logging.Logger) -> None:
        super().__init__(start)
        self._jsonpath, self._logger = jsonpath, logger
        self._sent = {start} if start else set()
        self._empty_in_a_row = 0

    @override
    def get_next(self, response: requests.Response) -> str | None:
        if response.status_code == HTTPStatus.NO_CONTENT:
            return None  # "No Data": the end of the log
        payload = t.cast("dict[str, t.Any]", decoded_json(response))  # a dict: read_page checked
        # After the page's events are delivered: a cursor that is no id stops the log there.
        cursor = next_cursor(extract_jsonpath(self._jsonpath, payload))
        if cursor is None or (cursor == self.current_value and not payload["data"]):
            return None  # the end of the log: the last event delivered is the bookmark
        self._empty_in_a_row = 0 if payload["data"] else self._empty_in_a_row + 1
        if self._empty_in_a_row > EMPTY_PAGES_FOLLOWED:  # new cursors, no events: no end in sight
            msg = (
                f"The Data API answered {self._empty_in_a_row} empty pages in a row, each with a "
                f"new cursor (the last asked with {asked(self.current_value)}): stopped rather "
                f"than follow them further; {KEPT}. Report this to Aphex if it happens again."
            )
            raise PaginationLoopError(msg)
        if not payload["data"]:
            self._logger.info(
                "The Data API answered an empty page with a further cursor (%s); following it.",
                readable(cursor),
            )
        if cursor in self._sent:
            msg = (
                f"The Data API answered {asked(self.current_value)} with nextStartAfter="
                f"{readable(cursor)}, a cursor this run already sent: following it would read "
                f"the same events again (a loop in the log's cursors). Stopped; {KEPT}. Report "
                "this to Aphex if it happens again."
            )
            raise PaginationLoopError(msg)
        self._sent.add(cursor)
        return cursor

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        return response.status_code == 200  # a 204 is the end; get_next decides
