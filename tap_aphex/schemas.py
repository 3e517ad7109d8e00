"""JSON schemas of every stream, typed from the vendor's documents: the one home of each field's
name and type (the reader derives its typing tables by `reader.fields_of`, so a field added here is
read and typed with no other change); objects allow additional properties, so that fields the
documents do not name are kept as they came. Then the one way a vendor time becomes a `date-time`.
"""

from __future__ import annotations

import datetime as dt
import typing as t

from singer_sdk import typing as th


def _open_object(values: type[th.JSONTypeHelper[t.Any]] | None = None) -> th.CustomType:
    """An object whose keys are data (resource names, undocumented fields), not a fixed set; without
    `properties`, as the SDK's flattening keeps it whole (one column of JSON text), where an empty
    `properties` drops the column from the SCHEMA while records carry it (a flat-file target
    refuses that)."""
    additional: object = True if values is None else values.type_dict
    return th.CustomType({"type": ["object"], "additionalProperties": additional})


_RESOURCES = _open_object(th.NumberType)

STATUS = th.ObjectType(
    th.Property("date", th.DateTimeType, description="Day the status is attached to."),
    th.Property(
        "type",
        th.StringType,
        description="delay, shortened, completed, onSchedule or completedEarly.",
    ),
    th.Property("name", th.StringType, description="Display name or delay reason."),
    th.Property(
        "category",
        th.StringType,
        description="Delay category when the status was recorded (blank unless a delay).",
    ),
    th.Property(
        "value",
        th.NumberType,
        description="Working days; positive is a delay, negative an improvement.",
    ),
    th.Property("addedBy", th.StringType, description="Email of the user who added it."),
    th.Property("createdAt", th.DateTimeType),
    additional_properties=True,
)


def _task_properties(*, id_required: bool) -> list[th.Property]:  # type: ignore[type-arg]
    return [
        th.Property("id", th.StringType, required=id_required),
        th.Property("calendar", th.StringType),
        th.Property("duration", th.NumberType),
        th.Property("end", th.DateTimeType),
        th.Property("externalId", th.StringType),
        th.Property("labourResources", _RESOURCES),
        th.Property("location", th.StringType),
        th.Property("materialResources", _RESOURCES),
        th.Property("name", th.StringType),
        th.Property("ownerEmail", th.StringType),
        th.Property("ownerName", th.StringType),
        th.Property("packageId", th.StringType),
        th.Property("parentId", th.StringType),
        th.Property("plantResources", _RESOURCES),
        th.Property("projectExternalId", th.StringType),
        th.Property("projectId", th.StringType),
        th.Property("projectName", th.StringType),
        th.Property("shift", th.StringType),
        th.Property("start", th.DateTimeType),
        th.Property("statuses", th.ArrayType(STATUS)),
        th.Property("subcontractor", th.StringType),
        th.Property("successors", th.ArrayType(th.StringType)),
        th.Property("wbsPath", th.StringType),
    ]


_UNDOCUMENTED = th.Property(
    "undocumented",
    _open_object(),
    description="Fields the vendor's documents do not name, kept as they came.",
)

TASK_EVENT = th.PropertiesList(
    th.Property("eventId", th.StringType, required=True),
    th.Property(
        "type",
        th.StringType,
        description="TaskCreated, TaskUpdated or TaskDeleted (null: unreadable, see undocumented).",
    ),
    th.Property("apiVersion", th.StringType),
    th.Property("createdAt", th.DateTimeType, description="When the event happened."),
    th.Property(
        "task",
        # the id is the key of `tasks`, but here only a value: an unreadable one is kept raw
        th.ObjectType(*_task_properties(id_required=False), additional_properties=True),
        description="The full task (Created, Updated) or only its id (Deleted).",
    ),
    _UNDOCUMENTED,
).to_dict()

TASK = th.PropertiesList(
    *_task_properties(id_required=True),
    _UNDOCUMENTED,
    th.Property(
        "eventId",
        th.StringType,
        required=True,
        description="The event that produced this copy of the task.",
    ),
    th.Property("eventType", th.StringType),
    th.Property("eventCreatedAt", th.DateTimeType),
    th.Property(
        "_sdc_deleted_at",
        th.DateTimeType,
        description="When the task was deleted; null while it exists.",
    ),
).to_dict()

#: One status of one task, flat (issue 21): every warehouse reads the central fact without JSON
#: functions. Keyed by task and `statusKey`; `eventId` is the event whose copy of the task carried
#: it, so a status that a later copy dropped keeps an older `eventId` than its task's.
TASK_STATUS = th.PropertiesList(
    th.Property("taskId", th.StringType, required=True),
    th.Property(
        "statusKey",
        th.StringType,
        required=True,
        description="The status within its task: a digest of its date, type, createdAt and "
        "addedBy (-2, -3... for identical repeats in one copy of the task).",
    ),
    th.Property("projectId", th.StringType),
    *STATUS.wrapped.values(),
    _UNDOCUMENTED,
    th.Property(
        "eventId",
        th.StringType,
        required=True,
        description="The event whose copy of the task carried this status.",
    ),
    th.Property("eventCreatedAt", th.DateTimeType),
).to_dict()

# --- published plans -----------------------------------------------------------------------------
# The vendor's fields of a published version and of each table's rows (an ASSUMED shape: see
# docs/assumptions.md) are listed once, here; `streams/plan_document.py` types every value.

#: A published version's own fields, as the document names them (its `id` becomes publishedPlanId).
VENDOR_VERSION_FIELDS = th.PropertiesList(
    th.Property("version", th.IntegerType),
    th.Property("name", th.StringType),
    th.Property("publishedAt", th.DateTimeType, description="When the version was published."),
    th.Property("publishedBy", th.StringType),
    th.Property("comment", th.StringType),
)

#: The fields of a row of each table, by the table's name in the document. A required field is
#: the row's key: a row without it is kept on its version (`undocumented.unkeyed_rows`).
VENDOR_TABLE_FIELDS: dict[str, th.PropertiesList] = {
    "tasks": th.PropertiesList(
        th.Property("taskId", th.StringType, required=True),
        th.Property("name", th.StringType),
        th.Property("start", th.DateTimeType),
        th.Property("end", th.DateTimeType),
        th.Property("duration", th.NumberType),
        th.Property("shift", th.StringType),
        th.Property("ownerName", th.StringType),
        th.Property("ownerEmail", th.StringType),
        th.Property("subcontractor", th.StringType),
        th.Property("wbsPath", th.StringType),
        th.Property("wbsName", th.StringType),
        th.Property("externalId", th.StringType),
        th.Property("packageCode", th.StringType),
        th.Property("packageName", th.StringType),
        th.Property("keyTask", th.BooleanType),
        th.Property("status", th.StringType),
        th.Property("notes", th.StringType),
    ),
    "statuses": th.PropertiesList(
        th.Property("taskId", th.StringType),
        th.Property("date", th.DateTimeType),
        th.Property("type", th.StringType),
        th.Property("name", th.StringType),
        th.Property("category", th.StringType),
        th.Property("value", th.NumberType),
        th.Property("addedBy", th.StringType),
        th.Property("createdAt", th.DateTimeType),
    ),
}

_ACCOUNT_ID = th.Property(
    "accountId", th.StringType, required=True, description="The project's API id."
)
_PUBLISHED_PLAN_ID = th.Property(
    "publishedPlanId", th.StringType, required=True, description="The version's `id`."
)

#: What each table row carries of its version, so that a row stands on its own.
_ROW_KEYS = [
    _ACCOUNT_ID,
    _PUBLISHED_PLAN_ID,
    VENDOR_VERSION_FIELDS.wrapped["version"],
    VENDOR_VERSION_FIELDS.wrapped["publishedAt"],
    th.Property(
        "rowNumber",
        th.IntegerType,
        required=True,
        description="Position of the row in its table in that version.",
    ),
]

PUBLISHED_PLAN = th.PropertiesList(
    _ACCOUNT_ID,
    _PUBLISHED_PLAN_ID,
    *VENDOR_VERSION_FIELDS,
    th.Property("project", _open_object()),
    th.Property(
        "rowCounts",
        _open_object(th.IntegerType),
        description="Rows per table in this version that landed in the table streams.",
    ),
    _UNDOCUMENTED,
).to_dict()

PUBLISHED_PLAN_TASK = th.PropertiesList(
    *_ROW_KEYS, *VENDOR_TABLE_FIELDS["tasks"], _UNDOCUMENTED
).to_dict()

PUBLISHED_PLAN_STATUS = th.PropertiesList(
    *_ROW_KEYS, *VENDOR_TABLE_FIELDS["statuses"], _UNDOCUMENTED
).to_dict()


# --- epoch times ------------------------------------------------------------------------------
# The vendor documents epoch milliseconds, but its own sample status has an 11-digit `createdAt`,
# so a time is read by its magnitude: below 10^11 it is seconds (10^11 s is the year 5138), else
# milliseconds (10^11 ms is March 1973, before any Aphex data). Outside the years 1900-9999 either
# way it is no time: the reader keeps it raw rather than guess.
SECONDS_BELOW = 10**11
_EPOCH_DAY = dt.date(1970, 1, 1).toordinal()
_FIRST_US = -2_208_988_800_000_000  # 1900-01-01T00:00:00.000000Z
_LAST_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z
_DAY_US = 86_400_000_000
_NO_TIME = 10**15  # past either bound in seconds or in milliseconds


def epoch_to_rfc3339(value: float) -> str | None:
    """``value`` (epoch seconds or milliseconds) as ``2021-03-01T08:36:07.389Z``; None if no time.
    In integer microseconds, so the arithmetic is exact (a float division can land 1 ms off); a
    fraction of a millisecond (a float can carry one) is kept, as three more digits."""
    if not -_NO_TIME < value < _NO_TIME:  # first: also infinity, NaN, a 10^1000 Decimal
        return None
    micros = round(value * (1_000_000 if -SECONDS_BELOW < value < SECONDS_BELOW else 1000))
    if not _FIRST_US <= micros <= _LAST_US:
        return None
    days, micros = divmod(micros, _DAY_US)
    day = dt.date.fromordinal(_EPOCH_DAY + days).isoformat()
    if not micros:  # a day-level time (a status's `date`): most of them
        return f"{day}T00:00:00.000Z"
    seconds, micros = divmod(micros, 1_000_000)
    minutes, seconds = divmod(seconds, 60)
    fraction = f"{micros:06}".removesuffix("000")  # milliseconds, and more only if sent
    return f"{day}T{minutes // 60:02}:{minutes % 60:02}:{seconds:02}.{fraction}Z"


def rfc3339_to_datetime(value: str) -> dt.datetime | None:
    """A time this tap wrote (RFC 3339 with a zone), else None (``fromisoformat`` reads "Z" only
    from Python 3.11)."""
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None
