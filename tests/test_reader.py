"""The one tolerant reader (`tap_aphex.reader`): vendor JSON typed by the schemas, never coerced.

Events are read through `read_page`, as the `task_events` stream reads a decoded page; the same
rules type the published plans (the last part here holds the two APIs side by side). No HTTP.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import logging
import math
import re
import typing as t
from decimal import Decimal

import msgspec
import pytest
import requests
from hypothesis import example, given, settings
from hypothesis import strategies as st
from schema_check import schema_errors, validator

from tap_aphex import schemas
from tap_aphex.decoding import FilteredBody, as_written, described
from tap_aphex.reader import (
    BOOLEAN,
    DATETIME,
    INTEGER,
    NUMBER,
    NUMBER_MAP,
    OBJECT,
    OBJECT_LIST,
    STRING,
    STRING_LIST,
    Field,
    Reader,
    Row,
    fields_of,
    unmarked,
)
from tap_aphex.report import UnexpectedResponseError
from tap_aphex.schemas import SECONDS_BELOW, epoch_to_rfc3339, rfc3339_to_datetime
from tap_aphex.streams import event_log
from tap_aphex.streams.event_log import (
    EVENT_FIELDS,
    TASK_FIELDS,
    decoded_json,
    next_cursor,
    read_page,
    task_record,
)
from tap_aphex.streams.plan_document import DocumentReader, PublishedVersion

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

# The reader's two kinds of warning, as it words them.
MISFIT_SAID = re.compile(r"once per run for (\S+)\)")
UNKNOWN_SAID = re.compile(r"a field the tap does not know, `(.*)`; kept under", re.DOTALL)


class Warnings(logging.Handler):
    """The WARNING lines a reader logs."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def fields(self) -> list[str]:
        """The documented fields warned about as misfits."""
        return [m for line in self.lines for m in MISFIT_SAID.findall(line)]

    def unknown(self) -> list[str]:
        """The top-level keys warned about as unknown."""
        return [m for line in self.lines for m in UNKNOWN_SAID.findall(line)]


def new_logger() -> tuple[logging.Logger, Warnings]:
    logger = logging.Logger("reader_test")  # not registered: one per reader
    warnings = Warnings()
    logger.addHandler(warnings)
    return logger, warnings


def new_reader() -> tuple[Reader, Warnings]:
    logger, warnings = new_logger()
    return Reader(logger), warnings


def sample(**top: t.Any) -> dict[str, t.Any]:
    event = copy.deepcopy(VENDOR_SAMPLE)
    event.update(top)
    return event


#: JSON as a server writes it: a Decimal as its number (``1E+400``), not a string.
ENCODER = msgspec.json.Encoder(decimal_format="number")


def wire(payload: object) -> object:
    """``payload`` as the stream hands it to `read_page`: sent as JSON, decoded by the tap."""
    response = requests.Response()
    response.status_code, response._content = 200, ENCODER.encode(payload)
    return decoded_json(response)


def page(payload: object, reader: Reader | None = None) -> list[Row]:
    return read_page(wire(payload), reader or new_reader()[0], start_after=None)


def read(*events: object, reader: Reader | None = None) -> list[Row]:
    return page({"data": list(events), "nextStartAfter": "n"}, reader)


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

    record = event
    assert record["createdAt"] == "2021-03-01T08:36:07.389Z"
    assert record["task"]["start"] == "2021-02-25T00:00:00.000Z"
    # 11 digits: below 10^11 it is read as seconds, as `reader` documents
    assert record["task"]["statuses"][0]["createdAt"] == epoch_to_rfc3339(23423423523)
    assert record["task"]["labourResources"] == {"Carpenters": 4}
    assert record["undocumented"] is None
    assert warnings.lines == []
    assert schema_errors(TASK_EVENTS_SCHEMA, record) == []
    task = task_record(event, reader)
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

    assert event == {
        "eventId": "e1",
        "type": "TaskDeleted",
        "apiVersion": None,
        "createdAt": "2021-03-01T08:36:16.549Z",
        "task": {"id": "t1"},
        "undocumented": None,
    }
    assert task_record(event, reader) == {
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
    record = event

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

    task = task_record(event, reader)

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

    task = task_record(event, reader)

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
    record, task = event, task_record(event, reader)

    assert record["undocumented"] == {"region": "EMEA"}
    assert record["task"]["priority"] == "high"
    assert record["task"]["statuses"][0]["colour"] == "red"
    assert task is not None
    assert task["undocumented"] == {"priority": "high"}
    assert "priority" not in task
    assert task["statuses"][0]["colour"] == "red"
    # An unknown top-level key is said once per name (inside the task it is where it came).
    (warning,) = warnings.lines
    assert warnings.unknown() == ["region"]
    assert warning.startswith(f"Event {VENDOR_SAMPLE['eventId']}: ")
    read(sample(eventId="e2", region="APAC"), reader=reader)
    assert warnings.unknown() == ["region"]


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("TaskArchived", 'type is a string "TaskArchived"'),
        (None, "type is missing or unreadable"),
        (7, "type is missing or unreadable"),  # a misfit, said as such first: never "null"
    ],
)
def test_an_event_type_nobody_documented_changes_no_task_with_one_warning(
    kind: object, words: str
) -> None:
    reader, warnings = new_reader()
    events = read(sample(eventId="a", type=kind), sample(eventId="b", type=kind), reader=reader)

    assert [task_record(event, reader) for event in events] == [None, None]
    (said,) = [line for line in warnings.lines if "changes no task" in line]
    assert f"Event a's {words}, which says nothing documented" in said
    assert [e["type"] for e in events] == [kind if isinstance(kind, str) else None] * 2


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
        read_page(wire({"data": [sample(), entry, sample()]}), reader, start_after="c0")


@pytest.mark.parametrize(
    ("found", "expected"), [(["abc"], "abc"), ([], None), ([None], None), ([""], None)]
)
def test_an_absent_null_or_empty_next_start_after_is_the_end(
    found: list[object], expected: str | None
) -> None:
    assert next_cursor(found) == expected  # what the paginator's JSONPath found


@pytest.mark.parametrize("cursor", [12, 1.5, True, ["a"], {"id": "a"}, "   ", "\n"])
def test_a_next_start_after_that_is_no_event_id_is_refused_with_a_clear_error(
    cursor: object,
) -> None:
    with pytest.raises(UnexpectedResponseError, match='"nextStartAfter" is no event id'):
        next_cursor([cursor])


@pytest.mark.parametrize("payload", [[], "x", None, {"data": {}}, {"events": []}])
def test_a_body_that_is_not_a_page_is_refused_with_a_clear_error(payload: object) -> None:
    with pytest.raises(UnexpectedResponseError):
        page(payload)


def test_a_schema_the_reader_cannot_type_fails_at_import_not_on_the_wire() -> None:
    schema = {"type": "object", "properties": {"odd": {"type": ["string", "integer"]}}}
    with pytest.raises(TypeError, match="no rule for odd"):
        fields_of(schema)
    with pytest.raises(TypeError, match="no rule for odd"):
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
    if kind == DATETIME and cls in (int, float) and epoch_to_rfc3339(value) is not None:
        assert typed == epoch_to_rfc3339(value)
        return []
    assert typed is None
    assert same(kept[path], value)
    return [field.where]


@settings(max_examples=200, deadline=None)
@given(st.lists(EVENTS, max_size=4))
def test_generated_events_are_typed_or_kept_raw_and_every_record_is_valid(
    raws: list[t.Any],
) -> None:
    reader, warnings = new_reader()

    sent = wire({"data": raws, "nextStartAfter": None})
    # What the reader reads, as the vendor wrote it: -0 is 0 in JSON, U+FFFD is U+FFFD.
    raws = unmarked(t.cast("dict[str, t.Any]", sent)["data"], lambda text, *_: as_written(text))
    typed = read_page(sent, reader, start_after=None)

    misfit_fields: set[str] = set()
    unknown_keys: set[str] = set()
    for raw, event in zip(raws, typed, strict=True):
        record = event
        kept = record["undocumented"] or {}
        misfits = expect_object(raw, record, EVENT_FIELDS, "", kept)
        assert len(kept) == len(misfits) + len(raw.keys() - EVENT_FIELDS.keys())  # nothing else
        misfit_fields.update(misfits)
        unknown_keys.update(raw.keys() - EVENT_FIELDS.keys())
        assert schema_errors(TASK_EVENTS_SCHEMA, record) == []
        task = task_record(event, reader)
        if task is not None:
            assert schema_errors(TASKS_SCHEMA, task) == []
            assert task["id"] == raw["task"]["id"]
    assert sorted(warnings.fields()) == sorted(misfit_fields)
    assert sorted(warnings.unknown()) == sorted(unknown_keys)  # one warning per name


@settings(max_examples=200, deadline=None)
@given(st.lists(EVENTS | JUNK, max_size=4), JUNK)
@example([], "\r")  # a cursor of only spaces is refused: a server could read it as none
def test_any_page_is_read_or_refused_with_the_documented_error(
    data: list[t.Any], cursor: t.Any
) -> None:
    reader, _ = new_reader()
    identified = all(
        isinstance(e, dict) and isinstance(e.get("eventId"), str) and e["eventId"].strip()
        for e in data
    )
    try:
        found = page({"data": data, "nextStartAfter": cursor}, reader)
    except UnexpectedResponseError:
        assert not identified
    else:
        assert len(found) == len(data)
    try:  # the cursor as the page's decode hands it over
        assert next_cursor([wire(cursor)]) == (cursor or None)
    except UnexpectedResponseError:  # refused: no text, or only spaces (no event id is)
        assert cursor is not None
        assert not isinstance(cursor, str) or not cursor.strip()


# --- pages whose values all fit -----------------------------------------------------------------


def in_range_times() -> st.SearchStrategy[int | float]:
    seconds = st.integers(-2_208_988_800, SECONDS_BELOW - 1) | st.floats(0, 4e9)
    return seconds | st.integers(SECONDS_BELOW, 253_402_300_799_999)


def fitting(field: Field) -> st.SearchStrategy[t.Any]:
    """Values that fit ``field`` (null included), with times in range."""
    scalars: dict[str, st.SearchStrategy[t.Any]] = {
        STRING: st.text(max_size=6),
        DATETIME: in_range_times(),
        NUMBER: _NUMBERS,
        INTEGER: st.integers(-(2**63), 2**63 - 1),
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


@settings(max_examples=200, deadline=None)
@given(st.lists(FITTING, max_size=4), st.none() | st.text(max_size=4))
@example([{"eventId": "\ufffd"}], "\ufffd\U00100000")  # as the decode policy's markers look
def test_a_page_whose_values_all_fit_lands_typed_without_a_warning(
    events: list[dict[str, t.Any]], cursor: str | None
) -> None:
    reader, warnings = new_reader()
    sent = wire({"data": events, "nextStartAfter": cursor})

    typed = read_page(sent, reader, start_after="c0")

    raws = unmarked(
        t.cast("dict[str, t.Any]", sent)["data"], lambda text, *_: as_written(text)
    )  # as the vendor wrote them
    for raw, event in zip(raws, typed, strict=True):
        assert event["undocumented"] is None
        assert expect_object(raw, event, EVENT_FIELDS, "", {}) == []
        assert schema_errors(TASK_EVENTS_SCHEMA, event) == []
    assert warnings.lines == []


def test_keys_absent_or_null_stay_absent_or_null() -> None:
    task = {k: v for k, v in VENDOR_SAMPLE["task"].items() if k not in ("end", "statuses")}
    [event] = read(sample(task={**task, "start": None}, createdAt=None))
    assert event["createdAt"] is None
    assert event["task"]["start"] is None
    assert "end" not in event["task"]  # absent inside an object stays absent
    assert event["undocumented"] is None


@pytest.mark.parametrize(
    "extra",
    [b'"\xff"', b'"\xed\xa0\x80"', b'{"a": "\xc0\x80"}'],
)
def test_what_is_beside_the_events_is_checked_too(extra: bytes) -> None:
    # Bad UTF-8: the page is no JSON, wherever it is (nesting deeper than the bound is kept as
    # text, a number beyond a float as its Decimal: tests/test_decoding.py).
    events = msgspec.json.encode([sample()])
    for sent in (
        b'{"extra": ' + extra + b', "data": ' + events + b"}",
        b'{"data": ' + events + b', "extra": ' + extra + b"}",
    ):
        response = requests.Response()
        response.status_code = 200
        response._content = sent
        with pytest.raises(UnexpectedResponseError, match="with a body that is not JSON"):
            decoded_json(response)


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


# --- epoch times --------------------------------------------------------------------------------
# Read by magnitude, exact to the millisecond; a number that is no plausible time is no time.

FIRST_MS = -2_208_988_800_000  # 1900-01-01T00:00:00.000Z
LAST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_614_587_767_389, "2021-03-01T08:36:07.389Z"),  # milliseconds, as documented
        (1_614_587_767, "2021-03-01T08:36:07.000Z"),  # seconds (the vendor's 11-digit sample)
        (1_614_587_767.389, "2021-03-01T08:36:07.389Z"),  # seconds with a fraction
        (1_614_587_767_389.0, "2021-03-01T08:36:07.389Z"),  # milliseconds as a float
        (0, "1970-01-01T00:00:00.000Z"),
        (SECONDS_BELOW - 1, "5138-11-16T09:46:39.000Z"),  # the largest number read as seconds
        (SECONDS_BELOW, "1973-03-03T09:46:40.000Z"),  # the smallest read as milliseconds
        (-1, "1969-12-31T23:59:59.000Z"),  # before 1970: seconds
        (FIRST_MS, "1900-01-01T00:00:00.000Z"),
        (LAST_MS, "9999-12-31T23:59:59.999Z"),
        (1_614_643_199_999, "2021-03-01T23:59:59.999Z"),  # the last millisecond of a day
        (1_614_643_200_000, "2021-03-02T00:00:00.000Z"),  # and the first of the next
        # A fraction of a millisecond is kept, not rounded away: three more digits.
        (1_500_000_000_000.5, "2017-07-14T02:40:00.000500Z"),
        (1_614_587_767.389_25, "2021-03-01T08:36:07.389250Z"),
    ],
)
def test_epoch_numbers_become_utc_date_times_with_milliseconds(value: float, expected: str) -> None:
    assert epoch_to_rfc3339(value) == expected


@pytest.mark.parametrize(
    "value",
    [FIRST_MS - 1, LAST_MS + 1, 10**20, -(10**20), float("inf"), float("-inf"), float("nan")],
)
def test_numbers_that_are_no_plausible_time_are_no_time(value: float) -> None:
    assert epoch_to_rfc3339(value) is None


@given(st.integers(min_value=SECONDS_BELOW, max_value=LAST_MS))
def test_integer_milliseconds_agree_with_datetime(millis: int) -> None:
    expected = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(milliseconds=millis)
    text = epoch_to_rfc3339(millis)
    assert text is not None
    assert rfc3339_to_datetime(text) == expected
    assert text == f"{expected:%Y-%m-%dT%H:%M:%S}.{expected.microsecond // 1000:03d}Z"


# --- one rule per JSON type, for both APIs ------------------------------------------------------
# The same value for a field of the same JSON type lands the same in an event and in a published
# plan: typed, or null with the value kept raw under `undocumented` and one warning. Where an API
# documents no field of a type (the Data API has no integer and no boolean), the test documents
# one on the event, as `schemas.py` would, so that the rule is still checked on the events' path.

#: JSON type -> (the event's field path, the published-plans field: "version" or a tasks column).
SAME_TYPE_FIELDS = {
    INTEGER: ("sequence", "version"),  # `sequence`: documented here for the test
    NUMBER: ("task.duration", "duration"),
    BOOLEAN: ("urgent", "keyTask"),  # `urgent`: documented here for the test
    STRING: ("task.name", "name"),
    DATETIME: ("task.start", "start"),
}
ADDED_EVENT_FIELDS = {"sequence": Field(INTEGER, "sequence"), "urgent": Field(BOOLEAN, "urgent")}

MISFITS_BY_TYPE = [
    (INTEGER, 12.0),  # an integral float is no integer: kept raw, never coerced to 12
    (INTEGER, "12"),
    (INTEGER, True),
    (INTEGER, 12.5),
    (NUMBER, "2.5"),
    (NUMBER, True),
    (NUMBER, [2.5]),
    (INTEGER, 2**63),  # beyond 64 bits: both decoders read it exactly, no BIGINT holds it
    (INTEGER, -(2**70)),
    (BOOLEAN, "true"),
    (BOOLEAN, 0),
    (BOOLEAN, 1.0),
    (STRING, 12),
    (STRING, False),
    (STRING, {"en": "Pour slab"}),
    (DATETIME, "2021-03-01"),
    (DATETIME, 1e20),
    (DATETIME, True),
    (NUMBER, Decimal("1E+400")),  # beyond a float's range: decoded as its exact Decimal
    (DATETIME, Decimal("-1E+400")),
]
FITS_BY_TYPE = [
    (INTEGER, 12, 12),
    (INTEGER, -(2**63), -(2**63)),  # what a warehouse's BIGINT holds, to its ends
    (INTEGER, 2**63 - 1, 2**63 - 1),
    (NUMBER, 2.5, 2.5),
    (NUMBER, 3, 3),
    (BOOLEAN, False, False),
    (STRING, "", ""),
    (DATETIME, 1_614_587_767_389, "2021-03-01T08:36:07.389Z"),
    (DATETIME, 1_614_587_767, "2021-03-01T08:36:07.000Z"),
]


@pytest.fixture
def with_added_event_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_log, "EVENT_FIELDS", {**EVENT_FIELDS, **ADDED_EVENT_FIELDS})


def as_event(kind: str, value: object) -> tuple[object, object, list[str], str]:
    """What the Data API's path makes of ``value`` for a field of ``kind``: the typed value, the
    record's `undocumented`, the warnings, and the field's vendor path."""
    path = SAME_TYPE_FIELDS[kind][0]
    reader, warnings = new_reader()
    [event] = read(put(sample(), path, value), reader=reader)
    kept = {*EVENT_FIELDS, "undocumented"}  # the schema has no field added by this test
    assert schema_errors(TASK_EVENTS_SCHEMA, {k: v for k, v in event.items() if k in kept}) == []
    return get(event, path), event["undocumented"], warnings.lines, path


def as_plan(kind: str, value: object) -> tuple[object, object, list[str], str]:
    """The same for the published-plans path (a version's field, or a tasks row's)."""
    name = SAME_TYPE_FIELDS[kind][1]
    logger, warnings = new_logger()
    task = {"taskId": "t1", "name": "Pour slab", "start": 1_700_000_000_000}
    plan = {"id": "v1", "version": 1, "publishedAt": 1_700_000_000_000, "tasks": [task]}
    if name == "version":
        plan["version"] = value
    else:
        task[name] = value
    document = ENCODER.encode({"publishedPlans": [plan]})  # plain JSON: 12.0 stays 12.0
    [version] = DocumentReader(logger).versions(io.BytesIO(document), "Tower A")
    assert isinstance(version, PublishedVersion)
    if name == "version":
        return version.record["version"], version.record["undocumented"], warnings.lines, name
    [row] = version.rows("tasks")
    return row[name], row["undocumented"], warnings.lines, name


def said_alike(line: str, path: str) -> str:
    """A warning without what names the record and the field: what both APIs must share."""
    return line.split(": ", 1)[1].replace(path, "<field>")


@pytest.mark.usefixtures("with_added_event_fields")
@pytest.mark.parametrize(("kind", "value"), MISFITS_BY_TYPE)
def test_a_value_that_does_not_fit_its_json_type_is_kept_raw_alike_in_both_apis(
    kind: str, value: object
) -> None:
    outcomes = []
    for reading in (as_event, as_plan):
        typed, undocumented, lines, path = reading(kind, value)
        assert typed is None, reading.__name__
        assert undocumented == {path: value}, reading.__name__
        assert same(undocumented[path], value)  # as it came: 12.0 stays a float
        (line,) = lines
        assert f"not the documented {kind};" in line
        outcomes.append(said_alike(line, path))
    event_said, plan_said = outcomes
    assert event_said == plan_said


@pytest.mark.usefixtures("with_added_event_fields")
@pytest.mark.parametrize(("kind", "value", "expected"), FITS_BY_TYPE)
def test_a_value_that_fits_its_json_type_lands_alike_in_both_apis(
    kind: str, value: object, expected: object
) -> None:
    for reading in (as_event, as_plan):
        typed, undocumented, lines, _ = reading(kind, value)
        assert same(typed, expected), reading.__name__
        assert undocumented is None
        assert lines == []


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (None, "null"),
        (True, "a boolean true"),
        ([None, True], "an array [null,true]"),
        ({"a": None, "b": Decimal("1E+400")}, 'an object {"a":null,"b":1E+400}'),
        ("No", 'a string "No"'),
        (1e20, "a number 1e20"),
        (Decimal("1E+400"), "the number 1E+400 (beyond a float's range)"),
        ("x" * 100, 'a string "' + "x" * 59 + "… (102 characters)"),
        (
            Decimal("7" * 100_000),
            "the number " + "7" * 60 + "… (100000 characters) (beyond a float's range)",
        ),
        # A cut never leaves half an escape: the quote or the control character goes whole.
        ("x" * 58 + '"yz' + "x" * 10, 'a string "' + "x" * 58 + "… (74 characters)"),
        ("x" * 55 + "\x01" + "x" * 10, 'a string "' + "x" * 55 + "… (73 characters)"),
    ],
)
def test_a_value_in_a_message_is_in_json_words_and_never_longer_than_its_start(
    value: object, words: str
) -> None:
    # A value is quoted as JSON writes it (never Python's None, True, Decimal('...')), and a
    # 100,000-digit number is not copied whole into a line (it cost minutes in the log filter).
    assert described(value) == words


def test_a_value_straight_from_the_wire_is_said_as_the_vendor_wrote_it() -> None:
    # The decode policy's markers (a lone surrogate, a U+FFFD the vendor sent) never show.
    sent = b'"Pour \\ud83d, \xef\xbf\xbd"'
    marked = msgspec.json.decode(FilteredBody(None, "The test").feed(sent, final=True))

    assert described(marked, wire=True) == 'a string "Pour \\ud83d, \ufffd"'
    assert described("\ufffd\U00100005") == 'a string "\ufffd\U00100005"'  # a record's: as it is
