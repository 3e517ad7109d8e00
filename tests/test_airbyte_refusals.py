"""`source-aphex` refuses what it cannot do before it spends quota, counts what it sent, and
sends records only for the configured catalog's streams (issue 18).

Real HTTP to the simulator; every message is checked against the Airbyte protocol's models
(`test_airbyte.source`).
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import typing as t

import pytest
from aphex_simulator import Simulator
from harness import events_config, plans_config, run_cli
from test_airbyte import PAGE, SOURCE_APHEX, AirbyteRun, configured, read, source, valid

from tap_aphex.airbyte.cli import run

if t.TYPE_CHECKING:
    from pathlib import Path

JSONL = {"encoding": {"format": "jsonl", "compression": "gzip"}, "storage": {"root": "file:///tmp"}}
PARQUET = {**JSONL, "encoding": {"format": "parquet", "compression": "gzip"}}
NO_PYARROW = importlib.util.find_spec("pyarrow") is None

#: Settings a read would refuse: each must be refused by `check` and by `read`, before a request.
REFUSED: dict[str, tuple[dict[str, t.Any], str]] = {
    "batch_config": ({"batch_config": JSONL}, "`batch_config` is for Singer targets"),
    "flattening": ({"flattening_enabled": True}, "`flattening_enabled` would send records shaped"),
    "an alias": (
        {"stream_maps": {"task_events": {"__alias__": "events"}}},
        "`stream_maps.task_events` would send the records of `task_events` as `events`; under "
        "Airbyte a stream's records go out under its own name only",
    ),
    "an alias to another stream's name": (
        {"stream_maps": {"task_statuses": {"__alias__": "tasks"}, "tasks": None}},
        "`stream_maps.task_statuses` would send the records of `task_statuses` as `tasks`; under "
        "Airbyte a stream's records go out under its own name only",
    ),
    "a new stream from one": (
        {"stream_maps": {"events_copy": {"__source__": "task_events"}}},
        "`stream_maps.events_copy`",
    ),
    "a new stream from a pattern": (
        {"stream_maps": {"copy": {"__source__": "task_s*"}}},
        "`stream_maps.copy` would send the records of `task_statuses` as `copy`",
    ),
    "a map naming no stream": (
        {"stream_maps": {"events": {"x": "1"}}},
        "`stream_maps.events` names no stream of the tap",
    ),
    "maps that remove every stream": (
        {"stream_maps": {"__else__": None}},
        "`stream_maps` remove every selected stream (task_events, task_statuses, tasks)",
    ),
    "a page size of words": (
        {"page_size": "lots"},
        'valid: `page_size` must be a whole number from 1 to 4000, not a string "lots"',
    ),
    "a key as a number (never shown)": (
        {"api_key": 98765432},
        "valid: `api_key` must be a string, not a number",
    ),
}


@pytest.fixture
def sim() -> t.Iterator[Simulator]:
    with Simulator(seed=7, events=2 * PAGE, page_size=PAGE, daily_quota=None) as sim:
        yield sim


def catalog_of(tmp_path: Path, sim: Simulator) -> dict[str, t.Any]:
    return configured(source(tmp_path, "discover", events_config(sim)))


def refused_before_any_request(result: AirbyteRun, sim: Simulator, words: str) -> str:
    (error,) = result.errors()
    assert error["failure_type"] == "config_error", error
    assert words in error["message"], error["message"]
    assert sim.requests == []  # not one request: no quota spent
    assert result.of_type("RECORD") == result.of_type("STATE") == []
    return str(error["message"])


@pytest.mark.parametrize("setting", REFUSED)
def test_check_refuses_what_a_read_would_before_any_request(
    sim: Simulator, tmp_path: Path, setting: str
) -> None:
    extra, words = REFUSED[setting]

    result = source(tmp_path, "check", {**events_config(sim), **extra})

    refused_before_any_request(result, sim, words)
    (status,) = result.of_type("CONNECTION_STATUS")
    assert status["connectionStatus"]["status"] == "FAILED"
    assert words in status["connectionStatus"]["message"]
    assert result.exit_code == 0  # a failed check is an answer


@pytest.mark.parametrize("setting", REFUSED)
def test_read_refuses_the_same_before_any_request(
    sim: Simulator, tmp_path: Path, setting: str
) -> None:
    extra, words = REFUSED[setting]
    catalog = catalog_of(tmp_path, sim)
    sim.clear_requests()

    result = source(tmp_path, "read", {**events_config(sim), **extra}, catalog=catalog)

    refused_before_any_request(result, sim, words)
    assert result.exit_code == 1


@pytest.mark.parametrize("setting", REFUSED)
def test_discover_refuses_the_same(sim: Simulator, tmp_path: Path, setting: str) -> None:
    # The config a read refuses: discover offered a catalog for it, exit 0, where check refused.
    extra, words = REFUSED[setting]

    result = source(tmp_path, "discover", {**events_config(sim), **extra})

    refused_before_any_request(result, sim, words)
    assert result.of_type("CATALOG") == []
    assert result.exit_code == 1


def test_maps_that_remove_every_stream_a_read_selects_are_named_as_selected(
    sim: Simulator, tmp_path: Path
) -> None:
    catalog = catalog_of(tmp_path, sim)
    catalog["streams"] = [s for s in catalog["streams"] if s["stream"]["name"] == "tasks"]
    config = {**events_config(sim), "stream_maps": {"__else__": None}}
    sim.clear_requests()

    result = source(tmp_path, "read", config, catalog=catalog)

    message = refused_before_any_request(result, sim, "remove every selected stream (tasks):")
    assert "task_events" not in message


def test_a_stream_the_maps_remove_since_the_catalog_was_made_is_refused_naming_it(
    sim: Simulator, tmp_path: Path
) -> None:
    # `discover` no longer offers it: read, it would end COMPLETE, no record, its bookmark moved.
    catalog = catalog_of(tmp_path, sim)
    catalog["streams"] = [s for s in catalog["streams"] if s["stream"]["name"] != "tasks"]
    config = {**events_config(sim), "stream_maps": {"task_statuses": None}}
    sim.clear_requests()

    result = source(tmp_path, "read", config, catalog=catalog)

    refused_before_any_request(
        result,
        sim,
        "The configured catalog asks for task_statuses, which discover does not offer: "
        "`stream_maps` remove every record of it. Deselect it in the connection's streams, or "
        "change the map.",
    )
    assert result.exit_code == 1


def test_a_stream_the_config_does_not_enable_is_refused_naming_only_those_discover_offers(
    sim: Simulator, tmp_path: Path
) -> None:
    catalog = catalog_of(tmp_path, sim)
    catalog["streams"][0]["stream"]["name"] = "published_plans"
    config = {**events_config(sim), "stream_maps": {"task_statuses": None}}
    sim.clear_requests()

    result = source(tmp_path, "read", config, catalog=catalog)

    refused_before_any_request(result, sim, "does not enable (it offers task_events, tasks).")


def test_a_stream_map_by_pattern_keeps_the_streams_names_and_is_taken(
    sim: Simulator, tmp_path: Path
) -> None:
    config = {**events_config(sim), "stream_maps": {"task_*": {"extra": "1"}}}

    result = source(tmp_path, "check", config)

    assert result.errors() == []
    (status,) = result.of_type("CONNECTION_STATUS")
    assert status["connectionStatus"]["status"] == "SUCCEEDED"


@pytest.mark.parametrize(
    "maps",
    [
        {"tasks": {"__alias__": "tasks"}},  # to its own name
        {"tasks": {"__alias__": "tasks", "extra": "1"}},  # to its own name, with a new field
    ],
)
def test_a_map_that_sends_no_record_under_another_name_is_read(
    sim: Simulator, tmp_path: Path, maps: dict[str, t.Any]
) -> None:
    catalog = catalog_of(tmp_path, sim)
    catalog["streams"] = [s for s in catalog["streams"] if s["stream"]["name"] != "task_statuses"]

    result = source(tmp_path, "read", {**events_config(sim), "stream_maps": maps}, catalog=catalog)

    assert result.errors() == [], result.errors()
    assert result.exit_code == 0
    assert {m["record"]["stream"] for m in result.of_type("RECORD")} == {"task_events", "tasks"}


def test_a_rename_of_a_stream_the_catalog_leaves_out_is_refused_as_check_and_discover_do(
    sim: Simulator, tmp_path: Path
) -> None:
    # One rule for the three commands: a platform runs check and discover (no catalog) first.
    catalog = catalog_of(tmp_path, sim)
    catalog["streams"] = [s for s in catalog["streams"] if s["stream"]["name"] != "task_statuses"]
    config = {**events_config(sim), "stream_maps": {"task_statuses": {"__alias__": "statuses"}}}
    sim.clear_requests()

    result = source(tmp_path, "read", config, catalog=catalog)

    words = "`stream_maps.task_statuses` would send the records of `task_statuses` as `statuses`"
    refused_before_any_request(result, sim, words + "; under Airbyte a stream's records go out")
    assert result.exit_code == 1


def test_a_read_says_each_line_of_its_set_up_once(sim: Simulator, tmp_path: Path) -> None:
    # `read` makes the tap twice (the config's streams, then the selected ones): one says nothing.
    # The first one's maps include a stream the catalog (as discover offers it) leaves out.
    config = {**events_config(sim), "api_keyy": 1, "stream_maps": {"task_statuses": None}}
    catalog = configured(source(tmp_path, "discover", config))

    result = source(tmp_path, "read", config, catalog=catalog)

    logs = [m["log"]["message"] for m in result.of_type("LOG")]
    assert len(logs) == len(set(logs)), logs
    assert any(log.startswith("No `projects` set") for log in logs)
    assert any(log.startswith("Unknown setting `api_keyy`") for log in logs)


@pytest.mark.skipif(not NO_PYARROW, reason="pyarrow is installed: the format can be written")
@pytest.mark.parametrize("command", ["check", "read"])
def test_a_batch_format_whose_package_is_missing_is_a_config_error_first(
    sim: Simulator, tmp_path: Path, command: str
) -> None:
    catalog = catalog_of(tmp_path, sim)
    sim.clear_requests()
    config = {**events_config(sim), "batch_config": PARQUET}

    result = source(
        tmp_path, command, config, **({"catalog": catalog} if command == "read" else {})
    )

    refused_before_any_request(result, sim, "batch_config")


@pytest.mark.skipif(not NO_PYARROW, reason="pyarrow is installed: the format can be written")
def test_singer_refuses_a_batch_format_whose_package_is_missing_before_any_request(
    sim: Simulator, tmp_path: Path
) -> None:
    batch = {**PARQUET, "storage": {"root": tmp_path.as_uri()}}

    run = run_cli(events_config(sim, batch_config=batch))

    assert run.returncode == 1
    assert "format `parquet` needs the package `pyarrow`" in run.stderr
    assert "Unexpected" not in run.stderr
    assert "ModuleNotFoundError" not in run.stderr
    assert sim.requests == []
    assert run.messages == []


@pytest.mark.parametrize(
    ("batch", "words"),
    [
        ({**JSONL, "storage": {"root": "nosuchfs://bucket/x"}}, "no filesystem fsspec knows"),
        # No `encoding`: no SDK reads that (0.55 fills in a missing `storage`, 0.54 does not).
        ({"storage": {"root": "file:///tmp"}}, "`batch_config` cannot be read"),
    ],
)
def test_singer_refuses_a_batch_storage_or_shape_it_cannot_write_before_any_request(
    sim: Simulator, batch: dict[str, t.Any], words: str
) -> None:
    run = run_cli(events_config(sim, batch_config=batch))

    assert run.returncode == 1
    assert words in run.stderr
    assert "Traceback" not in run.stderr
    assert sim.requests == []


def test_an_unknown_sync_mode_is_refused_as_a_config_error(sim: Simulator, tmp_path: Path) -> None:
    catalog = catalog_of(tmp_path, sim)
    catalog["streams"][0]["sync_mode"] = "bogus"
    sim.clear_requests()

    result = source(tmp_path, "read", events_config(sim), catalog=catalog)

    message = refused_before_any_request(result, sim, "'bogus'")
    assert "full_refresh and incremental" in message


@pytest.mark.parametrize("stream", ["task_events", "tasks", "task_statuses"])
def test_a_full_refresh_of_a_log_stream_is_refused_as_a_config_error(
    sim: Simulator, tmp_path: Path, stream: str
) -> None:
    # Read from the beginning, it would drag back the position the three log streams share.
    catalog = catalog_of(tmp_path, sim)
    for entry in catalog["streams"]:
        entry["sync_mode"] = "full_refresh" if entry["stream"]["name"] == stream else "incremental"
    sim.clear_requests()

    result = source(tmp_path, "read", events_config(sim), catalog=catalog)

    message = refused_before_any_request(result, sim, f"stream {stream} has sync_mode full_refresh")
    assert "pick incremental" in message


@pytest.mark.parametrize(
    "stream_state",
    [
        "garbage",
        None,
        [],
        42,
        {"partitions": "x"},
        {"progress_markers": []},
        # No position the log could resume from: the tap would read it from its first event.
        {"replication_key_value": "e9"},
        {"replication_key": "createdAt", "replication_key_value": "e9"},
        {"replication_key": "eventId", "replication_key_value": 9},
        {"replication_key": "eventId", "replication_key_value": " "},
        {"progress_markers": {"replication_key": "eventId", "replication_key_value": "e9"}},
    ],
    ids=[
        "string",
        "null",
        "list",
        "number",
        "bad partitions",
        "bad markers",
        "no replication_key",
        "another key",
        "a number",
        "blank",
        "only markers",
    ],
)
@pytest.mark.parametrize("form", ["state messages", "legacy object"])
def test_a_stream_state_the_source_cannot_use_is_a_config_error_in_airbytes_words(
    sim: Simulator, tmp_path: Path, stream_state: object, form: str
) -> None:
    state: object = [
        {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": "task_events"}, "stream_state": stream_state},
        }
    ]
    if form == "legacy object":
        state = {"bookmarks": {"task_events": stream_state}}

    result = read(tmp_path, events_config(sim), state=state)

    message = refused_before_any_request(result, sim, "stream state of task_events")
    assert "Meltano" not in message
    assert "Singer" not in message
    assert "--state" in message
    assert result.exit_code == 1


def test_a_state_for_a_stream_the_source_does_not_have_is_a_config_error(
    sim: Simulator, tmp_path: Path
) -> None:
    state = {"bookmarks": {"events": {"replication_key_value": "x"}}}

    result = read(tmp_path, events_config(sim), state=state)

    refused_before_any_request(result, sim, "a stream this source does not have")


def test_a_stream_without_any_stream_state_starts_from_the_beginning(
    sim: Simulator, tmp_path: Path
) -> None:
    """No `stream_state` at all is how a platform passes a stream whose state it cleared."""
    state = [{"type": "STREAM", "stream": {"stream_descriptor": {"name": "task_events"}}}]

    result = read(tmp_path, events_config(sim), state=state)

    assert result.exit_code == 0
    assert len(result.records("task_events")) == len(sim.event_log.events)


AT_E9 = {"replication_key": "eventId", "replication_key_value": "e9"}
BOOKMARKS = dict.fromkeys(["task_events", "tasks", "task_statuses"], AT_E9)


@pytest.mark.parametrize(
    ("state", "words"),
    [
        # Something, but no bookmarks the source can find: it read the whole log again, exit 0.
        ({"foo": 1}, "an object without `bookmarks`"),
        (BOOKMARKS, "an object without `bookmarks`"),
        ({"singer_state": {"foo": 1}}, "an object without `bookmarks`"),
        ({"singer_state": 5}, "an object whose `singer_state` is a number"),
        ([{"singer_state": {"bookmarks": BOOKMARKS}}], "a list holding a Singer state"),
        (
            {"bookmarks": {}, "singer_state": {"bookmarks": BOOKMARKS}},
            "an object holding `singer_state` beside other keys",
        ),
        (
            [
                {"type": "STREAM", "stream": {"stream_descriptor": {"name": "task_events"}}},
                {
                    "type": "STREAM",
                    "stream": {"stream_descriptor": {"name": "task_events"}, "stream_state": AT_E9},
                },
            ],
            "a list with two stream states for task_events",
        ),
        (
            [
                {
                    "type": "STREAM",
                    "stream": {
                        "stream_descriptor": {"name": "task_events", "namespace": "other"},
                        "stream_state": AT_E9,
                    },
                }
            ],
            'a stream state of namespace a string "other"',
        ),
    ],
    ids=[
        "object foo",
        "object bookmarks without their key",
        "object wrapper of foo",
        "object wrapper of a number",
        "a list of a wrapper",
        "a wrapper beside bookmarks",
        "a stream cleared, then given a bookmark",
        "another namespace's stream",
    ],
)
def test_a_state_holding_no_bookmarks_the_source_can_find_is_refused(
    sim: Simulator, tmp_path: Path, state: object, words: str
) -> None:
    result = read(tmp_path, events_config(sim), state=state)

    message = refused_before_any_request(result, sim, words)
    assert message.startswith("The state passed with --state is ")
    assert "or pass none to start over." in message
    assert result.exit_code == 1


def stream_state(name: str, state: object) -> dict[str, t.Any]:
    return {"stream_descriptor": {"name": name}, "stream_state": state}


#: State messages of kinds this source never writes (a GLOBAL or LEGACY one is hand-written, or
#: another connector's): each refused as what it is, whatever it holds, never read.
NOT_WRITTEN_HERE: dict[str, tuple[object, str]] = {
    "GLOBAL of stream states": (
        [{"type": "GLOBAL", "global": {"stream_states": [stream_state("tasks", AT_E9)]}}],
        "GLOBAL",
    ),
    "GLOBAL of a Meltano state": (
        [
            {
                "type": "GLOBAL",
                "global": {"shared_state": {"singer_state": {"bookmarks": BOOKMARKS}}},
            }
        ],
        "GLOBAL",
    ),
    "an empty GLOBAL": ([{"type": "GLOBAL", "global": {}}], "GLOBAL"),
    "a lone GLOBAL": ({"type": "GLOBAL", "global": {"stream_states": []}}, "GLOBAL"),
    "LEGACY of a Singer state": ([{"type": "LEGACY", "data": {"bookmarks": BOOKMARKS}}], "LEGACY"),
    "an empty LEGACY": ([{"type": "LEGACY", "data": {}}], "LEGACY"),
    "LEGACY beside STREAM": (
        [
            {"type": "STREAM", "stream": stream_state("task_events", AT_E9)},
            {"type": "LEGACY", "data": {"bookmarks": BOOKMARKS}},
        ],
        "LEGACY",
    ),
}


@pytest.mark.parametrize("given", NOT_WRITTEN_HERE)
def test_a_global_or_legacy_state_message_is_refused_in_one_line(
    sim: Simulator, tmp_path: Path, given: str
) -> None:
    """GLOBAL and LEGACY messages were read (stream states, a shared Singer state, LEGACY's
    `data`); this source writes STREAM ones only, so they are refused, not read."""
    state, kind = NOT_WRITTEN_HERE[given]
    result = read(tmp_path, events_config(sim), state=state)

    message = refused_before_any_request(
        result, sim, f"is a {kind} state message (this source writes per-stream states only)"
    )
    assert "\n" not in message
    assert "pass the state a previous `read` wrote, or pass none to start over." in message
    assert result.exit_code == 1


#: What `read` printed, passed back as it is (or its states, all of them): refused, pointing to
#: the docs' recipe, which keeps each stream's newest state as a file the source reads.
AS_READ_PRINTED: dict[str, tuple[t.Callable[[AirbyteRun], object], str]] = {
    "its STATE messages": (lambda run: run.of_type("STATE"), "a STATE message as `read` prints it"),
    "its STATE messages reversed": (
        lambda run: run.of_type("STATE")[::-1],
        "a STATE message as `read` prints it",
    ),
    "each stream's last STATE message": (
        lambda run: [{"type": "STATE", "state": state} for state in run.passed_back()],
        "a STATE message as `read` prints it",
    ),
    "the last STATE line alone": (
        lambda run: run.of_type("STATE")[-1],
        "a STATE message as `read` prints it",
    ),
    "a STATE message of a GLOBAL one": (
        lambda run: [
            {
                "type": "STATE",
                "state": {"type": "GLOBAL", "global": {"stream_states": run.passed_back()}},
            }
        ],
        "a STATE message as `read` prints it",
    ),
    "a STATE message of a number": (
        lambda run: [{"type": "STATE", "state": 5}],
        "a STATE message as `read` prints it",
    ),
    "all it wrote": (lambda run: run.messages, "a LOG message as `read` prints it"),
    # Each stream's state many times over: which is its position? The recipe keeps the newest.
    "every STATE message's state": (
        lambda run: [m["state"] for m in run.of_type("STATE")],
        "a list with two stream states for task_events",
    ),
}


@pytest.mark.parametrize("kept", AS_READ_PRINTED)
def test_what_read_printed_is_refused_pointing_to_the_recipe(
    sim: Simulator, tmp_path: Path, kept: str
) -> None:
    """`read`'s STATE messages were unwrapped, a stream's newest counting (and refused out of
    order): the docs' jq recipe does that now, and the source refuses them in one line."""
    state, words = AS_READ_PRINTED[kept]
    first = read(tmp_path, events_config(sim))
    sim.clear_requests()

    result = read(tmp_path, events_config(sim), state=state(first))

    message = refused_before_any_request(result, sim, words)
    assert message.startswith("The state passed with --state is ")
    assert "\n" not in message
    assert "with the jq recipe in docs/airbyte.md, or pass none to start over." in message
    assert result.exit_code == 1


def test_a_singer_state_message_is_refused_saying_to_pass_its_value(
    sim: Simulator, tmp_path: Path
) -> None:
    state = {"type": "STATE", "value": {"bookmarks": {}}}

    result = read(tmp_path, events_config(sim), state=state)

    refused_before_any_request(result, sim, "a Singer STATE message (pass its `value`")
    assert result.exit_code == 1


def test_a_lone_stream_state_message_is_refused_saying_to_pass_a_list(
    sim: Simulator, tmp_path: Path
) -> None:
    state = {"type": "STREAM", "stream": stream_state("task_events", AT_E9)}

    result = read(tmp_path, events_config(sim), state=state)

    refused_before_any_request(result, sim, "one STREAM state message (pass a list of them)")
    assert result.exit_code == 1


@pytest.mark.parametrize(
    "state",
    [[], {}, {"singer_state": {}}, {"bookmarks": {}}],
    ids=["no messages", "an empty object", "an empty wrapper", "no bookmarks yet"],
)
def test_an_empty_state_is_no_state_a_read_from_the_beginning(
    sim: Simulator, tmp_path: Path, state: object
) -> None:
    result = read(tmp_path, events_config(sim), state=state)

    assert result.exit_code == 0, result.errors()
    assert "startAfter" not in sim.requests[0].query
    assert len(result.records("task_events")) == len(sim.event_log.events)


def test_the_summary_counts_what_was_sent_in_every_stream(tmp_path: Path) -> None:
    with Simulator(
        seed=5, events=2 * PAGE, page_size=PAGE, daily_quota=None, plan_projects=2, plan_tasks=5
    ) as sim:
        projects = [{"url": p.url, "token": p.token, "name": p.name} for p in sim.plan_projects]
        result = read(tmp_path, {**events_config(sim), "projects": projects})

    assert result.exit_code == 0
    summary = [
        m["log"]["message"]
        for m in result.of_type("LOG")
        if m["log"]["message"].startswith("Summary: ")
    ]
    sent = {m["record"]["stream"] for m in result.of_type("RECORD")}
    assert sent >= {"task_events", "tasks", "published_plans", "published_plan_tasks"}
    for stream in sent:
        count = len(result.records(stream))
        said = f"Summary: {stream}: {count:,} records sent"
        assert [line for line in summary if line.split(";")[0] == said], (said, summary)
    projects_said = [line for line in summary if line.startswith("Summary: published_plans (")]
    assert len(projects_said) == 2, summary


def test_records_go_out_only_for_the_configured_catalogs_streams(
    sim: Simulator, tmp_path: Path
) -> None:
    result = read(tmp_path, events_config(sim), streams=["tasks"])

    assert {m["record"]["stream"] for m in result.of_type("RECORD")} == {"tasks"}
    assert "Summary: task_events" not in json.dumps(result.of_type("LOG"))


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ([1, 2], "must hold a JSON object {...}, not an array"),
        ("not json", "is not JSON"),
    ],
)
def test_check_answers_failed_for_a_config_file_it_cannot_read(
    tmp_path: Path, config: object, words: str
) -> None:
    path = tmp_path / "config.json"
    path.write_text(config if isinstance(config, str) else json.dumps(config))

    out = io.BytesIO()
    exit_code = run(["check", "--config", str(path)], out)
    messages = [json.loads(line) for line in out.getvalue().decode().splitlines()]

    (status,) = [m for m in messages if m["type"] == "CONNECTION_STATUS"]
    assert status["connectionStatus"]["status"] == "FAILED"
    assert words in status["connectionStatus"]["message"]
    assert [m["trace"]["error"]["failure_type"] for m in messages if m["type"] == "TRACE"] == [
        "config_error"
    ]
    assert exit_code == 0  # a failed check is an answer


@pytest.mark.parametrize("value", ["bogus", ""])
@pytest.mark.parametrize("command", ["check", "discover", "read"])
def test_a_log_level_that_is_no_level_is_a_config_error_naming_the_variable(
    sim: Simulator, tmp_path: Path, command: str, value: str
) -> None:
    """As `tap-aphex` refuses it, in the words the source refuses a config with: `check` answers
    (exit 0), `discover` and `read` end with the TRACE (exit 1), before any request."""
    catalog = catalog_of(tmp_path, sim)
    sim.clear_requests()
    config, catalog_file = tmp_path / "config.json", tmp_path / "catalog.json"
    config.write_text(json.dumps(events_config(sim)))
    catalog_file.write_text(json.dumps(catalog))
    files = ["--catalog", str(catalog_file)] if command == "read" else []

    done = subprocess.run(
        [str(SOURCE_APHEX), command, "--config", str(config), *files],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TAP_APHEX_LOGLEVEL": "", "LOGLEVEL": value},
        check=False,
    )

    result = AirbyteRun([valid(json.loads(line)) for line in done.stdout.splitlines()], 0)
    words = "`LOGLEVEL` must be DEBUG, INFO, WARNING or ERROR (or unset: INFO), not "
    words += f"{json.dumps(value)}."
    assert refused_before_any_request(result, sim, words).startswith(words)
    assert done.stderr == ""
    if command == "check":
        (status,) = result.of_type("CONNECTION_STATUS")
        assert status["connectionStatus"]["status"] == "FAILED"
        assert words in status["connectionStatus"]["message"]
        assert done.returncode == 0  # a failed check is an answer
    else:
        assert done.returncode == 1


def test_a_log_config_file_is_said_to_be_unread_not_skipped_unsaid(
    sim: Simulator, tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(events_config(sim)))

    done = subprocess.run(
        [str(SOURCE_APHEX), "discover", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SINGER_SDK_LOG_CONFIG": str(tmp_path / "logging.yaml")},
        check=False,
    )

    messages = [valid(json.loads(line)) for line in done.stdout.splitlines()]
    assert done.returncode == 0, done.stderr
    warnings = [m["log"]["message"] for m in messages if m["type"] == "LOG"]
    assert any(
        "SINGER_SDK_LOG_CONFIG is not read by source-aphex" in warning for warning in warnings
    ), warnings
    assert [m["type"] for m in messages].count("CATALOG") == 1


@pytest.mark.parametrize(
    ("expression", "kind", "said"),
    [
        ("(((", "parse", "Config is not valid"),  # refused as the maps are set up
        ("1/0", "ZeroDivisionError", "source-aphex failed"),  # at the first record
    ],
)
def test_a_stream_map_expression_that_fails_is_a_config_error_naming_it(
    sim: Simulator, tmp_path: Path, expression: str, kind: str, said: str
) -> None:
    # The user's to fix, as under tap-aphex: not a "system_error ... persisted after retries".
    config = {**events_config(sim), "stream_maps": {"tasks": {"extra": expression}}}

    result = source(tmp_path, "read", config, catalog=catalog_of(tmp_path, sim))

    (error,) = result.errors()
    assert error["failure_type"] == "config_error", error
    assert error["message"].startswith(f"{said}: `stream_maps.tasks.extra`: ")
    assert kind in error["message"]
    assert "retries" not in error["message"]
    assert result.exit_code == 1


def test_a_project_url_with_nothing_behind_it_is_a_config_error_and_the_others_land(
    tmp_path: Path,
) -> None:
    with Simulator(seed=5, events=0, plan_projects=2, history_weeks=2) as plans:
        good, bad = plans.plan_projects
        projects = [
            {"url": good.url, "token": good.token},
            {"url": bad.url + "x", "token": bad.token, "name": "Typo"},
        ]

        result = read(tmp_path, {"projects": projects})

    (error,) = result.errors()
    assert error["failure_type"] == "config_error", error  # the user's to fix: the URL
    assert "project Typo: No published plans at its URL (HTTP 404)" in error["message"]
    assert {r["accountId"] for r in result.records("published_plans")} == {good.account_id}
    assert result.exit_code == 1


def test_a_failure_before_a_stream_map_error_ends_the_read_gets_its_own_trace(
    tmp_path: Path,
) -> None:
    with Simulator(seed=4, events=50, daily_quota=None, plan_projects=1, history_weeks=2) as sim:
        (project,) = sim.plan_projects
        config = {
            **events_config(sim),
            "projects": [{"url": project.url + "x", "token": project.token, "name": "Typo"}],
            "stream_maps": {"task_events": {"x": "1/0"}},
        }

        result = read(tmp_path, config)

    messages = [error["message"] for error in result.errors()]
    assert len(messages) == 2, messages
    assert "project Typo: No published plans at its URL (HTTP 404)" in messages[0]
    assert "`stream_maps.task_events.x`: an expression failed" in messages[1]
    assert result.exit_code == 1


def test_a_key_in_a_catalogs_file_name_is_hidden_though_it_is_read_first(
    sim: Simulator, tmp_path: Path
) -> None:
    config = events_config(sim)
    config_file, missing = tmp_path / "config.json", tmp_path / f"x-{config['api_key']}.json"
    config_file.write_text(json.dumps(config))
    out = io.BytesIO()

    exit_code = run(["read", "--config", str(config_file), "--catalog", str(missing)], out)

    (trace,) = [json.loads(line) for line in out.getvalue().decode().splitlines()]
    assert exit_code == 1
    assert trace["trace"]["error"]["message"].startswith(f"The catalog file {tmp_path}/x-")
    assert config["api_key"] not in out.getvalue().decode()


def test_a_state_cursor_the_api_refuses_is_a_config_error_with_airbytes_advice(
    sim: Simulator, tmp_path: Path
) -> None:
    """A time is no eventId the tap can tell from one: the Data API is asked, and refuses it."""
    catalog = catalog_of(tmp_path, sim)
    at = {"replication_key": "eventId", "replication_key_value": "2025-11-28T15:48:01.088Z"}
    state = {"bookmarks": dict.fromkeys(["task_events", "tasks", "task_statuses"], at)}

    result = source(tmp_path, "read", events_config(sim), catalog=catalog, state=state)

    (error,) = result.errors()
    assert error["failure_type"] == "config_error"  # the platform passed that state
    assert "startAfter=2025-11-28T15:48:01.088Z" in error["message"]
    assert "reset the state of those streams in the connection" in error["message"]
    assert "Settings > Clear data" in error["message"]
    assert "does not know it: nothing was read, and every run from that state" in error["message"]
    said = json.dumps([m for m in result.messages if m["type"] in ("LOG", "TRACE")])
    for singer in ("meltano", "Meltano", "--state", "tap-aphex"):  # in the ERROR LOG line too
        assert singer not in said
    assert result.statuses("task_events")[-1] == "INCOMPLETE"
    assert result.exit_code == 1


@pytest.mark.parametrize(
    ("stream_state", "words"),
    [
        ({"partitions": [5]}, "`partitions[0]` must be an object, not a number"),
        ({"partitions": None}, "`partitions` must be an array, not null"),
        ({"partitions": [{"context": 5}]}, "`partitions[0].context` must be an object, not a"),
        ({"partitions": [{}]}, "has a partition without a `context`"),
        ({"partitions": [{"context": "\ud800"}]}, "cannot write back (a lone surrogate"),
    ],
    ids=["a number", "null", "a context of a number", "no context", "a lone surrogate"],
)
def test_a_plans_stream_state_is_refused_in_the_words_the_tap_uses(
    tmp_path: Path, stream_state: dict[str, t.Any], words: str
) -> None:
    with Simulator(seed=3, events=0, daily_quota=None, plan_projects=1, plan_tasks=3) as sim:
        config = plans_config(sim.plan_projects)
        catalog = configured(source(tmp_path, "discover", config), ["published_plans"])
        sim.clear_requests()
        message = {"stream_descriptor": {"name": "published_plans"}, "stream_state": stream_state}
        state = [{"type": "STREAM", "stream": message}]

        result = source(tmp_path, "read", config, catalog=catalog, state=state)
        singer = run_cli(config, {"bookmarks": {"published_plans": stream_state}})

    said = refused_before_any_request(result, sim, words)
    assert "the stream state of published_plans" in said
    assert "Settings > Clear data for the stream" in said
    assert words in singer.stderr  # the same words from the tap's own command
    assert singer.returncode == 1


def test_a_value_beside_the_bookmarks_the_tap_could_not_write_back_is_refused_in_airbytes_words(
    sim: Simulator, tmp_path: Path
) -> None:
    state = {"currently_syncing": "\ud800", "bookmarks": {}}

    result = read(tmp_path, events_config(sim), state=state)

    said = refused_before_any_request(result, sim, "beside its bookmarks it holds a value the tap")
    assert "Meltano" not in said
    assert "Settings > Clear data" in said


@pytest.mark.parametrize(
    "checkpoint", [{"a": 1}, [1], "x", None, 1.5, True], ids=lambda value: json.dumps(value)
)
def test_a_log_checkpoint_that_is_no_whole_number_is_refused_in_one_line(
    sim: Simulator, tmp_path: Path, checkpoint: object
) -> None:
    # It tells which log stream's position is the older: a dict crashed the read, others were
    # passed over (the whole log read again), and `true` was taken as 1.
    state = [
        {"type": "STREAM", "stream": stream_state(name, {**AT_E9, "log_checkpoint": checkpoint})}
        for name in ("task_events", "tasks", "task_statuses")
    ]

    result = read(tmp_path, events_config(sim), state=state)

    refused_before_any_request(result, sim, "has a `log_checkpoint` of ")
    assert result.exit_code == 1


def test_reads_output_given_as_the_state_file_points_to_the_recipe(
    sim: Simulator, tmp_path: Path
) -> None:
    # One message a line, as `read` prints them: the likeliest mistake, not "Extra data".
    catalog = catalog_of(tmp_path, sim)
    first = source(tmp_path, "read", events_config(sim), catalog=catalog)
    printed = tmp_path / "out.jsonl"
    printed.write_text("".join(json.dumps(message) + "\n" for message in first.messages))
    sim.clear_requests()

    files = [f"--{name}={tmp_path / f'{name}.json'}" for name in ("config", "catalog")]
    out = io.BytesIO()
    code = run(["read", *files, f"--state={printed}"], out)
    result = AirbyteRun([valid(json.loads(line)) for line in out.getvalue().splitlines()], code)

    message = refused_before_any_request(result, sim, "holds more than one JSON value")
    assert message.endswith("with the jq recipe in docs/airbyte.md.")
