"""What a Singer catalog may ask of the streams: every stream is read incrementally on its own
key, so a catalog asking otherwise is refused in one line, before any request."""

from __future__ import annotations

import copy
import json
import typing as t

import pytest
from aphex_simulator import Simulator
from harness import TapRun, events_config, log_lines, plans_config, run_command, run_tap

from tap_aphex.tap import TapAphex

if t.TYPE_CHECKING:
    from pathlib import Path


def _refusal(run: TapRun) -> str:
    """The one line of a run refused before any output: exit 1, no traceback, no message."""
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.messages == []
    (error,) = log_lines(run.stderr, "ERROR")
    return error


def _run_with_catalog(
    tmp_path: Path, config: dict[str, t.Any], catalog: dict[str, t.Any]
) -> TapRun:
    """`tap-aphex --config --catalog` as a user runs it, with these two files."""
    for name, content in {"config": config, "catalog": catalog}.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(content))
    return run_command(f"--config={tmp_path}/config.json", f"--catalog={tmp_path}/catalog.json")


@pytest.mark.parametrize(
    ("stream", "asked", "words"),
    [
        ("task_events", {"replication_method": "FULL_TABLE"}, "task_events by 'FULL_TABLE'"),
        ("tasks", {"replication_method": "FULL_TABLE"}, "tasks by 'FULL_TABLE'"),
        ("tasks", {"replication_method": "incremental"}, "tasks by 'incremental'"),  # the SDK's
        ("task_statuses", {"replication_key": "date"}, "task_statuses by 'INCREMENTAL' on date"),
        ("published_plans", {"replication_method": "FULL_TABLE"}, "published_plans by 'FULL"),
    ],
)
def test_a_catalog_asking_for_another_replication_is_refused_before_any_request(
    tmp_path: Path, stream: str, asked: dict[str, str], words: str
) -> None:
    # A FULL_TABLE task_events kept no bookmark, and dragged tasks back to the first event
    # every run: the log never advanced.
    with Simulator(seed=5, events=300, page_size=100, daily_quota=None, plan_projects=1) as sim:
        projects = [{"url": p.url, "token": p.token} for p in sim.plan_projects]
        config = events_config(sim, projects=projects)
        catalog = TapAphex(config=config).catalog_dict
        for entry in catalog["streams"]:
            if entry["tap_stream_id"] == stream:
                entry.update(asked)
        run = _run_with_catalog(tmp_path, config, catalog)

        assert sim.requests == []
    error = _refusal(run)
    assert f"The catalog asks for {words}" in error
    assert "or make the catalog with `--discover`" in error
    assert "Meltano's `metadata`" in error


def test_a_stream_left_out_of_the_selection_is_not_refused_for_its_replication(
    tmp_path: Path,
) -> None:
    with Simulator(seed=5, events=300, page_size=100, daily_quota=None, plan_projects=0) as sim:
        config = events_config(sim)
        catalog = TapAphex(config=config).catalog_dict
        for entry in catalog["streams"]:
            if entry["tap_stream_id"] == "task_statuses":
                entry["replication_method"] = "FULL_TABLE"
                entry["key_properties"] = ["nope"]  # nor for its keys: it is not read
                for metadata in entry["metadata"]:
                    if metadata["breadcrumb"] == []:
                        metadata["metadata"]["selected"] = False
        run = _run_with_catalog(tmp_path, config, catalog)

    assert run.returncode == 0, run.stderr
    assert run.records("task_statuses") == []
    assert len(run.records("task_events")) == 300


def test_a_stream_map_on_a_stream_left_out_of_the_selection_is_no_reason_to_refuse_the_run(
    tmp_path: Path,
) -> None:
    # A Meltano project keeps its maps while a run selects fewer streams: the SDK refused a map
    # naming a deselected stream ("Invalid key properties"), whose schema it had emptied.
    with Simulator(seed=5, events=300, page_size=100, daily_quota=None, plan_projects=0) as sim:
        maps = {"tasks": {"__key_properties__": ["id"], "label": "id"}}
        config = events_config(sim, stream_maps=maps)
        catalog = copy.deepcopy(TapAphex(config=events_config(sim)).catalog_dict)
        for entry in catalog["streams"]:
            for metadata in entry["metadata"]:
                if metadata["breadcrumb"] == []:
                    metadata["metadata"]["selected"] = entry["tap_stream_id"] == "task_events"
        left_out = _run_with_catalog(tmp_path, config, catalog)
        read = run_tap(config)  # the map still applies where its stream is read

    assert left_out.returncode == 0, left_out.stderr
    assert len(left_out.records("task_events")) == 300
    assert left_out.records("tasks") == []
    assert all(record["label"] == record["id"] for record in read.records("tasks"))


@pytest.mark.parametrize(
    "deselected",
    [
        ("tasks", "statuses"),  # task_statuses are built from each task: they went missing
        ("tasks", "eventCreatedAt"),  # a field each status row takes from its task
        ("task_events", "task"),  # `tasks` is built from each event's task
        ("published_plans", "version"),  # the read's bookmarks follow version numbers
        ("published_plans", "rowCounts"),
    ],
)
def test_a_property_deselected_leaves_the_records_of_every_other_stream_whole(
    deselected: tuple[str, str],
) -> None:
    # The SDK drops a deselected property from the record in place; the tap reads its records
    # again to feed other streams, which lost the property too, or failed on its absence.
    stream, name = deselected
    with Simulator(seed=5, events=300, page_size=100, daily_quota=None, plan_projects=1) as sim:
        projects = [{"url": p.url, "token": p.token} for p in sim.plan_projects]
        config = events_config(sim, projects=projects)
        whole = run_tap(config)
        catalog = TapAphex(config=config).catalog_dict
        for entry in catalog["streams"]:
            for metadata in entry["metadata"]:
                if entry["tap_stream_id"] == stream and metadata["breadcrumb"][-1:] == [name]:
                    metadata["metadata"] = {"inclusion": "available", "selected": False}

        run = run_tap(config, catalog=catalog)

    assert all(name not in record for record in run.records(stream))
    for other in ("task_events", "tasks", "task_statuses", "published_plans"):
        expected = whole.records(other)
        if other == stream:
            expected = [{k: v for k, v in record.items() if k != name} for record in expected]
        assert run.records(other) == expected, other
    assert len(run.records("published_plan_tasks")) == len(whole.records("published_plan_tasks"))


def _retyped(schema: dict[str, t.Any], *steps: str) -> dict[str, t.Any]:
    """The subschema of ``schema`` at ``steps``, to be retyped in place."""
    for step in steps:
        schema = schema[step]
    return schema


@pytest.mark.parametrize(
    ("stream", "steps", "given", "place"),
    [
        # Records carry the tap's types whatever SCHEMA says: a target that builds its columns
        # from SCHEMA would refuse them, or cast an id to a number, mid-run.
        (
            "task_events",
            ("properties", "eventId"),
            "integer",
            "properties.eventId` leaves out string",
        ),
        (
            "task_events",
            ("properties", "createdAt"),
            "string",
            "properties.createdAt` leaves out null",
        ),
        (
            "tasks",
            ("properties", "statuses", "items", "properties", "value"),
            ["string", "null"],
            "statuses.items.properties.value` leaves out number",
        ),
        (
            "task_events",
            ("properties", "task", "properties", "labourResources", "additionalProperties"),
            ["integer"],
            "labourResources.additionalProperties` leaves out number",
        ),
        ("published_plan_tasks", ("properties", "rowNumber"), ["string"], "leaves out integer"),
    ],
)
def test_a_catalog_schema_leaving_out_a_type_the_tap_sends_is_refused_before_any_request(
    tmp_path: Path, stream: str, steps: tuple[str, ...], given: object, place: str
) -> None:
    with Simulator(seed=5, events=300, page_size=100, daily_quota=None, plan_projects=1) as sim:
        projects = [{"url": p.url, "token": p.token} for p in sim.plan_projects]
        config = events_config(sim, projects=projects)
        catalog = copy.deepcopy(TapAphex(config=config).catalog_dict)  # not the tap's own
        (entry,) = (entry for entry in catalog["streams"] if entry["tap_stream_id"] == stream)
        _retyped(entry["schema"], *steps)["type"] = given
        run = _run_with_catalog(tmp_path, config, catalog)

        assert sim.requests == []
    assert run.returncode == 1
    (error,) = log_lines(run.stderr, "ERROR")
    assert f"stream `{stream}`'s `schema." in error
    assert place in error
    assert "give its types as `--discover` writes them" in error
    assert run.messages == []


def test_a_catalog_schema_widening_a_type_is_taken(tmp_path: Path) -> None:
    with Simulator(seed=5, events=300, page_size=100, daily_quota=None, plan_projects=0) as sim:
        config = events_config(sim)
        catalog = copy.deepcopy(TapAphex(config=config).catalog_dict)  # not the tap's own
        (entry,) = (entry for entry in catalog["streams"] if entry["tap_stream_id"] == "tasks")
        entry["schema"]["properties"]["duration"] = {"type": ["number", "string", "null"]}
        entry["schema"]["properties"]["statuses"] = {}  # anything: holds what the tap sends
        run = _run_with_catalog(tmp_path, config, catalog)

    assert run.returncode == 0, run.stderr
    assert run.records("tasks")


@pytest.mark.parametrize(
    ("stream", "place", "subschema"),
    [
        ("task_events", ("properties", "eventId"), True),
        ("task_events", ("properties", "task"), False),
        ("tasks", ("properties", "successors", "items"), True),
        ("task_events", ("properties", "eventId", "anyOf"), [{"type": "string"}, True]),
    ],
)
def test_a_catalog_schema_holding_a_boolean_subschema_is_refused_naming_where(
    tmp_path: Path, stream: str, place: tuple[str, ...], subschema: object
) -> None:
    # `true` and `false` are JSON Schema, but the SDK reads every subschema as an object: the run
    # ended as "cannot be read (AttributeError)", or blamed `stream_maps` for an anyOf's.
    with Simulator(seed=5, events=300, page_size=100, daily_quota=None, plan_projects=0) as sim:
        config = events_config(sim)
        catalog = copy.deepcopy(TapAphex(config=config).catalog_dict)  # not the tap's own
        (entry,) = (entry for entry in catalog["streams"] if entry["tap_stream_id"] == stream)
        _retyped(entry["schema"], *place[:-1])[place[-1]] = subschema
        run = _run_with_catalog(tmp_path, config, catalog)

        assert sim.requests == []
    assert run.returncode == 1
    (error,) = log_lines(run.stderr, "ERROR")
    where = ".".join(place) + ("[1]" if isinstance(subschema, list) else "")
    assert f"stream `{stream}`'s `schema.{where}` must be an object schema, not a boolean" in error
    assert error.endswith("Make one with `tap-aphex --discover`.")
    assert run.messages == []


_Edit = t.Callable[[dict[str, t.Any]], None]  # a catalog's entries, by stream, edited in place


def _root(entry: dict[str, t.Any]) -> dict[str, t.Any]:
    """The metadata of the stream itself (breadcrumb [])."""
    return next(m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == [])


def _deselect(entry: dict[str, t.Any], name: str) -> None:
    for metadata in entry["metadata"]:
        if metadata["breadcrumb"] == ["properties", name]:
            metadata["metadata"]["selected"] = False


def _closed_without_name(streams: dict[str, t.Any]) -> None:
    streams["tasks"]["schema"]["additionalProperties"] = False
    del streams["tasks"]["schema"]["properties"]["name"]


def _task_event_property(streams: dict[str, t.Any], name: str) -> dict[str, t.Any]:
    return t.cast("dict[str, t.Any]", streams["task_events"]["schema"]["properties"][name])


def _listed_twice(streams: dict[str, t.Any]) -> None:
    streams["extra"] = copy.deepcopy(streams["tasks"])
    _root(streams["extra"])["selected"] = False  # the SDK kept this one: tasks went unread


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        # A type left out, however written: anyOf and oneOf admit their branches' types, allOf
        # only what every branch and the `type` beside it admit.
        (
            lambda s: (
                _task_event_property(s, "eventId").update(type=None, anyOf=[{"type": "integer"}])
                or _task_event_property(s, "eventId").pop("type")
            ),
            "stream `task_events`'s `schema.properties.eventId` leaves out string",
        ),
        (
            lambda s: _task_event_property(s, "eventId").update(allOf=[{"type": "integer"}]),
            "stream `task_events`'s `schema.properties.eventId.allOf[0]` leaves out string",
        ),
        (
            lambda s: _task_event_property(s, "createdAt").update(
                oneOf=[{"type": "string"}, {"type": "integer"}]
            ),
            "stream `task_events`'s `schema.properties.createdAt` leaves out null",
        ),
        # Keys the tap sends that a closed object does not admit.
        (
            _closed_without_name,
            "stream `tasks`'s `schema` has `additionalProperties: false`, which leaves out the "
            "property `name`",
        ),
        (
            lambda s: _task_event_property(s, "task").update(additionalProperties=False),
            "stream `task_events`'s `schema.properties.task` has `additionalProperties: false`, "
            "which leaves out the keys the vendor sends beyond those",
        ),
        (
            lambda s: s["tasks"]["schema"]["properties"]["labourResources"].update(
                additionalProperties=False
            ),
            "stream `tasks`'s `schema.properties.labourResources` has `additionalProperties: f",
        ),
        # A property the tap sends left out of a schema that lists properties: the records carry
        # it all the same (a target making columns from SCHEMA drops it); deselecting is the way.
        (
            lambda s: s["task_events"]["schema"]["properties"].pop("undocumented"),
            "stream `task_events`'s `schema.properties` leaves out `undocumented`, which the tap "
            "sends (a target that makes columns from SCHEMA drops it): give it back as "
            "`--discover` writes it, or deselect it in the metadata",
        ),
        (
            lambda s: _task_event_property(s, "task")["properties"].pop("name"),
            "stream `task_events`'s `schema.properties.task.properties` leaves out `name`",
        ),
        # Shapes the SDK cannot read: the place, in JSON's words, and what to do.
        (
            lambda s: _task_event_property(s, "eventId").update(type=5),
            "stream `task_events`'s `schema.properties.eventId.type` must be a JSON type's name "
            "or an array of them, not a number",
        ),
        (
            lambda s: _task_event_property(s, "eventId").update(type=None),
            "`schema.properties.eventId.type` must be a JSON type's name or an array of them, not "
            "null",
        ),
        (
            lambda s: s["tasks"]["schema"].update(properties=[]),
            "stream `tasks`'s `schema.properties` must be an object, not an array",
        ),
        (
            lambda s: (
                s["tasks"]["schema"].update(definitions={"id": {"type": ["string"]}})
                or s["tasks"]["schema"]["properties"].update(id={"$ref": "#/definitions/id"})
            ),
            "stream `tasks`'s `schema.properties.id` has a `$ref`, which the SDK does not follow: "
            "write out what it names",
        ),
        # Replication in the metadata, which the SDK passes over.
        (
            lambda s: _root(s["tasks"]).update({"replication-method": "FULL_TABLE"}),
            "stream `tasks`'s metadata asks for `replication-method` 'FULL_TABLE'",
        ),
        (_listed_twice, "stream `tasks` is listed twice (`streams[2]` and `streams[3]`)"),
    ],
)
def test_a_catalog_the_tap_cannot_keep_its_word_on_is_refused_naming_file_stream_and_place(
    tmp_path: Path, edit: _Edit, words: str
) -> None:
    with Simulator(seed=5, events=300, page_size=100, daily_quota=None, plan_projects=0) as sim:
        config = events_config(sim)
        catalog = copy.deepcopy(TapAphex(config=config).catalog_dict)  # not the tap's own
        streams = {entry["tap_stream_id"]: entry for entry in catalog["streams"]}
        edit(streams)
        catalog["streams"] = list(streams.values())
        run = _run_with_catalog(tmp_path, config, catalog)

        assert sim.requests == []
    error = _refusal(run)
    assert f"The catalog file {tmp_path}/catalog.json is not a catalog the tap can use: " in error
    assert words in error


def test_a_catalog_asking_in_its_metadata_for_another_replication_key_is_refused(
    tmp_path: Path,
) -> None:
    # The entry's own key, and the metadata's another: the SDK took the entry's without a word.
    with Simulator(seed=5, events=300, page_size=100, daily_quota=None, plan_projects=0) as sim:
        config = events_config(sim)
        catalog = copy.deepcopy(TapAphex(config=config).catalog_dict)
        (entry,) = (entry for entry in catalog["streams"] if entry["tap_stream_id"] == "tasks")
        _root(entry)["replication-key"] = "eventCreatedAt"
        run = _run_with_catalog(tmp_path, config, catalog)

        assert sim.requests == []
    assert "The catalog asks for tasks by 'INCREMENTAL' on eventCreatedAt" in _refusal(run)


def test_a_catalog_widening_or_deselecting_what_it_retypes_is_taken(tmp_path: Path) -> None:
    # A deselected property reaches neither SCHEMA nor the records: its type is no one's concern.
    with Simulator(seed=5, events=300, page_size=100, daily_quota=None, plan_projects=0) as sim:
        config = events_config(sim)
        catalog = copy.deepcopy(TapAphex(config=config).catalog_dict)
        streams = {entry["tap_stream_id"]: entry for entry in catalog["streams"]}
        tasks = streams["tasks"]
        tasks["schema"]["properties"]["name"] = {"type": "integer"}
        _deselect(tasks, "name")
        tasks["schema"]["properties"]["eventId"] = {
            "anyOf": [{"type": "integer"}, {"type": "string"}]
        }
        tasks["schema"]["properties"]["duration"] = {"allOf": [{"type": ["number", "null"]}]}
        _root(tasks)["replication-method"] = "INCREMENTAL"
        _task_event_property(streams, "task")["additionalProperties"] = {}
        del tasks["schema"]["properties"]["location"]  # left out and deselected: never sent
        _deselect(tasks, "location")
        run = _run_with_catalog(tmp_path, config, catalog)

    assert run.returncode == 0, run.stderr
    assert run.records("tasks")
    assert all("name" not in record for record in run.records("tasks"))
    assert all("location" not in record for record in run.records("tasks"))


def _task_property(streams: dict[str, t.Any], name: str) -> dict[str, t.Any]:
    """A property of task_events' `task`, as the catalog holds it."""
    return t.cast("dict[str, t.Any]", _task_event_property(streams, "task")["properties"][name])


def _run_edited(
    tmp_path: Path, edit: _Edit, settings: dict[str, t.Any]
) -> tuple[TapRun, list[t.Any]]:
    """A run over 300 events with the tap's catalog as ``edit`` leaves it, ``settings`` added to
    the config; and the requests the simulator saw."""
    with Simulator(seed=5, events=300, page_size=100, daily_quota=None, plan_projects=0) as sim:
        config = events_config(sim)
        catalog = copy.deepcopy(TapAphex(config=config).catalog_dict)
        streams = {entry["tap_stream_id"]: entry for entry in catalog["streams"]}
        edit(streams)
        catalog["streams"] = list(streams.values())
        return _run_with_catalog(tmp_path, {**config, **settings}, catalog), list(sim.requests)


_UNTYPED_BRANCH = {
    "anyOf": [{"enum": ["TaskCreated", "TaskUpdated", "TaskDeleted"]}, {"type": "null"}]
}


@pytest.mark.parametrize(
    ("edit", "settings", "words"),
    [
        # patternProperties: each pattern admits what the tap sends under the keys it matches,
        # and (where the tap keeps the vendor's further keys) what those may be.
        (
            lambda s: _task_event_property(s, "task").update(
                patternProperties={"^dur": {"type": "string"}}
            ),
            {},
            "`schema.properties.task.patternProperties.^dur` leaves out null and number",
        ),
        (
            lambda s: _task_property(s, "labourResources").update(
                patternProperties={".": {"type": "string"}}
            ),
            {},
            "`schema.properties.task.properties.labourResources.patternProperties..` leaves out "
            "number",
        ),
        (
            lambda s: _task_event_property(s, "task").update(patternProperties={"(": {}}),
            {},
            "`schema.properties.task.patternProperties` has `(`: no regular expression",
        ),
        # oneOf: a value admitted by two branches is invalid (an integer is a number).
        (
            lambda s: (
                _task_event_property(s, "type").update(
                    type=None, oneOf=[{"type": ["string", "null"]}, {"type": ["string", "null"]}]
                )
                or _task_event_property(s, "type").pop("type")
            ),
            {},
            "`schema.properties.type.oneOf` has two branches admitting null and string, which the "
            "tap sends (a value must match exactly one): make it an `anyOf`",
        ),
        (
            lambda s: (
                _task_property(s, "duration").update(
                    type=None, oneOf=[{"type": "number"}, {"type": "integer"}, {"type": "null"}]
                )
                or _task_property(s, "duration").pop("type")
            ),
            {},
            "`schema.properties.task.properties.duration.oneOf` has two branches admitting "
            "integer,",
        ),
        # An empty list of branches: no value is valid.
        *(
            (
                lambda s, key=key: _task_event_property(s, "apiVersion").update({key: []}),
                {},
                f"`schema.properties.apiVersion.{key}` must be an array of at least one schema, "
                "not an empty array",
            )
            for key in ("anyOf", "oneOf", "allOf")
        ),
        # A lone surrogate: the SDK would stop mid-run writing it out.
        (
            lambda s: _task_event_property(s, "task")["properties"].update({"\ud800x": {}}),
            {},
            "stream `task_events` holds a value the tap cannot write back (a lone surrogate",
        ),
        (
            lambda s: _task_event_property(s, "type").update(description="\ud800"),
            {},
            "stream `task_events` holds a value the tap cannot write back (a lone surrogate",
        ),
        # A branch without a type: the SDK's flattening reads it, and a replication key's.
        # With flattening, the SDK types a property without a `type` by its first keyword's value:
        # a crash (`enum`), a column of the first branch's type only, or no column at all.
        *(
            (
                lambda s, given=given: s["task_events"]["schema"]["properties"].update(type=given),
                {"flattening_enabled": True, "flattening_max_depth": 1},
                "`schema.properties.type` has no `type` of its own, which flattening reads",
            )
            for given in [
                _UNTYPED_BRANCH,
                {"anyOf": [{"type": "integer"}, {"type": ["string", "null"]}]},
                {"oneOf": [{"type": "string"}, {"type": "null"}]},
                {"enum": ["TaskCreated", "TaskUpdated", "TaskDeleted", None]},
            ]
        ),
        (
            lambda s: s["task_events"]["schema"]["properties"].update(
                eventId={"anyOf": [{"type": "string"}, {"pattern": "."}]}
            ),
            {},
            "stream `task_events`'s replication key `eventId` has no `type` in its `schema` (or "
            "in a branch)",
        ),
    ],
)
def test_a_catalog_schema_no_record_would_be_valid_under_is_refused_before_any_request(
    tmp_path: Path, edit: _Edit, settings: dict[str, t.Any], words: str
) -> None:
    # Each one ran: every record failed the SCHEMA before it (or the run stopped mid-way).
    run, requests = _run_edited(tmp_path, edit, settings)

    assert requests == []
    error = _refusal(run)
    assert f"The catalog file {tmp_path}/catalog.json is not a catalog the tap can use: " in error
    assert words in error
    assert "Unexpected" not in run.stderr


def _deselected_with(name: str, schema: dict[str, t.Any]) -> _Edit:
    """task_events' property ``name`` given ``schema``, and deselected."""

    def edit(streams: dict[str, t.Any]) -> None:
        _task_event_property(streams, name).clear()
        _task_event_property(streams, name).update(schema)
        _deselect(streams["task_events"], name)

    return edit


@pytest.mark.parametrize(
    ("edit", "settings"),
    [
        # Under a deselected property, only a subschema that is no object breaks the SDK.
        (_deselected_with("apiVersion", {"type": "bogus"}), {}),
        (
            _deselected_with("apiVersion", {"anyOf": [{"format": "date-time"}, {"type": "null"}]}),
            {},
        ),
        (_deselected_with("task", {"properties": {"name": {"anyOf": [{}]}}}), {}),
        # A branch without a type, where nothing reads it (no flattening; not the key).
        (lambda s: s["task_events"]["schema"]["properties"].update(type=_UNTYPED_BRANCH), {}),
        (
            lambda s: s["task_events"]["schema"]["properties"].update(type=_UNTYPED_BRANCH),
            {"stream_maps": {"task_events": {"kind": "type"}}},
        ),
        # Patterns and oneOf branches admitting what the tap sends, exactly once.
        (  # the tap keeps the vendor's further keys of `task`, as they come: any type
            lambda s: (
                _task_property(s, "labourResources").update(
                    patternProperties={".": {"type": ["number", "null"]}}
                )
                or _task_event_property(s, "task").update(patternProperties={"^dur": {}})
            ),
            {},
        ),
        (
            lambda s: (
                _task_property(s, "duration").update(
                    type=None, oneOf=[{"type": "number"}, {"type": "null"}]
                )
                or _task_property(s, "duration").pop("type")
            ),
            {},
        ),
        (lambda s: _task_event_property(s, "type").update(title="\u00e9v\u00e9nement"), {}),
        # A lone surrogate where no SCHEMA is written: a stream left out (it is not read).
        (
            lambda s: [
                m["metadata"].update(selected=False, description="\ud800")
                for m in s["tasks"]["metadata"]
                if m["breadcrumb"] == []
            ],
            {},
        ),
    ],
)
def test_a_catalog_schema_every_record_is_valid_under_is_taken(
    tmp_path: Path, edit: _Edit, settings: dict[str, t.Any]
) -> None:
    run, _ = _run_edited(tmp_path, edit, settings)

    assert run.returncode == 0, run.stderr
    assert len(run.records("task_events")) == 300


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("TAP_APHEX_PAGE_SIZE", "abc", "`TAP_APHEX_PAGE_SIZE` must be a whole number"),
        ("TAP_APHEX_PROJECTS", "[5", "`TAP_APHEX_PROJECTS` must be JSON, an array [...]"),
    ],
)
def test_a_bad_variable_beside_a_catalog_is_said_in_its_own_words(
    tmp_path: Path, variable: str, value: str, words: str
) -> None:
    # The catalog's check reads `flattening_enabled` as the SDK will: after the variables are
    # checked (the SDK's own reading of them failed: "Unexpected ValueError").
    config = {"api_key": "k", "api_url": "http://127.0.0.1:9"}
    catalog = TapAphex(config=config).catalog_dict
    for name, content in {"config": config, "catalog": catalog}.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(content))

    run = run_command(
        f"--config={tmp_path}/config.json",
        "--config=ENV",
        f"--catalog={tmp_path}/catalog.json",
        env={variable: value},
    )

    assert run.returncode == 1
    (error,) = log_lines(run.stderr, "ERROR")
    assert error.startswith(words)
    assert "Parsing" not in run.stderr  # the SDK's INFO lines on each variable stay hidden


@pytest.mark.parametrize("deselect", [True, False], ids=["all deselected", "no stream listed"])
def test_a_catalog_selecting_no_stream_says_nothing_is_read(tmp_path: Path, deselect: bool) -> None:
    with Simulator(seed=5, events=30, page_size=100, daily_quota=None, plan_projects=0) as sim:
        config = events_config(sim)
        catalog = copy.deepcopy(TapAphex(config=config).catalog_dict)
        for entry in catalog["streams"]:
            _root(entry)["selected"] = False
        run = _run_with_catalog(tmp_path, config, catalog if deselect else {"streams": []})

        assert sim.requests == []
    assert run.returncode == 0, run.stderr
    warning = f"The catalog file {tmp_path}/catalog.json selects no stream: nothing is read."
    assert log_lines(run.stderr, "WARNING") == [warning]


def test_a_catalog_selecting_only_streams_the_config_does_not_enable_says_so(
    tmp_path: Path,
) -> None:
    with Simulator(seed=5, events=30, page_size=100, daily_quota=None, plan_projects=1) as sim:
        full = events_config(sim) | plans_config(sim.plan_projects)
        catalog = copy.deepcopy(TapAphex(config=full).catalog_dict)
        for entry in catalog["streams"]:
            _root(entry)["selected"] = entry["tap_stream_id"] == "tasks"
        run = _run_with_catalog(tmp_path, plans_config(sim.plan_projects), catalog)

        assert sim.requests == []
    assert run.returncode == 0, run.stderr
    [warning] = log_lines(run.stderr, "WARNING")
    assert warning.startswith(
        f"The catalog file {tmp_path}/catalog.json selects only streams the config does not "
        "enable (tasks): nothing is read. `api_key` enables task_events, tasks and task_statuses"
    )
