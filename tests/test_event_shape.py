"""The Data API's events as records: a tolerant reader with a strict writer (no HTTP here)."""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import re
import typing as t

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from schema_check import schema_errors, validator
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
    fields_of,
)
from tap_aphex.event_fits import fitting_page
from tap_aphex.event_shape import SKIP_AFTER_MISFIT, EventReader
from tap_aphex.timestamps import SECONDS_BELOW, TimeOutOfRange, epoch_to_rfc3339

from tap_aphex import event_shape, schemas
from tap_aphex.errors import UnexpectedResponseError

TASK_EVENTS_SCHEMA = validator(schemas.TASK_EVENT)
TASKS_SCHEMA = validator(schemas.TASK)

# The vendor's own sample (its document's JSON is not valid JSON; this is the same event, fixed).
VENDOR_SAMPLE: dict[str, t.Any] = {
    "apiVersion": "v1",
    "createdAt": 1614587767389,
    "eventId": "FO8097npw2KzZaFoya1O",
    "task": {
        "calendar": "Five Day",
        "duration": 1,
        "end": 1614297600000,
        "externalId": "",
        "id": "6LFkmZqBmdA4oByyLP2N",
        "labourResources": {"Carpenters": 4},
        "location": "",
        "materialResources": {"Concrete Panels": 24},
        "name": "New Task",
        "ownerEmail": "e.williams@aphex.co",
        "ownerName": "Elliot Williams",
        "packageId": "2349mgeg43ksgmerer",
        "parentId": "",
        "plantResources": {"100T Excavator": 2},
        "projectExternalId": "234mfksd433m45ks",
        "projectId": "U2qmd9CVWG0k5EvFxlp9",
        "projectName": "Aphex Fire",
        "shift": "day",
        "start": 1614211200000,
        "statuses": [
            {
                "date": 1614902400000,
                "type": "onSchedule",
                "name": "On Schedule",
                "value": -2,
                "addedBy": "e.musk@tesla.com",
                "createdAt": 23423423523,
            },
            {
                "date": 1614905300000,
                "type": "delay",
                "name": "Insufficient Resources",
                "category": "Resources",
                "value": 2,
                "addedBy": "e.musk@tesla.com",
                "createdAt": 23423423523,
            },
        ],
        "subcontractor": "",
        "successors": ["fasdwr4gen2nbReyLP2N"],
        "wbsPath": "",
    },
    "type": "TaskCreated",
}


class Warnings(logging.Handler):
    """The WARNING lines a reader logs."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def fields(self) -> list[str]:
        return [m for line in self.lines for m in re.findall(r"once per run for (\S+)\)", line)]


def new_reader() -> tuple[EventReader, Warnings]:
    logger = logging.Logger("event_shape_test")  # not registered: one per reader
    warnings = Warnings()
    logger.addHandler(warnings)
    return EventReader(logger), warnings


def sample(**top: t.Any) -> dict[str, t.Any]:
    event = copy.deepcopy(VENDOR_SAMPLE)
    event.update(top)
    return event


def read(*events: object, reader: EventReader | None = None) -> list[Event]:
    return (
        (reader or new_reader()[0]).page(body({"data": list(events), "nextStartAfter": "n"})).events
    )


def body(payload: object) -> bytes:
    """A page as the Data API sends it (the reader decodes the bytes itself)."""
    return msgspec.json.encode(payload)


def same(typed: object, raw: object) -> bool:
    """Equal and of the same types all the way down (``True == 1`` and ``1 == 1.0`` are not)."""
    if type(typed) is not type(raw):
        return False
    if isinstance(raw, dict):
        assert isinstance(typed, dict)
        return typed.keys() == raw.keys() and all(same(typed[k], raw[k]) for k in raw)
    if isinstance(raw, list):
        assert isinstance(typed, list)
        return len(typed) == len(raw) and all(map(same, typed, raw))
    return typed == raw


_STEP = re.compile(r"\.?([^.\[]+)|\[(\d+)\]")


def steps(path: str) -> list[str | int]:
    return [name if name else int(index) for name, index in _STEP.findall(path)]


def parent_of(event: dict[str, t.Any], path: str) -> tuple[t.Any, str | int]:
    """The object or list holding the value at ``path``, and its key or index there."""
    *parents, last = steps(path)
    target: t.Any = event
    for step in parents:
        target = target[step]
    return target, last


def put(event: dict[str, t.Any], path: str, value: object) -> dict[str, t.Any]:
    target, last = parent_of(event, path)
    target[last] = value
    return event


def get(record: dict[str, t.Any], path: str) -> object:
    target: t.Any = record
    for step in steps(path):
        target = target[step]
    return target


# --- values that fit land typed -------------------------------------------------------------


def test_the_vendors_own_sample_lands_fully_typed_with_nothing_left_over() -> None:
    reader, warnings = new_reader()
    (event,) = read(sample(), reader=reader)

    record = reader.event_record(event)
    assert record["createdAt"] == "2021-03-01T08:36:07.389Z"
    assert record["task"]["start"] == "2021-02-25T00:00:00.000Z"
    # 11 digits: below 10^11 it is read as seconds, as `timestamps` documents
    assert record["task"]["statuses"][0]["createdAt"] == epoch_to_rfc3339(23423423523)
    assert record["task"]["labourResources"] == {"Carpenters": 4}
    assert record["undocumented"] is None
    assert warnings.lines == []
    assert schema_errors(TASK_EVENTS_SCHEMA, record) == []
    task = reader.task_record(event)
    assert task is not None
    assert schema_errors(TASKS_SCHEMA, task) == []
    assert set(task) - {"undocumented", "eventId", "eventType", "eventCreatedAt"} == {
        *TASK_FIELDS,
        "_sdc_deleted_at",
    }


@pytest.mark.parametrize(
    ("path", "value", "typed"),
    [
        ("createdAt", 1614587767, "2021-03-01T08:36:07.000Z"),  # seconds
        ("createdAt", 1614587767.389, "2021-03-01T08:36:07.389Z"),  # seconds with a fraction
        ("task.duration", 1.5, 1.5),
        ("task.statuses[0].value", -2, -2),
        ("task.statuses[0].value", 0.5, 0.5),
        ("task.materialResources", {"Panels": 2.5}, {"Panels": 2.5}),
        ("task.name", "", ""),
        ("task.start", None, None),
        ("apiVersion", None, None),
    ],
)
def test_values_that_fit_their_documented_type_land_typed(
    path: str, value: object, typed: object
) -> None:
    reader, warnings = new_reader()
    (event,) = read(put(sample(), path, value), reader=reader)

    assert get(event, path) == typed
    assert type(get(event, path)) is type(typed)
    assert event["undocumented"] is None
    assert warnings.lines == []


def test_absent_keys_stay_absent_and_a_deletion_carries_only_the_id() -> None:
    reader, _ = new_reader()
    (event,) = read(
        {"eventId": "e1", "type": "TaskDeleted", "createdAt": 1614587776549, "task": {"id": "t1"}},
        reader=reader,
    )

    assert reader.event_record(event) == {
        "eventId": "e1",
        "type": "TaskDeleted",
        "apiVersion": None,
        "createdAt": "2021-03-01T08:36:16.549Z",
        "task": {"id": "t1"},
        "undocumented": None,
    }
    assert reader.task_record(event) == {
        "id": "t1",
        "eventId": "e1",
        "eventType": "TaskDeleted",
        "eventCreatedAt": "2021-03-01T08:36:16.549Z",
        "_sdc_deleted_at": "2021-03-01T08:36:16.549Z",
    }


# --- values that do not fit are kept raw, never coerced ---------------------------------------

MISFITS = [
    ("createdAt", "1614587767389"),  # a number as a string
    ("createdAt", 1e20),  # no time in either unit
    ("createdAt", True),  # a bool is not a number
    ("apiVersion", 2),
    ("type", 5),
    ("task", "6LFkmZqBmdA4oByyLP2N"),  # the task as a bare id
    ("task.id", 42),
    ("task.start", "2021-03-01"),
    ("task.end", -1e300),
    ("task.duration", "12"),
    ("task.duration", False),
    ("task.duration", [1]),
    ("task.name", 12),
    ("task.name", {"en": "New Task"}),
    ("task.successors", "fasdwr4gen2nbReyLP2N"),
    ("task.successors[0]", 5),
    ("task.statuses", {"date": 1614902400000}),
    ("task.statuses[1]", "delay"),
    ("task.statuses[1].createdAt", 1e20),
    ("task.statuses[0].value", "2"),
    ("task.statuses[0].date", "2021-03-05"),
    ("task.labourResources", ["Carpenters"]),
    ("task.labourResources.Carpenters", "4"),
    ("task.labourResources.Carpenters", None),  # a map entry is a number, never null
    ("task.plantResources.100T Excavator", True),
]


@pytest.mark.parametrize(("path", "value"), MISFITS)
def test_a_value_that_does_not_fit_is_kept_raw_under_its_vendor_path_and_typed_null(
    path: str, value: object
) -> None:
    reader, warnings = new_reader()
    (event,) = read(put(sample(), path, value), reader=reader)
    record = reader.event_record(event)

    assert record["undocumented"] == {path: value}
    assert type(record["undocumented"][path]) is type(value)
    if path.endswith("]"):  # an entry of a list is left out; the others stay
        container = path[: path.rindex("[")]
        assert len(get(record, container)) == len(get(VENDOR_SAMPLE, container)) - 1  # type: ignore[arg-type]
    elif path.startswith(("task.labourResources.", "task.plantResources.")):  # a map's, likewise
        parent, _, name = path.rpartition(".")
        assert name not in get(record, parent)  # type: ignore[operator]
    else:
        assert get(record, path) is None
    assert schema_errors(TASK_EVENTS_SCHEMA, record) == []
    (warning,) = warnings.lines
    assert "FO8097npw2KzZaFoya1O" in warning
    assert path in warning


@pytest.mark.parametrize(("path", "value"), [(p, v) for p, v in MISFITS if p.startswith("task.")])
def test_a_tasks_record_keeps_the_raw_task_value_too(path: str, value: object) -> None:
    reader, _ = new_reader()
    (event,) = read(put(sample(), path, value), reader=reader)

    task = reader.task_record(event)

    if path == "task.id":  # the key of `tasks`: this event changes no task
        assert task is None
    else:
        assert task is not None
        assert task["undocumented"] == {path: value}
        assert schema_errors(TASKS_SCHEMA, task) == []


def test_one_warning_per_field_per_run_naming_the_first_event() -> None:
    reader, warnings = new_reader()
    events = [sample(eventId=f"e{n}") for n in range(3)]
    for event in events:
        event["task"]["start"] = "soon"
        event["task"]["statuses"][0]["value"] = "2"
        event["task"]["statuses"][1]["value"] = "3"

    typed = read(*events, reader=reader)

    assert sorted(warnings.fields()) == ["task.start", "task.statuses[].value"]
    assert all("Event e0:" in line for line in warnings.lines)
    assert [e["undocumented"]["task.statuses[1].value"] for e in typed] == ["3", "3", "3"]
    read(sample(eventId="e9", createdAt="now"), reader=reader)
    assert warnings.fields()[-1] == "createdAt"
    _, next_run = new_reader()
    assert next_run.lines == []


def test_a_deletion_whose_time_is_unreadable_is_still_a_deletion() -> None:
    reader, _ = new_reader()
    (event,) = read({"eventId": "e1", "type": "TaskDeleted", "createdAt": "x", "task": {"id": "t"}})

    task = reader.task_record(event)

    assert task is not None
    assert task["eventCreatedAt"] is None
    assert task["_sdc_deleted_at"] is not None  # the time the tap read it
    assert event["undocumented"] == {"createdAt": "x"}
    assert schema_errors(TASKS_SCHEMA, task) == []


# --- fields nobody documented -----------------------------------------------------------------


def test_fields_nobody_documented_are_kept_where_they_came_or_under_undocumented() -> None:
    raw = sample(region="EMEA")
    raw["task"]["priority"] = "high"
    raw["task"]["statuses"][0]["colour"] = "red"
    reader, warnings = new_reader()

    (event,) = read(raw, reader=reader)
    record, task = reader.event_record(event), reader.task_record(event)

    assert record["undocumented"] == {"region": "EMEA"}
    assert record["task"]["priority"] == "high"
    assert record["task"]["statuses"][0]["colour"] == "red"
    assert task is not None
    assert task["undocumented"] == {"priority": "high"}
    assert "priority" not in task
    assert task["statuses"][0]["colour"] == "red"
    assert warnings.lines == []


@pytest.mark.parametrize("kind", ["TaskArchived", None])
def test_an_event_type_nobody_documented_changes_no_task_with_one_warning(kind: object) -> None:
    reader, warnings = new_reader()
    events = read(sample(eventId="a", type=kind), sample(eventId="b", type=kind), reader=reader)

    assert [reader.task_record(event) for event in events] == [None, None]
    assert len([line for line in warnings.lines if "changes no task" in line]) == 1
    assert [e["type"] for e in events] == [kind, kind]


def test_the_task_events_record_is_a_fresh_copy_the_sdk_may_prune() -> None:
    reader, _ = new_reader()
    (event,) = read(sample())

    record = reader.event_record(event)
    del record["task"]["name"]  # what the SDK does in place for a deselected property

    task = reader.task_record(event)
    assert task is not None
    assert task["name"] == "New Task"


# --- identity and pages -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        {"type": "TaskCreated"},
        {"eventId": 17},
        {"eventId": None},
        {"eventId": ""},  # no position to resume after: a bookmark must be a real id
        {"eventId": " \t"},
        "FO8097",
        None,
        [],
    ],
)
def test_an_event_without_an_id_stops_the_page_naming_its_position(entry: object) -> None:
    reader, _ = new_reader()
    with pytest.raises(UnexpectedResponseError, match=r"event 2 of 3 on the page after c0 has no"):
        reader.page(body({"data": [sample(), entry, sample()]}), start_after="c0")


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"data": [], "nextStartAfter": "abc"}, "abc"),
        ({"data": []}, None),
        ({"data": [], "nextStartAfter": None}, None),
        ({"data": [], "nextStartAfter": ""}, None),
    ],
)
def test_an_absent_null_or_empty_next_start_after_is_the_end(
    payload: dict[str, t.Any], expected: str | None
) -> None:
    assert new_reader()[0].page(body(payload)).next_start_after == expected


@pytest.mark.parametrize(
    "payload", [[], "x", None, {"data": {}}, {"events": []}, {"data": [], "nextStartAfter": 12}]
)
def test_a_body_that_is_not_a_page_is_refused_with_a_clear_error(payload: object) -> None:
    with pytest.raises(UnexpectedResponseError):
        new_reader()[0].page(body(payload))


def test_a_schema_the_reader_cannot_type_fails_at_import_not_on_the_wire() -> None:
    schema = {"type": "object", "properties": {"odd": {"type": ["string", "integer"]}}}
    with pytest.raises(TypeError, match="cannot type odd"):
        fields_of(schema)
    with pytest.raises(TypeError, match="cannot type"):
        fields_of({"type": "object", "properties": {"odd": {"type": "array", "items": {}}}})


# --- properties over generated events ---------------------------------------------------------

_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
)
JUNK = st.recursive(
    _leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
_TIMES = st.sampled_from([1614587767389, 1614587767, 23423423523, 10**20, -(10**13)]) | st.integers(
    -(10**15), 10**15
)
_NUMBERS = st.integers(-1000, 1000) | st.floats(-1e6, 1e6, allow_nan=False)


def good(field: Field) -> st.SearchStrategy[t.Any]:
    kind = field.kind
    if kind == STRING:
        return st.text(max_size=6)
    if kind == DATETIME:
        return _TIMES | st.floats(-1e12, 1e16)
    if kind == NUMBER:
        return _NUMBERS
    if kind == INTEGER:
        return st.integers(-1000, 1000)
    if kind == BOOLEAN:
        return st.booleans()
    if kind == NUMBER_MAP:
        return st.dictionaries(st.text(max_size=4), _NUMBERS | _leaf | JUNK, max_size=3)
    if kind == STRING_LIST:
        return st.lists(st.one_of(*[st.text(max_size=4)] * 3, _leaf, JUNK), max_size=3)
    inner = objects(field.inner or {})
    return st.lists(st.one_of(*[inner] * 3, _leaf), max_size=2) if kind == OBJECT_LIST else inner


def objects(fields: dict[str, Field]) -> st.SearchStrategy[dict[str, t.Any]]:
    """Objects with most documented keys, each good or not (3 in 5 good), and unknown keys."""
    values = {name: st.one_of(*[good(f)] * 3, _leaf, JUNK) for name, f in fields.items()}
    return st.builds(
        lambda known, absent, extra: {
            **extra,
            **{name: value for name, value in known.items() if name not in absent},
        },
        st.fixed_dictionaries(values),
        st.sets(st.sampled_from(sorted(fields)), max_size=3),
        st.dictionaries(st.text(max_size=5).filter(lambda k: k not in fields), JUNK, max_size=2),
    )


GENERATED = st.builds(
    lambda event, event_id, kind: {**event, "eventId": event_id, "type": kind},
    objects({k: f for k, f in EVENT_FIELDS.items() if k not in ("eventId", "type")}),
    st.text(min_size=1, max_size=8).filter(str.strip),  # an id is more than spaces
    st.sampled_from(["TaskCreated", "TaskUpdated", "TaskDeleted", "TaskArchived"]) | JUNK,
)


def paths(value: object, path: str = "") -> list[str]:
    """Every path in the vendor's JSON of ``value``: "task", "task.statuses[1].value", ..."""
    inner: list[tuple[str, object]] = []
    if isinstance(value, dict):
        inner = [(f"{path}.{k}" if path else k, v) for k, v in value.items()]
    elif isinstance(value, list):
        inner = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
    return [p for sub, v in inner for p in (sub, *paths(v, sub))]


def mutated(changes: list[tuple[str, object]], dropped: list[str]) -> dict[str, t.Any]:
    event = sample()
    for path, value in changes:
        with contextlib.suppress(LookupError, TypeError):  # a parent replaced earlier
            put(event, path, value)
    for path in dropped:
        with contextlib.suppress(LookupError, TypeError):
            target, last = parent_of(event, path)
            if isinstance(target, dict):  # a key dropped (list entries stay)
                del target[last]
    return event


_SAMPLE_PATHS = [p for p in paths(VENDOR_SAMPLE) if p != "eventId"]
_ANY = st.one_of(st.text(max_size=4), st.booleans(), st.none(), _TIMES, _NUMBERS, JUNK)
#: The vendor's sample with a few values replaced (fitting or not) and a few keys dropped.
MUTATED = st.builds(
    mutated,
    st.lists(st.tuples(st.sampled_from(_SAMPLE_PATHS), _ANY), min_size=1, max_size=8),
    st.lists(st.sampled_from(_SAMPLE_PATHS), max_size=2),
)
EVENTS = MUTATED | GENERATED


def expect_object(
    raw: dict[str, t.Any],
    typed: dict[str, t.Any],
    fields: dict[str, Field],
    path: str,
    kept: dict[str, t.Any],
) -> list[str]:
    """Assert ``typed`` is ``raw`` typed by the rules; return the fields of values that misfit."""
    misfit: list[str] = []
    for key, value in raw.items():
        field = fields.get(key)
        if field is None:
            assert same(typed[key] if path else kept[key], value)  # unknown: kept as it came
        elif value is None:
            assert typed[key] is None
        else:
            misfit += expect_value(field, value, typed[key], f"{path}{key}", kept)
    return misfit


def expect_value(
    field: Field, value: t.Any, typed: t.Any, path: str, kept: dict[str, t.Any]
) -> list[str]:
    kind, cls = field.kind, type(value)
    if kind == OBJECT and cls is dict:
        return expect_object(value, typed, field.inner or {}, f"{path}.", kept)
    if kind == NUMBER_MAP and cls is dict:
        misfit = []
        for name, entry in value.items():
            if type(entry) in (int, float):
                assert same(typed[name], entry)
            else:
                assert name not in typed
                assert same(kept[f"{path}.{name}"], entry)
                misfit.append(field.where)
        return misfit
    if kind in (STRING_LIST, OBJECT_LIST) and cls is list:
        misfit, fitting = [], iter(typed)
        for index, item in enumerate(value):
            if kind == STRING_LIST and type(item) is str:
                assert same(next(fitting), item)
            elif kind == OBJECT_LIST and type(item) is dict:
                misfit += expect_object(
                    item, next(fitting), field.inner or {}, f"{path}[{index}].", kept
                )
            else:
                assert same(kept[f"{path}[{index}]"], item)
                misfit.append(field.where)
        assert next(fitting, None) is None
        return misfit
    if (kind, cls) in {(STRING, str), (BOOLEAN, bool), (INTEGER, int)}:
        assert same(typed, value)
        return []
    if kind == NUMBER and cls in (int, float) and math.isfinite(value):
        assert same(typed, value)
        return []
    if kind == DATETIME and cls in (int, float):
        try:
            assert typed == epoch_to_rfc3339(value)
            return []
        except TimeOutOfRange:
            pass
    assert typed is None
    assert same(kept[path], value)
    return [field.where]


@settings(max_examples=200, deadline=None)
@given(st.lists(EVENTS, max_size=4))
def test_generated_events_are_typed_or_kept_raw_and_every_record_is_valid(
    raws: list[t.Any],
) -> None:
    reader, warnings = new_reader()

    sent = body({"data": raws, "nextStartAfter": None})
    raws = msgspec.json.decode(sent)["data"]  # what the reader reads: e.g. -0 is 0 once in JSON
    page = reader.page(sent)

    misfit_fields: set[str] = set()
    for raw, event in zip(raws, page.events, strict=True):
        record = reader.event_record(event)
        kept = record["undocumented"] or {}
        misfits = expect_object(raw, record, EVENT_FIELDS, "", kept)
        assert len(kept) == len(misfits) + len(raw.keys() - EVENT_FIELDS.keys())  # nothing else
        misfit_fields.update(misfits)
        assert schema_errors(TASK_EVENTS_SCHEMA, record) == []
        task = reader.task_record(event)
        if task is not None:
            assert schema_errors(TASKS_SCHEMA, task) == []
            assert task["id"] == raw["task"]["id"]
    assert sorted(warnings.fields()) == sorted(misfit_fields)


@settings(max_examples=200, deadline=None)
@given(st.lists(EVENTS | JUNK, max_size=4), JUNK)
def test_any_page_is_read_or_refused_with_the_documented_error(
    data: list[t.Any], cursor: t.Any
) -> None:
    reader, _ = new_reader()
    identified = all(
        isinstance(e, dict) and isinstance(e.get("eventId"), str) and e["eventId"].strip()
        for e in data
    )
    try:
        page = reader.page(body({"data": data, "nextStartAfter": cursor}))
    except UnexpectedResponseError:
        assert not identified or not (cursor is None or isinstance(cursor, str))
    else:
        assert len(page.events) == len(data)
        assert page.next_start_after == (cursor or None)


# --- the fast way for pages that fit (event_fits) -----------------------------------------------


def in_range_times() -> st.SearchStrategy[int | float]:
    seconds = st.integers(-2_208_988_800, SECONDS_BELOW - 1) | st.floats(0, 4e9)
    return seconds | st.integers(SECONDS_BELOW, 253_402_300_799_999)


def fitting(field: Field) -> st.SearchStrategy[t.Any]:
    """Values that fit ``field`` (null included), with times in range."""
    scalars: dict[str, st.SearchStrategy[t.Any]] = {
        STRING: st.text(max_size=6),
        DATETIME: in_range_times(),
        NUMBER: _NUMBERS,
        INTEGER: st.integers(-(2**70), 2**70),
        BOOLEAN: st.booleans(),
        NUMBER_MAP: st.dictionaries(st.text(max_size=4), _NUMBERS, max_size=3),
        STRING_LIST: st.lists(st.text(max_size=4), max_size=3),
    }
    value = scalars.get(field.kind)
    if value is None:
        inner = fitting_objects(field.inner or {})
        value = st.lists(inner, max_size=2) if field.kind == OBJECT_LIST else inner
    return st.none() | value


def fitting_objects(fields: dict[str, Field]) -> st.SearchStrategy[dict[str, t.Any]]:
    """Objects with any of their documented keys, each fitting, and no other key."""
    return st.fixed_dictionaries({}, optional={name: fitting(f) for name, f in fields.items()})


FITTING = st.builds(
    lambda event, event_id: {**event, "eventId": event_id},
    fitting_objects({k: f for k, f in EVENT_FIELDS.items() if k != "eventId"}),
    st.text(min_size=1, max_size=8).filter(str.strip),  # an id is more than spaces
)


def read_both_ways(sent: bytes) -> tuple[object, object, list[str], list[str]]:
    """The page (or the error) from a reader that checks whole pages and from one that doesn't."""
    outcomes: list[object] = []
    said: list[list[str]] = []
    for check_whole_pages in (True, False):
        reader, warnings = new_reader()
        reader.check_whole_pages = check_whole_pages
        try:
            page = reader.page(sent, start_after="c0")
            outcomes.append((page.events, page.next_start_after))
        except UnexpectedResponseError as error:
            outcomes.append(str(error))
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as error:
            outcomes.append(type(error))  # not JSON: the caller words it
        said.append(warnings.lines)
    return outcomes[0], outcomes[1], said[0], said[1]


@settings(max_examples=200, deadline=None)
@given(st.lists(FITTING, max_size=4), st.none() | st.text(max_size=4))
def test_a_page_that_fits_takes_the_fast_way_to_the_same_records(
    events: list[dict[str, t.Any]], cursor: str | None
) -> None:
    sent = body({"data": events, "nextStartAfter": cursor})
    assert fitting_page(sent) is not None
    fast, slow, fast_said, slow_said = read_both_ways(sent)
    assert fast == slow
    assert fast_said == slow_said == []


@settings(max_examples=300, deadline=None)
@given(st.lists(FITTING | EVENTS | JUNK, max_size=4), JUNK | st.text(max_size=4))
def test_any_page_reads_the_same_with_or_without_the_fast_way(
    data: list[t.Any], cursor: object
) -> None:
    fast, slow, fast_said, slow_said = read_both_ways(
        body({"data": data, "nextStartAfter": cursor})
    )
    assert fast == slow
    assert fast_said == slow_said


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"organisationId": "o1"}, "an unknown key at the top"),
        ({"task": {**VENDOR_SAMPLE["task"], "colour": "red"}}, "an unknown key in the task"),
        ({"createdAt": 10**20}, "a time out of range"),
        ({"createdAt": "2021-03-01"}, "a misfit"),
    ],
)
def test_a_page_that_does_not_fit_is_read_field_by_field(
    change: dict[str, t.Any], why: str
) -> None:
    sent = body({"data": [sample(), sample(**change)], "nextStartAfter": None})
    assert fitting_page(sent) is None, why
    fast, slow, _, _ = read_both_ways(sent)
    assert fast == slow


def test_keys_absent_or_null_read_the_same_both_ways() -> None:
    task = {k: v for k, v in VENDOR_SAMPLE["task"].items() if k not in ("end", "statuses")}
    sent = body({"data": [sample(task={**task, "start": None}, createdAt=None)]})
    assert fitting_page(sent) is not None
    fast, slow, _, _ = read_both_ways(sent)
    assert fast == slow
    [event] = read(sample(task={**task, "start": None}, createdAt=None))
    assert event["createdAt"] is None
    assert event["task"]["start"] is None
    assert "end" not in event["task"]  # absent inside an object stays absent


@pytest.mark.parametrize(
    "extra",
    [b'"\xff"', b'"\xed\xa0\x80"', b"1e400", b"[" * 100_000 + b"]" * 100_000, b'{"a": "\xc0\x80"}'],
)
def test_what_is_beside_the_events_is_checked_the_fast_way_too(extra: bytes) -> None:
    events = body([sample()])
    for sent in (
        b'{"extra": ' + extra + b', "data": ' + events + b"}",
        b'{"data": ' + events + b', "extra": ' + extra + b"}",
    ):
        assert fitting_page(sent) is None
        fast, slow, _, _ = read_both_ways(sent)
        assert fast == slow
        assert isinstance(fast, type)  # refused as no JSON, both ways


@pytest.mark.parametrize("first", ["vendor key", "misfit"])
def test_a_vendor_key_named_like_a_misfits_path_loses_neither(first: str) -> None:
    task = {**VENDOR_SAMPLE["task"], "start": "not a time"}
    raw = {"eventId": "e1", "type": "TaskUpdated", "task.start": "KEEP", "task": task}
    if first == "misfit":
        raw = {"eventId": "e1", "type": "TaskUpdated", "task": task, "task.start": "KEEP"}
    [event] = read(raw)
    kept = sorted(event["undocumented"].items())
    assert sorted(value for _, value in kept) == ["KEEP", "not a time"]
    assert len(kept) == 2


def test_after_a_page_that_does_not_fit_a_few_are_read_without_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked: list[bytes] = []

    def counting(sent: bytes) -> object:
        checked.append(sent)
        return fitting_page(sent)

    monkeypatch.setattr(event_shape, "fitting_page", counting)
    reader, _ = new_reader()
    odd = body({"data": [sample(region="EMEA")]})  # a key nobody documented: does not fit
    usual = body({"data": [sample()]})
    pages = [odd] + [usual] * (SKIP_AFTER_MISFIT + 2)
    read_pages = [reader.page(sent).events for sent in pages]

    assert checked == [odd, usual, usual]  # the first, then again after SKIP_AFTER_MISFIT pages
    assert read_pages[1:] == [read_pages[1]] * (SKIP_AFTER_MISFIT + 2)  # the same either way
