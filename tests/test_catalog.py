"""What a Singer catalog may ask: which streams and properties are read. The rest is the tap's
own (schemas, keys), and another replication is refused in one line, before any request."""

from __future__ import annotations

import copy
import importlib.util
import json
import typing as t

import pytest
from aphex_simulator import Simulator
from harness import (
    TapRun,
    events_config,
    log_lines,
    plans_config,
    run_cli,
    run_command,
    run_tap,
    selecting,
)
from singer_sdk.singerlib import Catalog
from test_airbyte import configured, source

from tap_aphex import catalog_checks
from tap_aphex.report import ConfigError
from tap_aphex.tap import LOG_STREAMS, PLANS_STREAMS, STREAM_NAMES, TapAphex

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
        ("task_events", {"replication_method": "FULL_TABLE"}, 'task_events by a string "FULL_'),
        ("tasks", {"replication_method": "FULL_TABLE"}, 'tasks by a string "FULL_TABLE" on a'),
        ("tasks", {"replication_method": "incremental"}, 'tasks by a string "incremental"'),
        (
            "task_statuses",
            {"replication_key": "date"},
            'task_statuses by a string "INCREMENTAL" on a string "date"',
        ),
        ("published_plans", {"replication_method": "FULL_TABLE"}, "published_plans by a string"),
        # Empty: the SDK took it as none, silently; a long key was cut without a word.
        ("tasks", {"replication_method": ""}, 'tasks by a string "" on a string "eventId"'),
        ("tasks", {"replication_key": ""}, 'tasks by a string "INCREMENTAL" on a string "": '),
        (
            "tasks",
            {"replication_key": "k" * 5000},
            f'tasks by a string "INCREMENTAL" on a string "{"k" * 39}… (5002 characters): ',
        ),
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
    assert f"The catalog file {tmp_path}/catalog.json asks for {words}" in error
    assert "or make the catalog with `--discover`" in error
    assert "Meltano's `metadata`" in error


def test_a_catalog_given_in_code_is_read_by_the_same_rule() -> None:
    # `TapAphex(catalog=...)` (Python callers, source-aphex): it selects, the rest is the tap's.
    with Simulator(seed=5, events=30, page_size=10, daily_quota=None, plan_projects=0) as sim:
        config = events_config(sim)
        own = TapAphex(config=config).catalog_dict
        retyped = copy.deepcopy(own)
        for entry in retyped["streams"]:
            entry["schema"]["properties"]["eventId"] = {"type": "integer"}
        run = run_tap(config, catalog=retyped)
        full_table = copy.deepcopy(own)
        full_table["streams"][0]["replication_method"] = "FULL_TABLE"
        with pytest.raises(ConfigError) as refused:
            TapAphex(config=config, catalog=full_table)

    (schema,) = [m for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == "task_events"]
    (discovered,) = [e for e in own["streams"] if e["tap_stream_id"] == "task_events"]
    assert schema["schema"] == discovered["schema"]
    assert len(run.records("task_events")) == 30
    assert str(refused.value).startswith(
        'The catalog asks for task_events by a string "FULL_TABLE"'
    )


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


def _without(record: dict[str, t.Any], path: tuple[str, ...]) -> dict[str, t.Any]:
    """``record`` without the property at ``path`` (a path of property names)."""
    name, *rest = path
    if not rest:
        return {k: v for k, v in record.items() if k != name}
    inner = record.get(name)
    return record if not isinstance(inner, dict) else {**record, name: _without(inner, tuple(rest))}


@pytest.fixture(scope="module")
def read_whole() -> t.Iterator[tuple[dict[str, t.Any], TapRun]]:
    """A simulator the deselection cases share (none changes it: they only read), and its run
    with every property: what each case's other streams must still hold."""
    with Simulator(seed=5, events=300, page_size=100, daily_quota=None, plan_projects=1) as sim:
        projects = [{"url": p.url, "token": p.token} for p in sim.plan_projects]
        config = events_config(sim, projects=projects)
        yield config, run_tap(config)


@pytest.mark.parametrize(
    "deselected",
    [
        ("tasks", ("statuses",)),  # task_statuses are built from each task: they went missing
        ("tasks", ("eventCreatedAt",)),  # a field each status row takes from its task
        ("task_events", ("task",)),  # `tasks` is built from each event's task
        ("task_events", ("task", "name")),  # nested: `tasks` still gets each task's name
        ("task_events", ("task", "statuses")),  # and task_statuses each task's statuses
        ("published_plans", ("version",)),  # the read's bookmarks follow version numbers
        ("published_plans", ("rowCounts",)),
    ],
)
def test_a_property_deselected_leaves_the_records_of_every_other_stream_whole(
    read_whole: tuple[dict[str, t.Any], TapRun], deselected: tuple[str, tuple[str, ...]]
) -> None:
    # The SDK drops a deselected property from the record in place; the tap reads its records
    # again to feed other streams, which lost the property too, or failed on its absence.
    stream, path = deselected
    crumb = [step for name in path for step in ("properties", name)]
    config, whole = read_whole
    catalog = TapAphex(config=config).catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if entry["tap_stream_id"] == stream and metadata["breadcrumb"] == crumb:
                metadata["metadata"] = {"inclusion": "available", "selected": False}

    run = run_tap(config, catalog=catalog)

    schema = _schema(run, stream)["schema"]
    for name in path[:-1]:
        schema = schema["properties"][name]
    assert path[-1] not in schema["properties"]
    assert run.records(stream) != whole.records(stream)
    for other in ("task_events", "tasks", "task_statuses", "published_plans"):
        expected = whole.records(other)
        if other == stream:
            expected = [_without(record, path) for record in expected]
        assert run.records(other) == expected, other
    assert len(run.records("published_plan_tasks")) == len(whole.records("published_plan_tasks"))


_Edit = t.Callable[[dict[str, t.Any]], object]  # a catalog's entries, by stream, edited in place


def _root(entry: dict[str, t.Any]) -> dict[str, t.Any]:
    """The metadata of the stream itself (breadcrumb [])."""
    return next(m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == [])


def _deselect(entry: dict[str, t.Any], name: str) -> None:
    for metadata in entry["metadata"]:
        if metadata["breadcrumb"] == ["properties", name]:
            metadata["metadata"]["selected"] = False


def _property(streams: dict[str, t.Any], stream: str, *names: str) -> dict[str, t.Any]:
    """A property's schema (``names``: a path of properties) in ``stream``'s catalog entry."""
    schema = streams[stream]["schema"]
    for name in names:
        schema = schema["properties"][name]
    return t.cast("dict[str, t.Any]", schema)


def _run_edited(
    tmp_path: Path, edit: _Edit, settings: dict[str, t.Any] | None = None
) -> tuple[TapRun, dict[str, t.Any]]:
    """`tap-aphex --catalog` over 300 events, the tap's catalog (with `tasks.location`
    deselected) as ``edit`` leaves it and ``settings`` added to the config; and `--discover`'s
    catalog, by stream."""
    with Simulator(seed=5, events=300, page_size=100, daily_quota=None, plan_projects=0) as sim:
        config = events_config(sim)
        discovered = TapAphex(config=config).catalog_dict
        catalog = copy.deepcopy(discovered)
        streams = {entry["tap_stream_id"]: entry for entry in catalog["streams"]}
        _deselect(streams["tasks"], "location")
        edit(streams)
        catalog["streams"] = list(streams.values())
        run = _run_with_catalog(tmp_path, {**config, **(settings or {})}, catalog)
    return run, {entry["tap_stream_id"]: entry for entry in discovered["streams"]}


def _schema(run: TapRun, stream: str) -> dict[str, t.Any]:
    """The one SCHEMA message of ``stream``."""
    (message,) = (m for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == stream)
    return message


def _listed_twice(streams: dict[str, t.Any]) -> None:
    streams["extra"] = copy.deepcopy(streams["tasks"])
    _root(streams["extra"])["selected"] = False  # the SDK kept this one: tasks went unread


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (
            lambda s: _root(s["tasks"]).update({"replication-method": "FULL_TABLE"}),
            'asks for tasks by a string "FULL_TABLE" on a string "eventId"',
        ),
        (
            lambda s: _root(s["tasks"]).update({"forced-replication-method": "LOG_BASED"}),
            'asks for tasks by a string "LOG_BASED" on a string "eventId"',
        ),
        (_listed_twice, "is not a catalog the tap can use: stream `tasks` is listed twice"),
    ],
)
def test_a_catalog_asking_what_the_tap_cannot_do_is_refused_naming_file_and_stream(
    tmp_path: Path, edit: _Edit, words: str
) -> None:
    run, _ = _run_edited(tmp_path, edit)

    assert f"The catalog file {tmp_path}/catalog.json {words}" in _refusal(run)


def test_a_catalog_asking_in_its_metadata_for_another_replication_key_is_refused(
    tmp_path: Path,
) -> None:
    # The entry's own key, and the metadata's another: the SDK took the entry's without a word.
    run, _ = _run_edited(tmp_path, lambda s: _root(s["tasks"]).update({"replication-key": "x"}))

    assert 'asks for tasks by a string "INCREMENTAL" on a string "x"' in _refusal(run)


def _retyped(streams: dict[str, t.Any]) -> None:
    _property(streams, "tasks", "id").update(type="integer")
    _property(streams, "tasks", "statuses").update(items=True)


def _renamed_and_more(streams: dict[str, t.Any]) -> None:
    """Six properties the tap lacks, one with a 300-character name; and other keys."""
    properties = streams["tasks"]["schema"]["properties"]
    properties |= {name: {"type": "string"} for name in ("n" * 300, "a", "b", "c", "d", "e")}
    streams["tasks"]["key_properties"] = ["n" * 300]


def _everything_at_once(streams: dict[str, t.Any]) -> None:
    """A schema, keys and a selection the tap lacks in one stream: one warning still."""
    _retyped(streams)
    _root(streams["tasks"])["table-key-properties"] = ["name"]
    streams["tasks"]["metadata"].append({"breadcrumb": ["x"], "metadata": {"selected": True}})


@pytest.mark.parametrize(
    ("edit", "settings", "words"),
    [
        # Each was refused, one line naming the place (the SDK wrote the file's schema as SCHEMA,
        # the records carrying the tap's types and keys): now the schema is the tap's own. The
        # warning names what differs (it said "another schema or keys", not which).
        (
            _retyped,
            {},
            "tasks` a schema other than its own (`schema` differing at id and statuses)",
        ),
        (  # not deselected
            lambda s: s["tasks"]["schema"]["properties"].pop("name"),
            {},
            "tasks` a schema other than its own (`schema` differing at name): the tap writes its",
        ),
        (
            lambda s: s["task_events"]["schema"].update(additionalProperties=False),
            {},
            "(`schema` differing at `additionalProperties`)",
        ),
        (
            lambda s: _property(s, "tasks", "id").update({"$ref": "#/definitions/id"}),
            {},
            "(`schema` differing at id)",
        ),
        (
            lambda s: s["tasks"]["schema"].update(properties=[]),
            {},
            "(`schema`'s `properties` an array [], not an object)",
        ),
        (lambda s: s["tasks"].update(schema=5), {}, "(`schema` a number 5, not an object)"),
        (
            lambda s: _property(s, "task_events", "type").update(description="\ud800"),
            {},
            "(`schema` differing at type)",
        ),
        (
            lambda s: s["tasks"].update(key_properties=["name"]),
            {},
            'tasks` keys other than its own (`key_properties` an array ["name"], not ["id"])',
        ),
        (
            lambda s: _root(s["tasks"]).update({"table-key-properties": []}),
            {},
            '(`table-key-properties` an array [], not ["id"])',
        ),
        (  # a property without a `type`, which the SDK's flattening read
            lambda s: _property(s, "task_events", "type").pop("type"),
            {"flattening_enabled": True, "flattening_max_depth": 1},
            "(`schema` differing at type)",
        ),
        (  # names cut, and counted past three
            _renamed_and_more,
            {},
            f'(`key_properties` an array ["{"n" * 38}… (304 characters), not ["id"]; `schema` '
            f"differing at {'n' * 40}… (300 characters), a, b and 3 more)",
        ),
        (
            _everything_at_once,
            {},
            'tasks` selections of properties it does not have, ignored: ["x"]; a schema and keys '
            'other than its own (`table-key-properties` an array ["name"], not ["id"]; `schema` '
            "differing at id and statuses): the tap writes its own",
        ),
    ],
)
def test_a_catalog_with_another_schema_or_keys_gets_the_taps_own_and_one_warning(
    tmp_path: Path, edit: _Edit, settings: dict[str, t.Any], words: str
) -> None:
    run, discovered = _run_edited(tmp_path, edit, settings)

    assert run.returncode == 0, run.stderr
    assert len(run.records("task_events")) == 300
    (warning,) = log_lines(run.stderr, "WARNING")
    assert warning.startswith(f"The catalog file {tmp_path}/catalog.json gives stream `")
    assert words in warning
    assert warning.endswith(
        "the tap writes its own (a catalog selects streams and properties only: deselect a "
        "property in the metadata rather than removing it from the schema)."
    )
    if settings:  # flattened: the tap's own types
        type_ = _schema(run, "task_events")["schema"]["properties"]["type"]
        assert type_ == discovered["task_events"]["schema"]["properties"]["type"]
        return
    tasks = copy.deepcopy(discovered["tasks"])
    del tasks["schema"]["properties"]["location"]  # deselected: out of SCHEMA and the records
    assert _schema(run, "tasks")["schema"] == tasks["schema"]
    assert _schema(run, "tasks")["key_properties"] == ["id"]
    assert all("location" not in record for record in run.records("tasks"))
    assert _schema(run, "task_events")["schema"] == discovered["task_events"]["schema"]


def _as_meltano_writes_it(streams: dict[str, t.Any]) -> None:
    """Meltano's `select` (`task_events.*`, `tasks.*`, `!tasks.location`) on the discovered
    catalog: `selected` on every metadata entry (the SDK lists every property: Meltano adds
    none)."""
    for stream_id, entry in streams.items():
        wanted = stream_id in ("task_events", "tasks")
        for metadata in entry["metadata"]:
            crumb = metadata["breadcrumb"]
            metadata["metadata"]["selected"] = wanted and crumb != ["properties", "location"]


@pytest.mark.parametrize(
    "edit",
    [
        lambda s: None,  # the discovered catalog written back, `tasks.location` deselected
        lambda s: s["tasks"]["schema"]["properties"].pop("location"),  # and left out too
        _as_meltano_writes_it,
        lambda s: [entry.pop("schema") for entry in s.values()],  # selections only
    ],
)
def test_a_discovered_catalog_written_back_with_its_selections_gives_no_warning(
    tmp_path: Path, edit: _Edit
) -> None:
    run, _ = _run_edited(tmp_path, edit)

    assert run.returncode == 0, run.stderr
    assert log_lines(run.stderr, "WARNING") == []
    assert len(run.records("task_events")) == 300
    assert "location" not in _schema(run, "tasks")["schema"]["properties"]
    assert all("location" not in record for record in run.records("tasks"))


def test_a_selection_of_a_property_the_tap_does_not_have_is_ignored_and_said(
    tmp_path: Path,
) -> None:
    # Each named by its whole breadcrumb: they were named `nope`, `task.gone`, `` (for ["foo"])
    # and `task.statuses.properties` (for one in an array's items, warned as missing).
    crumbs = [
        ["properties", "nope"],
        ["properties", "task", "properties", "gone"],
        ["foo"],
        ["properties", "task", "properties", "statuses", "items", "properties", "name"],
        ["properties", "task", "properties", "statuses", "items"],  # not a property
    ]
    run, _ = _run_edited(
        tmp_path,
        lambda s: s["task_events"]["metadata"].extend(
            {"breadcrumb": crumb, "metadata": {"selected": False}} for crumb in crumbs
        ),
    )

    assert run.returncode == 0, run.stderr
    assert log_lines(run.stderr, "WARNING") == [
        f"The catalog file {tmp_path}/catalog.json gives stream `task_events` selections of "
        'properties it does not have, ignored: ["properties", "nope"], ["properties", "task", '
        '"properties", "gone"], ["foo"] and 1 more; selections of properties in an array\'s '
        "items (the SDK writes each item whole), ignored: "
        '["properties", "task", "properties", "statuses", "items", "properties", "name"].'
    ]
    assert len(run.records("task_events")) == 300


def test_a_breadcrumb_listed_twice_in_an_entry_is_refused(tmp_path: Path) -> None:
    # The SDK kept the last of the two, silently: here the stream went unread.
    run, _ = _run_edited(
        tmp_path,
        lambda s: s["tasks"]["metadata"].append(
            {"breadcrumb": [], "metadata": {"selected": False}}
        ),
    )

    assert (
        f"The catalog file {tmp_path}/catalog.json is not a catalog the tap can use: stream "
        "`tasks` lists breadcrumb [] twice (`metadata["
    ) in _refusal(run)


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (
            lambda s: s["tasks"].update(replication_method=False),  # the SDK: as none
            "stream `tasks`'s `replication_method` must be a string or null, not a boolean",
        ),
        (
            lambda s: s["tasks"].update(replication_key=["eventId"]),
            "stream `tasks`'s `replication_key` must be a string or null, not an array",
        ),
        (
            lambda s: _root(s["tasks"]).update({"replication-method": ["FULL_TABLE"]}),
            ".metadata.replication-method` must be a string or null, not an array",
        ),
        (
            lambda s: _root(s["tasks"]).update({"forced-replication-method": 5}),
            ".metadata.forced-replication-method` must be a string or null, not a number",
        ),
        (
            lambda s: _root(s["tasks"]).update({"replication-key": {}}),
            ".metadata.replication-key` must be a string or null, not an object",
        ),
    ],
)
def test_a_replication_method_or_key_that_is_not_a_string_is_refused_in_jsons_words(
    tmp_path: Path, edit: _Edit, words: str
) -> None:
    run, _ = _run_edited(tmp_path, edit)

    error = _refusal(run)
    assert error.startswith(f"The catalog file {tmp_path}/catalog.json is not a catalog the tap")
    assert words in error


def test_the_taps_own_catalog_is_what_discovery_writes() -> None:
    # A `--catalog` is made the tap's own entries: those must be `--discover`'s, else every
    # catalog would be warned about, and `selected` aside, what the SDK reads would change.
    config = {"api_key": "k", "projects": [{"url": "http://127.0.0.1:9/p", "token": "t"}]}
    discovered = TapAphex(config=config).catalog_dict

    own, warnings = catalog_checks.selected_catalog(
        discovered, "f", (*LOG_STREAMS, *PLANS_STREAMS), STREAM_NAMES
    )

    assert warnings == []
    assert sorted(own["streams"], key=lambda e: e["tap_stream_id"]) == sorted(
        discovered["streams"], key=lambda e: e["tap_stream_id"]
    )


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
    assert error.startswith(f"Config: {words}")
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
        catalog = selecting(full, ["tasks"])
        run = _run_with_catalog(tmp_path, plans_config(sim.plan_projects), catalog)

        assert sim.requests == []
    assert run.returncode == 0, run.stderr
    [warning] = log_lines(run.stderr, "WARNING")
    assert warning.startswith(
        f"The catalog file {tmp_path}/catalog.json selects only streams the config does not "
        "enable (tasks): nothing is read. `api_key` enables task_events, tasks and task_statuses"
    )


def test_a_catalog_selecting_streams_the_config_does_not_enable_names_them_beside_others(
    tmp_path: Path,
) -> None:
    # Only a catalog selecting nothing the config enables was warned about: these went unsaid.
    with Simulator(seed=5, events=30, page_size=100, daily_quota=None, plan_projects=1) as sim:
        full = events_config(sim) | plans_config(sim.plan_projects)
        catalog = selecting(full, ["task_events", "published_plans", "published_plan_tasks"])
        run = _run_with_catalog(tmp_path, events_config(sim), catalog)

    assert run.returncode == 0, run.stderr
    assert len(run.records("task_events")) == 30
    assert log_lines(run.stderr, "WARNING") == [
        f"The catalog file {tmp_path}/catalog.json selects streams the config does not enable "
        "(published_plan_tasks, published_plans): they are not read. `api_key` enables "
        "task_events, tasks and task_statuses; `projects`, the published-plans streams."
    ]


def test_a_catalog_given_in_code_is_read_as_the_sdk_reads_it_a_file_by_its_path(
    tmp_path: Path,
) -> None:
    # The SDK's `Tap(catalog=...)` takes a Catalog, or a file's path: a Catalog selected nothing
    # unsaid, a path was refused as "must be an object, not a string".
    config = {"api_key": "k", "api_url": "http://127.0.0.1:9"}
    catalog = copy.deepcopy(TapAphex(config=config).catalog_dict)
    for entry in catalog["streams"]:
        _root(entry)["selected"] = entry["tap_stream_id"] == "tasks"
    path, bad = tmp_path / "catalog.json", tmp_path / "bad.json"
    path.write_text(json.dumps(catalog))
    bad.write_text(json.dumps({"streams": 5}))

    for given in (catalog, Catalog.from_dict(catalog), path, str(path)):
        tap = TapAphex(config=config, catalog=given)
        assert [name for name, stream in tap.streams.items() if stream.selected] == ["tasks"]
    refusals = {}
    for given in (bad, tmp_path / "missing.json", {"streams": 5}):
        with pytest.raises(ConfigError) as refused:
            TapAphex(config=config, catalog=given)
        refusals[str(given)] = str(refused.value)
    assert refusals == {
        str(bad): f"The catalog file {bad} is not a catalog the tap can use: `streams` must be an "
        "array, not a number. Make one with `tap-aphex --discover`.",
        str(tmp_path / "missing.json"): f"The catalog file {tmp_path}/missing.json cannot be "
        "read: No such file or directory.",
        "{'streams': 5}": "The catalog given is not one the tap can use: `streams` must be an "
        "array, not a number. Make one with `tap-aphex --discover`.",
    }


# ------------------------------------------------------------------------------ stream maps


@pytest.mark.parametrize(
    ("maps", "expected"),
    [
        # The SDK: "an expression failed (AttributeError: 'NoneType' object has no attribute...".
        ({"task_events": {"__alias__": None}}, "`stream_maps.task_events.__alias__` is null: "),
        # The SDK: "Failed to evaluate simpleeval expressions " (the text it could not read).
        ({"tasks": {"__alias__": "  "}}, '`stream_maps.tasks.__alias__` is a string "  ": give'),
        # The SDK: a field named `__alias__`, whose expression fails at the first record.
        (
            {"copy": {"__source__": "tasks", "__alias__": "t"}},
            "`stream_maps.copy.__alias__` beside `__source__` would be a field of the records",
        ),
        ({"tasks": {"__filter__": ""}}, "`stream_maps.tasks.__filter__` is blank: remove it"),
        # The SDK: "Invalid key properties for 'task_events': [eventId]...", its words only.
        (
            {"task_events": {"__else__": "__NULL__"}},
            "`stream_maps.task_events` drops the key `eventId` of task_events (by `__else__`): "
            'keep it (`"eventId": "eventId"`), or give `__key_properties__` the fields',
        ),
        (
            {"task_statuses": {"statusKey": None}},
            "`stream_maps.task_statuses` drops the key `statusKey` of task_statuses (by null)",
        ),
        (
            {"tasks": {"__key_properties__": ["nope"]}},
            "`stream_maps.tasks.__key_properties__` names `nope`, which tasks would not have "
            "after this map: name fields the map sends, or give [] for none",
        ),
        (  # a pattern: each stream it matches
            {"task_*": {"__key_properties__": ["id"]}},
            "`stream_maps.task_*.__key_properties__` names `id`, which task_events would not",
        ),
        # `__alias__` is an expression: the SDK sent a number or null as the stream's name, or
        # crashed on it ("Unexpected AttributeError: 'int' object has no attribute 'strip'").
        ({"tasks": {"__alias__": "5"}}, "`stream_maps` would send tasks as a number 5: "),
        ({"tasks": {"__alias__": "None"}}, "`stream_maps` would send tasks as null: "),
        ({"tasks": {"__alias__": "' '"}}, '`stream_maps` would send tasks as a string " ": '),
    ],
)
def test_a_special_map_key_the_sdk_cannot_use_is_one_line_before_any_request(
    maps: dict[str, t.Any], expected: str
) -> None:
    with Simulator(seed=5, events=50, daily_quota=None, plan_projects=0) as sim:
        run = run_cli(events_config(sim, stream_maps=maps))

        assert sim.requests == []
    assert _refusal(run).startswith(f"Config: {expected}")


@pytest.mark.parametrize(
    "maps",
    [  # what the SDK takes of the same keys, taken too
        {"tasks": {"__key_properties__": [], "id": None}},
        {"tasks": {"__key_properties__": None, "__filter__": None}},
        {"task_events": {"__else__": None, "eventId": "eventId", "kind": "type"}},
        {"task_events": {"__key_properties__": ["kind"], "kind": "type"}},
        {"tasks": {"__alias__": "tasks-copy"}},  # no expression: the text is the name
        {"copy": {"__source__": "tasks", "__filter__": "bool(id)"}},
    ],
)
def test_a_special_map_key_the_sdk_takes_is_taken(maps: dict[str, t.Any]) -> None:
    with Simulator(seed=5, events=50, daily_quota=None, plan_projects=0) as sim:
        run = run_tap(events_config(sim, stream_maps=maps))

    assert run.records("task_statuses")


#: `fake` without faker: the SDK leaves `fake` undefined, so the expression failed at the first
#: record, after requests (on `tasks`, with the hint about deleted tasks), and `check` SUCCEEDED.
WITHOUT_FAKER = pytest.mark.skipif(
    importlib.util.find_spec("faker") is not None, reason="the `faker` package is installed here"
)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        pytest.param(
            {"stream_maps": {"tasks": {"owner": "fake.name()"}}},
            "`stream_maps.tasks.owner` needs the package `faker` (for `fake`), not installed; "
            "install it where the tap runs (`pip install faker`)",
            marks=WITHOUT_FAKER,
        ),
        pytest.param(
            {"stream_maps": {"task_events": {"__filter__": "fake.boolean()"}}},
            "`stream_maps.task_events.__filter__` needs the package `faker`",
            marks=WITHOUT_FAKER,
        ),
        (  # a map that does not parse: `check` had ended in a TRACE alone, exit 1, no status
            {"stream_maps": {"tasks": {"x": "1 +"}}},
            "`stream_maps.tasks.x`: an expression failed (MapExpressionError: Failed to parse",
        ),
        (
            {"stream_maps": {"task_events": {"__filter__": "(("}}},
            "`stream_maps.task_events.__filter__`: an expression failed",
        ),
    ],
)
def test_a_map_that_cannot_be_used_is_a_config_problem_of_both_commands_before_any_request(
    tmp_path: Path, settings: dict[str, t.Any], expected: str
) -> None:
    with Simulator(seed=5, events=50, daily_quota=None, plan_projects=0) as sim:
        config = events_config(sim, **settings)
        catalog = configured(source(tmp_path, "discover", events_config(sim)))
        sim.clear_requests()  # a discovery asks nothing, as it happens
        run = run_cli(config)
        check = source(tmp_path, "check", config)
        read = source(tmp_path, "read", config, catalog=catalog)

        assert sim.requests == []
    assert _refusal(run).startswith(f"Config: {expected}")
    assert check.exit_code == 0  # a failed check is an answer
    (status,) = check.of_type("CONNECTION_STATUS")
    assert status["connectionStatus"]["status"] == "FAILED"
    assert expected in status["connectionStatus"]["message"]
    (error,) = read.errors()
    assert error["failure_type"] == "config_error"
    assert "Config is not valid: " + expected in error["message"]


@pytest.mark.parametrize("faker_config", [{}, {"seed": 1, "locale": "en_US"}])
def test_a_faker_config_with_no_fake_in_any_map_is_taken_with_or_without_faker(
    faker_config: dict[str, t.Any],
) -> None:
    # Without faker the SDK makes no Faker: the setting (a shared Meltano config, say) is unused.
    with Simulator(seed=5, events=50, daily_quota=None, plan_projects=0) as sim:
        maps = {"tasks": {"x": "str(id)"}}
        run = run_cli(events_config(sim, faker_config=faker_config, stream_maps=maps))

    assert run.returncode == 0, run.stderr
