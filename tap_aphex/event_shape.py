"""The Data API's documented JSON, turned into `task_events` and `tasks` records.

Everything that knows the vendor's field names for events lives here. Fields the documents do not
name are kept: inside ``task`` as they come, and at the top level of a record under ``undocumented``
(a target with a fixed schema would otherwise drop a new column silently).
"""

from __future__ import annotations

from typing import Any

from tap_aphex.errors import UnexpectedResponseError
from tap_aphex.timestamps import epoch_ms_to_rfc3339

EVENT_FIELDS = frozenset({"apiVersion", "createdAt", "eventId", "type", "task"})
TASK_FIELDS = frozenset(
    {
        "calendar",
        "duration",
        "end",
        "externalId",
        "id",
        "labourResources",
        "location",
        "materialResources",
        "name",
        "ownerEmail",
        "ownerName",
        "packageId",
        "parentId",
        "plantResources",
        "projectExternalId",
        "projectId",
        "projectName",
        "shift",
        "start",
        "statuses",
        "subcontractor",
        "successors",
        "wbsPath",
    }
)
UPSERT_TYPES = frozenset({"TaskCreated", "TaskUpdated"})
DELETE_TYPE = "TaskDeleted"

Event = dict[str, Any]


def parse_page(payload: object) -> tuple[list[Event], str | None]:
    """Return the events of one 200 response and its ``nextStartAfter`` (None when absent)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        msg = 'expected a JSON object with a "data" list of events'
        raise UnexpectedResponseError(msg)
    events: list[Event] = payload["data"]
    for event in events:
        _check_event(event)
    cursor = payload.get("nextStartAfter")
    if cursor is not None and not isinstance(cursor, str):
        msg = f'"nextStartAfter" should be an event id, got {type(cursor).__name__}'
        raise UnexpectedResponseError(msg)
    return events, cursor or None


def _check_event(event: object) -> None:
    if not (
        isinstance(event, dict)
        and isinstance(event.get("eventId"), str)
        and isinstance(event.get("type"), str)
        and isinstance(event.get("task"), dict)
        and isinstance(event["task"].get("id"), str)
    ):
        msg = f"an event lacks eventId, type or task.id: {str(event)[:200]}"
        raise UnexpectedResponseError(msg)


def event_record(event: Event) -> dict[str, Any]:
    """The `task_events` record: the event as documented, times as RFC 3339."""
    return {
        "eventId": event["eventId"],
        "type": event["type"],
        "apiVersion": event.get("apiVersion"),
        "createdAt": _time(event, event.get("createdAt"), "createdAt"),
        "task": _task_with_times(event),
        "undocumented": _undocumented(event, EVENT_FIELDS),
    }


def task_record(event: Event) -> dict[str, Any] | None:
    """The `tasks` record an event produces, or None for an event type we cannot apply.

    Created and Updated carry the full task, so the record replaces the task; Deleted carries only
    the id, so the record is the id with ``_sdc_deleted_at`` set to the time of the deletion.
    """
    produced_by = {
        "eventId": event["eventId"],
        "eventType": event["type"],
        "eventCreatedAt": _time(event, event.get("createdAt"), "createdAt"),
    }
    if event["type"] == DELETE_TYPE:
        return {
            "id": event["task"]["id"],
            **produced_by,
            "_sdc_deleted_at": produced_by["eventCreatedAt"],
        }
    if event["type"] not in UPSERT_TYPES:
        return None
    task = _task_with_times(event)
    documented = {key: value for key, value in task.items() if key in TASK_FIELDS}
    return {
        **documented,
        "undocumented": _undocumented(task, TASK_FIELDS),
        **produced_by,
        "_sdc_deleted_at": None,
    }


def _task_with_times(event: Event) -> dict[str, Any]:
    task = dict(event["task"])
    for field in ("start", "end"):
        if field in task:
            task[field] = _time(event, task[field], f"task.{field}")
    if isinstance(task.get("statuses"), list):
        task["statuses"] = [_status_with_times(event, status) for status in task["statuses"]]
    return task


def _status_with_times(event: Event, status: object) -> object:
    if not isinstance(status, dict):
        return status
    converted = dict(status)
    for field in ("date", "createdAt"):
        if field in converted:
            converted[field] = _time(event, converted[field], f"task.statuses[].{field}")
    return converted


def _time(event: Event, value: object, where: str) -> str | None:
    try:
        return epoch_ms_to_rfc3339(value)
    except ValueError as error:
        msg = f"event {event['eventId']}: {where}: {error}"
        raise UnexpectedResponseError(msg) from error


def _undocumented(source: dict[str, Any], documented: frozenset[str]) -> dict[str, Any] | None:
    extra = {key: value for key, value in source.items() if key not in documented}
    return extra or None
