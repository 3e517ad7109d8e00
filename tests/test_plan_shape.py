"""The published-plans reader, rule by rule: typed or kept raw, never coerced, never a null key."""

from __future__ import annotations

import io
import json
import logging
import math
import tracemalloc
import typing as t

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schema_check import invalid_records

from tap_aphex import schemas
from tap_aphex.reader import BOOLEAN, DATETIME, INTEGER, NUMBER, STRING, Field
from tap_aphex.report import UnexpectedResponseError
from tap_aphex.schemas import epoch_to_rfc3339
from tap_aphex.streams.plan_document import (
    TABLE_FIELDS,
    VERSION_FIELDS,
    DocumentReader,
    PublishedVersion,
    VersionScan,
)

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20.000Z
SCHEMAS = {"tasks": schemas.PUBLISHED_PLAN_TASK, "statuses": schemas.PUBLISHED_PLAN_STATUS}


def task(**fields: object) -> dict[str, object]:
    return {"taskId": "t1", "name": "Pour slab", "start": T0, "keyTask": False, **fields}


def version(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {"id": "v1", "version": 1, "publishedAt": T0, "tasks": [task()]}
    return {**base, "statuses": [], **fields}


def read(*versions: object, reader: DocumentReader | None = None) -> list[PublishedVersion | None]:
    document = {"project": {"id": "p1"}, "publishedPlans": list(versions)}
    reader = reader or DocumentReader(logging.getLogger("tests.plans"))
    return list(reader.versions(io.BytesIO(json.dumps(document).encode()), "Tower A"))


def only(versions: list[PublishedVersion | None]) -> PublishedVersion:
    (found,) = [v for v in versions if v is not None]
    return found


@pytest.mark.parametrize(
    ("field", "raw", "landed"),
    [
        ("keyTask", True, True),
        ("keyTask", "No", None),  # never `true`
        ("keyTask", 0, None),
        ("duration", 2.5, 2.5),
        ("duration", "3", None),
        ("duration", True, None),
        ("name", 42, None),
        ("start", 1_700_000_000, "2023-11-14T22:13:20.000Z"),  # seconds, by magnitude
        ("start", 1_700_000_000_123, "2023-11-14T22:13:20.123Z"),  # milliseconds
        ("start", 1e20, None),  # out of range either way
        ("start", "2023-11-14T22:13:20Z", None),  # not an epoch time: kept, not parsed
        ("start", None, None),
    ],
)
def test_a_task_field_lands_typed_or_null_with_its_value_kept(
    field: str, raw: object, landed: object
) -> None:
    (row,) = only(read(version(tasks=[task(**{field: raw})]))).rows("tasks")

    assert row[field] == landed
    if landed is None and raw is not None:
        assert row["undocumented"] == {field: raw}
    else:
        assert row["undocumented"] is None


def test_an_integral_float_is_kept_raw_not_coerced_and_so_is_a_string() -> None:
    (as_float,) = read(version(version=3.0))
    (as_text,) = read(version(version="3"))

    assert as_float is not None
    assert as_float.record["version"] is None  # never 3: the README promises "never coerced"
    assert as_float.record["undocumented"] == {"version": 3.0}
    assert type(as_float.record["undocumented"]["version"]) is float
    assert as_text is not None
    assert as_text.record["version"] is None
    assert as_text.record["undocumented"] == {"version": "3"}


def test_each_mistyped_field_is_warned_about_once_per_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader = DocumentReader(logging.getLogger("tests.plans"))
    rows = [task(taskId=f"t{n}", keyTask="No") for n in range(3)]

    for _ in range(2):  # two projects, or two requests of one run
        list(only(read(version(tasks=rows), reader=reader)).rows("tasks"))

    warnings = [r.getMessage() for r in caplog.records if "keyTask is" in r.getMessage()]
    assert len(warnings) == 1
    assert 'Project Tower A, version v1, tasks row 1: keyTask is a string "No"' in warnings[0]


def test_a_table_the_tap_does_not_know_is_kept_whole_and_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rows = [task()]
    found = only(read(version(tasks=None, Tasks=rows, taskStatuses=[{"taskId": "t1"}])))

    assert found.record["undocumented"] == {"Tasks": rows, "taskStatuses": [{"taskId": "t1"}]}
    assert list(found.rows("tasks")) == []
    assert "a table the tap does not know, `Tasks` (the tap reads `tasks`)" in caplog.text
    assert "`taskStatuses`" in caplog.text


def test_a_row_without_its_key_stays_on_its_version(caplog: pytest.LogCaptureFixture) -> None:
    unkeyed = [
        {"id": "t2", "name": "Formwork"},
        task(taskId=7),
        "not a row",
        task(taskId=""),
        task(taskId="   "),  # blank: an event id this blank is no id either
    ]
    found = only(read(version(tasks=[task(), *unkeyed])))

    rows = list(found.rows("tasks"))

    assert [row["taskId"] for row in rows] == ["t1"]
    assert found.record["undocumented"] == {"unkeyed_rows": {"tasks": unkeyed}}
    assert found.record["rowCounts"] == {"tasks": 1, "statuses": 0}
    assert "5 tasks row(s) without a `taskId` (text, not blank) (the first is row 2)" in caplog.text


def test_a_row_with_the_key_of_a_row_before_it_stays_on_its_version(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Sent, it would share its key (account, version, taskId) with the first: an upsert keeps one.
    again = task(name="The same id, other values")
    found = only(read(version(tasks=[task(), task(taskId="t2"), again])))

    assert [row["taskId"] for row in found.rows("tasks")] == ["t1", "t2"]
    assert found.record["undocumented"] == {"repeated_rows": {"tasks": [again]}}
    assert found.record["rowCounts"] == {"tasks": 2, "statuses": 0}
    assert "1 tasks row(s) with the `taskId` of a row before them (the first is row 3)" in (
        caplog.text
    )


@pytest.mark.parametrize("number", [10**30, -(2**63) - 1, 2**63])
def test_a_version_number_beyond_64_bits_is_a_misfit(number: int) -> None:
    found = only(read(version(version=number)))

    assert found.record["version"] is None
    assert found.record["undocumented"] == {"version": number}


def test_status_rows_are_keyed_by_position_and_need_no_task_id() -> None:
    statuses = [{"type": "delay", "value": 2}, {"taskId": "t1", "type": "completed"}]

    rows = list(only(read(version(statuses=statuses))).rows("statuses"))

    assert [(row["rowNumber"], row["taskId"]) for row in rows] == [(1, None), (2, "t1")]


def test_a_table_that_is_not_a_list_is_kept_on_its_version() -> None:
    found = only(read(version(tasks={"t1": task()})))

    assert found.record["undocumented"] == {"tasks": {"t1": task()}}
    assert found.record["rowCounts"]["tasks"] == 0


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        (version(publishedAt=None), "version v1: its publishedAt is null"),
        (
            version(publishedAt="last tuesday"),
            'version v1: its publishedAt is a string "last tuesday", not a time',
        ),
        (version(publishedAt=1e20), "version v1: its publishedAt is a number 1e20, not a time"),
        (version(id=None), "a version without an id: id is null, version is a number 1"),
        (version(id=True), "a version without an id"),
        # Read as U+FFFD, it could be another version's id: no id, said as the vendor wrote it.
        (
            version(id="v\ud83d"),
            'a version without an id: id is a string "v\\ud83d", version is a number 1',
        ),
        ("v1", 'an entry that is not an object: a string "v1"'),
    ],
)
def test_a_version_that_cannot_be_keyed_or_dated_is_skipped_and_still_counted(
    bad: object, said: str, caplog: pytest.LogCaptureFixture
) -> None:
    versions = read(bad, version(id="v2"))

    assert versions[0] is None  # counted against `limit`, not emitted
    assert versions[1] is not None
    assert versions[1].id == "v2"
    assert f"Project Tower A: skipped {said}" in caplog.text


def test_a_lone_surrogate_in_a_value_kept_whole_is_kept_as_the_vendor_wrote_it() -> None:
    # The document's `project`, a table the tap does not know, a row without its key: no schema
    # types them, so they are kept whole, never with the decode policy's private markers.
    document = {
        "project": {"id": "p1", "name": "Tower \ud83d"},
        "publishedPlans": [version(extras=[{"a": "x\udc00"}], tasks=[task(), {"name": "\ud83d"}])],
    }
    reader = DocumentReader(logging.getLogger("tests.plans"))

    (found,) = reader.versions(io.BytesIO(json.dumps(document).encode()), "Tower A")

    assert found is not None
    assert found.record["project"] == {"id": "p1", "name": "Tower \\ud83d"}
    assert found.record["undocumented"]["extras"] == [{"a": "x\\udc00"}]
    assert found.record["undocumented"]["unkeyed_rows"] == {"tasks": [{"name": "\\ud83d"}]}


def test_an_integer_id_is_written_as_its_digits() -> None:
    assert only(read(version(id=42))).id == "42"


def test_a_duplicated_version_id_is_emitted_once_and_warned_about_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    versions = read(version(), version(), version(), version(id="v2"))

    assert [v.id if v else None for v in versions] == ["v1", None, None, "v2"]
    assert caplog.text.count("holds version id v1 more than once") == 1


def test_an_integer_id_and_its_digits_as_text_are_one_key_and_the_warning_names_both(
    caplog: pytest.LogCaptureFixture,
) -> None:
    versions = read(version(id=42), version(id="42"))

    assert [v.id if v else None for v in versions] == ["42", None]
    assert 'version id 42 more than once (as a number 42 and a string "42")' in caplog.text


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b" <html>Server Error</html>", r"an HTML page \(no Content-Type\), not JSON: a proxy"),
        (b'{"publishedPlans": [{"id": "v1"', r"not JSON \(no Content-Type; parse error: premature"),
        # UTF-16 sent as UTF-8: yajl's words only, not its dump of the body's bytes.
        (
            '{"publishedPlans": []}'.encode("utf-16"),
            r"not JSON \([^;]*; lexical error: [^\\\n]*\);",
        ),
        (b'{"project": {}}', 'no "publishedPlans" list'),
        (b'{"publishedPlans": {"v1": {}}}', 'no "publishedPlans" list'),
    ],
)
def test_what_is_not_the_document_is_the_projects_failure(body: bytes, problem: str) -> None:
    reader = DocumentReader(logging.getLogger("tests.plans"))

    with pytest.raises(UnexpectedResponseError, match=problem):
        list(reader.versions(io.BytesIO(body), "Tower A"))


def test_an_empty_versions_list_is_no_versions() -> None:
    assert read() == []


# ----------------------------------------------------------------------------------- properties

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # any size: ijson reads it exactly, as msgspec does
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=4,
)
PLAUSIBLE = {
    STRING: st.text(max_size=8),
    INTEGER: st.integers(-5, 500) | st.floats(-5, 500).map(float.__floor__).map(float),
    NUMBER: st.floats(-100, 100) | st.integers(-5, 500),
    BOOLEAN: st.booleans(),
    DATETIME: st.integers(-(10**12), 10**14) | st.floats(0, 2e12),
}


def fields(documented: dict[str, Field]) -> st.SearchStrategy[dict[str, object]]:
    """Each documented field: absent, plausible for its type, or any JSON value at all."""
    values = {name: PLAUSIBLE[field.kind] | JSON for name, field in documented.items()}
    extra = st.dictionaries(st.sampled_from(["crew", "Tasks", "zone"]), JSON, max_size=2)
    return st.tuples(st.fixed_dictionaries({}, optional=values), extra).map(
        lambda pair: {**pair[1], **pair[0]}
    )


ROWS = {table: st.lists(fields(found) | JSON, max_size=4) for table, found in TABLE_FIELDS.items()}
VERSIONS = st.tuples(
    fields(VERSION_FIELDS), st.sampled_from(["v1", "v2", 3, None]), ROWS["tasks"], ROWS["statuses"]
).map(lambda v: {**v[0], "id": v[1], "tasks": v[2], "statuses": v[3]})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(VERSIONS | JSON, max_size=4))
def test_any_document_gives_records_that_keep_every_value_and_fit_their_schema(
    entries: list[object],
) -> None:
    document = json.loads(json.dumps(entries))  # the numbers as the wire gives them
    versions = read(*document)

    assert len(versions) == len(document)
    for raw_version, found in zip(document, versions, strict=True):
        if found is None:
            continue
        record = {**found.record, "accountId": "a1"}
        assert invalid_records(schemas.PUBLISHED_PLAN, [record]) == []
        for name, field in VERSION_FIELDS.items():
            _assert_typed_or_kept(
                field.kind, raw_version.get(name), record[name], record["undocumented"], name
            )
        for table, documented in TABLE_FIELDS.items():
            rows = [{**row, "accountId": "a1"} for row in found.rows(table)]
            assert invalid_records(SCHEMAS[table], rows) == []
            for row in rows:
                raw = raw_version[table][row["rowNumber"] - 1]  # as the vendor wrote it
                for name, field in documented.items():
                    _assert_typed_or_kept(
                        field.kind, raw.get(name), row[name], row["undocumented"], name
                    )


def _assert_typed_or_kept(
    kind: str, raw: object, landed: object, undocumented: dict[str, t.Any] | None, name: str
) -> None:
    expected = _typed(kind, raw)
    if expected is _MISFIT:
        assert landed is None
        assert undocumented is not None
        assert undocumented[name] == raw
        assert type(undocumented[name]) is type(raw)  # as it came: 3.0 is no 3
    else:
        assert landed == expected
        assert type(landed) is type(expected)


_MISFIT = object()


def _typed(kind: str, raw: object) -> object:
    """What the rules (README, "data rules") make of ``raw`` for a field of ``kind``."""
    cls = type(raw)
    if raw is None:
        return None
    if (kind, cls) in {(STRING, str), (BOOLEAN, bool), (INTEGER, int)}:
        return raw  # an integral float (3.0) is not an int: a misfit
    if cls in (int, float) and math.isfinite(t.cast("float", raw)):
        if kind == NUMBER:
            return raw
        if kind == DATETIME and (text := epoch_to_rfc3339(t.cast("float", raw))) is not None:
            return text
    return _MISFIT


def test_the_download_scan_counts_every_entry_and_places_versions_as_the_reader_does() -> None:
    # How far back an answer reaches (so whether to ask again) rests on the scan agreeing with
    # the reader, whatever the numbers: an integer past 64 bits, a fraction, a whole float.
    entries = [
        version(id="a"),
        version(id=5, publishedAt=T0 + 1.5),
        3,
        version(id=" "),
        version(id="b", publishedAt=True),
        version(id="late", publishedAt=10**22),
        version(id=10**30, publishedAt=float(T0)),
        version(id=1.0),
        {"id": "no time"},
    ]
    body = json.dumps({"project": {"id": "p1"}, "publishedPlans": entries}).encode()
    scan = VersionScan("application/json")
    for start in range(0, len(body), 7):  # as the answer arrives, in pieces
        scan.feed(body[start : start + 7])
    scan.feed(None)

    placed = [(v.id, v.published) for v in read(*entries) if v is not None]
    assert scan.readable
    assert scan.received == len(entries)
    assert scan.placed == placed
    assert [version_id for version_id, _ in placed] == ["a", "5", str(10**30)]


def test_a_document_member_the_tap_does_not_know_is_kept_on_each_version_and_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = (
        b'{"zzTop": {"a": 1}, "publishedPlans": ['
        + b", ".join(
            json.dumps({"id": f"v{n}", "publishedAt": 1_700_000_000_000 + n}).encode()
            for n in (1, 2)
        )
        + b"]}"
    )
    reader = DocumentReader(logging.getLogger("tests.plans"))

    versions = [v for v in reader.versions(io.BytesIO(body), "Tower A") if v]

    assert [v.record["undocumented"]["document"] for v in versions] == [{"zzTop": {"a": 1}}] * 2
    assert caplog.text.count("a member the tap does not know, `zzTop`") == 1


def test_the_download_scan_never_holds_a_version_whole() -> None:
    # The scan runs in every download thread beside the reader: building each version there too
    # once doubled a 32 MB document's memory (8 in flight: +48 MiB became +256 MiB).
    tasks = [{"taskId": f"t{n}", "name": "x" * 500} for n in range(5000)]
    version = {"id": "v1", "publishedAt": 1_700_000_000_000, "tasks": tasks}
    body = json.dumps({"publishedPlans": [version]}).encode()
    scan = VersionScan("application/json")

    tracemalloc.start()
    for start in range(0, len(body), 1 << 16):
        scan.feed(body[start : start + (1 << 16)])
    scan.feed(None)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert (scan.received, [version_id for version_id, _ in scan.placed]) == (1, ["v1"])
    assert peak < len(body) / 4  # the version whole is more than the body
