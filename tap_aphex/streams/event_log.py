"""The task-event log's rules: a page's events, the cursor between pages, where a run starts.

Event ids are random strings, so the position is "the last event delivered", never "the largest
id". Nothing here speaks HTTP or holds SDK state, so each rule is tested on its own.
"""

from __future__ import annotations

import hashlib
import json
import time
import typing as t
from dataclasses import dataclass
from http import HTTPStatus

from singer_sdk.helpers.jsonpath import extract_jsonpath
from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

from tap_aphex import schemas
from tap_aphex.decoding import decoded_json
from tap_aphex.reader import Reader, Row, epoch_to_rfc3339, fields_of
from tap_aphex.report import PaginationLoopError, UnexpectedResponseError

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import requests

EVENT_FIELDS = fields_of(schemas.TASK_EVENT)
TASK_FIELDS = frozenset(EVENT_FIELDS["task"].inner or ())
UPSERT_TYPES = frozenset({"TaskCreated", "TaskUpdated"})
DELETE_TYPE = "TaskDeleted"


@dataclass(frozen=True)
class EventPage:
    """The events of one response, typed, and where the next page starts (None: the end)."""

    events: list[Row]
    next_start_after: str | None


def read_page(payload: object, reader: Reader, *, start_after: str | None) -> EventPage:
    """A decoded 200 body as typed events; ``start_after`` (the cursor sent) for messages.

    An event without a string ``eventId`` stops the page before any of it is delivered: it could
    be neither delivered nor resumed after, and no cursor is guessed.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        msg = 'the Data API answered without a JSON object holding a "data" list of events'
        raise UnexpectedResponseError(msg)
    data: list[t.Any] = payload["data"]
    events = []
    for index, raw in enumerate(data):
        event_id = raw.get("eventId") if isinstance(raw, dict) else None
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
        events.append(reader.record(raw, EVENT_FIELDS, f"Event {event_id}"))
    return EventPage(events, next_cursor([payload.get("nextStartAfter")]))


def next_cursor(found: Iterable[object]) -> str | None:
    """The page's ``nextStartAfter`` (what its JSONPath found): an event id, or None at the end."""
    cursor = next(iter(found), None)
    if cursor is not None and not isinstance(cursor, str):
        msg = f'"nextStartAfter" is no event id: {type(cursor).__name__} {cursor!r:.40}'
        raise UnexpectedResponseError(msg)
    return cursor or None


def task_record(event: Row, reader: Reader) -> Row | None:
    """The `tasks` record an event produces, or None (with a warning) when it changes no task.

    Created and Updated carry the full task, so the record replaces the task; Deleted carries
    only the id, so the record is the id with ``_sdc_deleted_at`` set to the deletion's time
    (or, when that time is unreadable, the time the tap read it: a deletion is never lost).
    """
    task, kind = event["task"], event["type"]
    if kind not in UPSERT_TYPES and kind != DELETE_TYPE:
        reader.warn_once(
            ("type", kind),
            f"Event {event['eventId']} has type {kind!r:.40}, which says nothing documented "
            "about the task: it is in task_events and changes no task (said once per type).",
        )
        return None
    if task is None or not isinstance(task.get("id"), str):
        reader.warn_once(
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
    if task.keys() <= TASK_FIELDS:  # the usual task: nothing undocumented in it
        documented, undocumented = dict(task), {}
    else:
        documented = {key: value for key, value in task.items() if key in TASK_FIELDS}
        undocumented = {key: value for key, value in task.items() if key not in TASK_FIELDS}
    # The event's misfits that belong to the task (and its time) keep their vendor path here too.
    misfits = event["undocumented"] or {}
    undocumented |= {
        key: value
        for key, value in misfits.items()
        if key == "createdAt" or key.startswith("task.")
    }
    return {
        **documented,
        "undocumented": undocumented or None,
        **produced_by,
        "_sdc_deleted_at": None,
    }


STATUS_FIELDS = tuple((EVENT_FIELDS["task"].inner or {})["statuses"].inner or ())


def status_records(task: Row) -> list[Row]:
    """The `task_statuses` records of one `tasks` record (none for a deletion: it carries none).

    Each status keeps its typed fields; keys the documents do not name, and its values that did
    not fit (kept on the task under their path, ``task.statuses[2].value``), go to its own
    ``undocumented`` by name.
    """
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
    """The `tasks` records of a page: each task's newest change only, in the order of those.

    `tasks` is the current copy of each task, so a task created, updated and deleted within one
    page is one deletion record: a target that upserts on `id` ends the same, with fewer rows.
    """
    newest: dict[str, Row] = {}
    for event in events:
        record = task_record(event, reader)
        if record is not None:
            newest.pop(record["id"], None)  # re-inserted last: the order of the newest changes
            newest[record["id"]] = record
    return list(newest.values())


class EventLogPaginator(BaseAPIPaginator["str | None"]):
    """Follows the stream's ``next_page_token_jsonpath`` (``nextStartAfter``) from ``start``.

    By hand, beside the SDK's JSONPath paginator: that one always starts with no token, and stops
    only on a token equal to the one before it, while a log whose cursors lead back several pages
    would be read again and again. An empty page with a new cursor is followed (an empty page
    with none, or the same one, is the end of the log).
    """

    def __init__(self, jsonpath: str, start: str | None) -> None:
        super().__init__(start)
        self._jsonpath = jsonpath
        self._sent = {start} if start else set()

    @override
    def get_next(self, response: requests.Response) -> str | None:
        if response.status_code == HTTPStatus.NO_CONTENT:
            return None  # "No Data": the end of the log
        payload = t.cast("dict[str, t.Any]", decoded_json(response))  # a dict: read_page checked
        cursor = next_cursor(extract_jsonpath(self._jsonpath, payload))
        if cursor is None or (cursor == self.current_value and not payload["data"]):
            return None  # the end of the log: the last event delivered is the bookmark
        if cursor in self._sent:
            msg = (
                f"The Data API answered startAfter={self.current_value} with nextStartAfter="
                f"{cursor}, a cursor this run already sent: following it would read the same "
                "events again (a loop in the log's cursors). Stopped; the state keeps the last "
                "event delivered. Report this to Aphex if it happens again."
            )
            raise PaginationLoopError(msg)
        self._sent.add(cursor)
        return cursor

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        return response.status_code == 200  # a 204 is the end; get_next decides


@dataclass(frozen=True)
class Bookmark:
    """One stream's position in the state: an event id, nothing (first run), or unusable."""

    stream: str
    value: str | None
    problem: str | None = None  # why the state's entry cannot be used, said in the warning


def read_bookmark(stream: str, entry: object, replication_key: str) -> Bookmark:
    """The bookmark in ``entry`` (the stream's part of the state, as the SDK holds it).

    Read from the state itself: the SDK's starting value would fall back to a configured
    ``start_date``, which is a date and never an event id.
    """
    if not isinstance(entry, dict):
        return Bookmark(stream, None, f"its entry is {_shown(entry)}, not an object")
    if "replication_key" not in entry and "replication_key_value" not in entry:
        if set(entry) <= _SDK_HOUSEKEEPING and not entry.get("partitions"):
            return Bookmark(stream, None)  # never delivered anything: not a problem
        # Something is there, but no position the tap wrote: never read as "nothing yet".
        if "progress_markers" in entry:
            why = "it holds only the SDK's progress_markers (an unconfirmed position), no bookmark"
        else:
            keys = ", ".join(f"`{key:.30}`" for key in list(entry)[:4])
            why = f"it has no replication_key_value, only {keys}"
        return Bookmark(stream, None, why)
    key, value = entry.get("replication_key"), entry.get("replication_key_value")
    if key != replication_key:
        return Bookmark(
            stream, None, f"its replication_key is {_shown(key)}, not {replication_key}"
        )
    if not isinstance(value, str):
        return Bookmark(stream, None, f"its replication_key_value is {_shown(value)}, not an id")
    if not value.strip():
        return Bookmark(stream, None, "its replication_key_value is empty")
    return Bookmark(stream, value)


#: What the SDK writes in a stream's entry besides a position (none of it is one).
_SDK_HOUSEKEEPING = frozenset(
    {"starting_replication_value", "replication_key_signpost", "partitions"}
)


def _shown(value: object) -> str:
    return f"{type(value).__name__} {value!r:.40}" if value is not None else "missing"


@dataclass(frozen=True)
class Start:
    """Where a run starts reading the log, where that came from, and what to warn about."""

    cursor: str | None
    origin: t.Literal["state", "start_after", "beginning"]
    warning: str | None = None

    def describe(self) -> str:
        if self.cursor is None:
            return "from the first event"
        source = "the state" if self.origin == "state" else "`start_after`"
        return f"after event {self.cursor} ({source})"


def start_of_run(bookmarks: Iterable[Bookmark], start_after: str | None) -> Start:
    """Where a run that feeds the streams of ``bookmarks`` (the selected ones) starts.

    Streams fed by one pass checkpoint together, so their bookmarks agree. They differ only when
    the selection changed between runs (or the state was edited); positions in the log cannot be
    compared, so the only start that loses nothing for any of them is the configured beginning.
    """
    marks = sorted(bookmarks, key=lambda mark: mark.stream)
    fallback = Start(start_after, "start_after") if start_after else Start(None, "beginning")
    values = {mark.value for mark in marks}
    problems = [mark for mark in marks if mark.problem]
    if not problems and len(values) == 1:
        (shared,) = values
        return Start(shared, "state") if shared is not None else fallback
    where = f"after start_after={start_after}" if start_after else "from the first event of the log"
    if problems:
        by_problem: dict[str, list[str]] = {}
        for mark in problems:
            by_problem.setdefault(str(mark.problem), []).append(mark.stream)
        why = "; ".join(
            f"the bookmark of {' and '.join(names)} is unusable: {problem}"
            for problem, names in by_problem.items()
        )
    elif len(values - {None}) == 1:  # some streams have a position, the others none at all
        (shared,) = values - {None}
        new = " and ".join(mark.stream for mark in marks if mark.value is None)
        why = (
            f"{new} has no bookmark while the others are at event {shared} (a stream newly "
            "selected, or a state written by a version of the tap without it); the whole log is "
            "read again, which spends the daily quota (20,000 events a day) for as many days as "
            f"the log is long. To go on from event {shared} instead, deselect {new}"
        )
    else:
        listed = ", ".join(f"{mark.stream}={mark.value or 'none'}" for mark in marks)
        why = f"the bookmarks differ ({listed}; the selection changed since the last run)"
    warning = (
        f"State: {why}. Reading {where} so that no stream misses an event; records already "
        "delivered may be sent again. To start elsewhere, set `start_after` or fix the state."
    )
    return Start(fallback.cursor, fallback.origin, warning)


def resume_words(last_delivered: str | None, start: Start | None) -> str:
    """Where the next run resumes, in words for the closing summary."""
    if last_delivered is not None:
        return f"after event {last_delivered}"
    return start.describe() if start is not None else "from the first event"


def refused_cursor_advice(refused: str, cursor_sent: str | None, start: Start | None) -> str:
    """``refused`` (the Data API's 400, worded) with what to do about the cursor that was sent."""
    if cursor_sent and start is not None and cursor_sent != start.cursor:
        return (
            f"{refused} That cursor is the nextStartAfter of the Data API's previous page; "
            "the state keeps the last event delivered, so the next run asks again from there."
        )
    if cursor_sent and start is not None and start.origin == "state":
        return (
            f"{refused} The cursor is the last event in the state of task_events/tasks. To "
            "start again from `start_after` (or the first event), clear that state: "
            "`meltano state clear <state id>` (`meltano state list` shows it), or run "
            "tap-aphex without `--state`."
        )
    return f"{refused} Check `start_after` (an eventId you received) and `page_size`."
