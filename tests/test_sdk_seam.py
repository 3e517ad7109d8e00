"""The SDK internals tap-aphex relies on (see `tap_aphex/sdk_seam.py`) are still where we use them.

Each check fails loudly, naming what moved, when an SDK upgrade changes one of them. Helpers that
add a reach into the SDK append their checks at the end of this file, in their own section.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import json
import logging
import os
import pathlib
import signal
import sys
import types
import typing as t

import backoff._common
import click
import pytest
import requests
import singer_sdk.configuration._dict_config
import singer_sdk.helpers._state
import singer_sdk.plugin_base
import singer_sdk.streams._state
import singer_sdk.streams.core
import singer_sdk.streams.rest
import singer_sdk.tap_base
from aphex_simulator import Simulator
from harness import CapturedStdout, events_config
from singer_sdk import Tap
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.helpers._state import finalize_state_progress_markers, increment_state
from singer_sdk.plugin_base import PluginBase, _ConfigInput
from singer_sdk.streams import RESTStream, Stream

from tap_aphex import map_checks, sdk_seam
from tap_aphex.client import AphexStream
from tap_aphex.sdk_seam import SDK_CHATTER, config_input, discard_progress
from tap_aphex.tap import TapAphex

# --- runtime helper: CLI, signals, logs -------------------------------------------------------


def test_config_input_is_what_the_sdk_callbacks_read() -> None:
    made = config_input({"api_key": "k"}, parse_env=True)
    assert isinstance(made, _ConfigInput)
    assert (made.config, made.parse_env) == ({"api_key": "k"}, True)
    # Tap.invoke and the --test/--discover callbacks read exactly these two fields.
    for reader in (Tap.invoke, Tap.cb_test, Tap.cb_discover):
        source = inspect.getsource(reader)
        assert "config.config" in source, reader
        assert "config.parse_env" in source, reader


def test_the_sdk_still_installs_its_signal_handlers_through_the_hook_we_replace() -> None:
    init = inspect.getsource(PluginBase.__init__)
    assert "self._setup_signal_handlers()" in init
    assert "_setup_signal_handlers" in vars(PluginBase)


def test_our_tap_leaves_the_signal_handlers_alone(simulator: Simulator) -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    TapAphex(config=events_config(simulator))
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def _string_constants(*modules: types.ModuleType) -> set[str]:
    """Every string literal in these modules (Python joins implicitly concatenated ones)."""
    trees = [ast.parse(inspect.getsource(module)) for module in modules]
    return {
        node.value
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


SDK_STRINGS = _string_constants(
    singer_sdk.helpers._state,
    singer_sdk.streams._state,
    singer_sdk.streams.core,
    singer_sdk.streams.rest,
    singer_sdk.tap_base,
    singer_sdk.plugin_base,
    singer_sdk.configuration._dict_config,
    backoff._common,
)


@pytest.mark.parametrize("template", SDK_CHATTER)
def test_each_demoted_sdk_line_is_still_worded_as_we_match_it(template: str) -> None:
    # Whole, or built from two literals (`log_msg += " with context keys: %s"`).
    splits = {(template[:i], template[i:]) for i in range(1, len(template))}
    built = any(head in SDK_STRINGS and tail in SDK_STRINGS for head, tail in splits)
    assert template in SDK_STRINGS or built, f"the SDK no longer logs {template!r}"


def test_the_sdk_still_logs_the_unsorted_warning_on_the_singer_sdk_logger() -> None:
    assert singer_sdk.helpers._state.logger is logging.getLogger("singer_sdk")


@pytest.mark.parametrize("cls", [TapAphex, AphexStream])
def test_every_sdk_method_we_redefine_is_marked_override(cls: type) -> None:
    for name, member in vars(cls).items():
        function = getattr(member, "__func__", member)  # classmethods
        function = getattr(function, "fget", function)  # properties
        inherited = any(name in vars(base) for base in cls.__mro__[1:] if base is not object)
        if inspect.isfunction(function) and inherited and not name.startswith("__"):
            assert getattr(function, "__override__", False), f"{cls.__name__}.{name}"


# --- task-event log (events-stream helper) ---------------------------------------------------

SCRIPTED = {"api_key": "k", "api_url": "http://127.0.0.1:9/apiTaskEventsV2"}


def catalog_without(stream: str, prop: str) -> dict[str, t.Any]:
    catalog = TapAphex(config=SCRIPTED).catalog_dict
    entry = next(e for e in catalog["streams"] if e["tap_stream_id"] == stream)
    for metadata in entry["metadata"]:
        if metadata["breadcrumb"] == ["properties", prop]:
            metadata["metadata"]["selected"] = False
    return catalog


def test_the_sdk_still_writes_a_periodic_state_by_state_msg_frequency() -> None:
    assert isinstance(Stream.STATE_MSG_FREQUENCY, int)
    assert "self.STATE_MSG_FREQUENCY" in inspect.getsource(Stream._sync_records)


def test_write_state_emits_the_whole_tap_state_with_the_bookmark_set() -> None:
    tap = TapAphex(config=SCRIPTED)
    stream, parent = tap.streams["tasks"], tap.streams["task_events"]
    out = CapturedStdout()

    with contextlib.redirect_stdout(out):
        sdk_seam.set_bookmark(stream, "e41")
        sdk_seam.write_state(parent)
        sdk_seam.write_state(parent)  # the same state again: not repeated
        sdk_seam.set_bookmark(stream, "e42")
        sdk_seam.write_state(parent)  # no record written since, and still it goes out

    states = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [message["type"] for message in states] == ["STATE", "STATE"]
    bookmark = states[-1]["value"]["bookmarks"]["tasks"]
    assert bookmark == {"replication_key": "eventId", "replication_key_value": "e42"}
    assert tap.state["bookmarks"]["tasks"]["replication_key_value"] == "e42"


def test_a_stream_whose_state_its_parent_writes_ends_its_sync_with_no_state() -> None:
    assert "self._write_state_message()" in inspect.getsource(Stream._sync_records)
    tap = TapAphex(config=SCRIPTED)
    stream = tap.streams["task_statuses"]
    assert isinstance(stream, sdk_seam.StateWrittenByParent)
    out = CapturedStdout()

    with contextlib.redirect_stdout(out):
        sdk_seam.set_bookmark(stream, "e41")
        stream.state_manager.is_flushed = False  # as writing a record leaves it
        stream._write_state_message()  # what the SDK's sync ends with
        assert out.getvalue() == "", "the SDK wrote a STATE that the parent was to write"
        sdk_seam.write_state(tap.streams["task_events"])

    (state,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert state["value"]["bookmarks"]["task_statuses"]["replication_key_value"] == "e41"


# --- published plans (plans helper) ---------------------------------------------------------------


def _state_after_an_unsorted_record() -> dict[str, object]:
    state: dict[str, object] = {"replication_key": "publishedAt", "replication_key_value": "old"}
    increment_state(
        state,
        latest_record={"publishedAt": "new"},
        replication_key="publishedAt",
        is_sorted=False,
        check_sorted=True,
    )
    return state


def test_an_unsorted_streams_progress_waits_in_progress_markers_until_finalized() -> None:
    state = _state_after_an_unsorted_record()

    assert bookmark(state) == "old"
    finalize_state_progress_markers(state)
    assert bookmark(state) == "new"


def test_discarding_progress_keeps_the_old_bookmark_through_finalization() -> None:
    state = _state_after_an_unsorted_record()

    discard_progress(state)
    finalize_state_progress_markers(state)

    assert bookmark(state) == "old"


def bookmark(state: dict[str, object]) -> object:
    return state["replication_key_value"]


# --- fixes helper: stream map failures ----------------------------------------------------------


@pytest.mark.parametrize("key", ["extra", "__filter__"])
@pytest.mark.parametrize("expression", ["(((", "1/0", "no_such_name"])
def test_a_failed_stream_map_expression_is_found_with_its_stream_and_property(
    expression: str, key: str
) -> None:
    # Parsed when the map is made, evaluated per record: both in the module the seam names, with
    # the stream's alias and the property in the frames `stream_map_failure` reads.
    from singer_sdk.mapper import CustomStreamMap

    from tap_aphex.sdk_seam import stream_map_failure

    def map_one_record() -> None:
        schema = {"type": "object", "properties": {"id": {"type": "string"}}}
        stream_map = CustomStreamMap(
            stream_alias="tasks",
            map_config={},
            faker_config={},
            raw_schema=schema,
            key_properties=["id"],
            map_transform={key: expression},
            flattening_options=None,
        )
        stream_map.transform({"id": "a"})

    with pytest.raises(Exception) as raised:  # noqa: PT011  # whichever the SDK raises
        map_one_record()

    assert stream_map_failure(raised.value) == f"tasks.{key}"
    assert stream_map_failure(ValueError("not from a map")) is None


def test_stream_map_expressions_are_evaluated_in_the_module_the_seam_names() -> None:
    import singer_sdk.mapper

    from tap_aphex.sdk_seam import SDK_MAPPER_MODULE

    assert singer_sdk.mapper.__name__ == SDK_MAPPER_MODULE
    assert "simpleeval" in vars(singer_sdk.mapper) or hasattr(singer_sdk.mapper, "simpleeval")


# --- SDK 0.55 compatibility (sdk055 helper) -----------------------------------------------------


def test_our_tap_declares_only_the_capabilities_it_honours_and_the_sdk_still_has_them() -> None:
    sdk = [capability.value for capability in Tap.capabilities]
    ours = [capability.value for capability in TapAphex.capabilities]
    missing = [value for value in sdk_seam.HONOURED if value not in sdk]
    assert not missing, (
        f"Tap.capabilities no longer holds {missing} ({sdk}): renamed or dropped; see what the "
        "SDK now declares and fix sdk_seam.HONOURED"
    )
    assert ours == [value for value in sdk if value in sdk_seam.HONOURED]
    # Neither a capability that could lose rows nor one the tap would ignore (0.55: `start-date`).
    assert "activate-version" not in ours
    assert "start-date" not in ours
    # ...nor the settings the SDK adds with them: `start_date` would be accepted and ignored.
    properties = TapAphex(config=SCRIPTED).config_jsonschema["properties"]
    assert not [name for name in properties if "activate_version" in name], properties
    assert "start_date" not in properties


def test_the_cli_still_calls_our_callbacks_and_test_all_is_the_value_we_match() -> None:
    options = {param.name: param for param in TapAphex.get_singer_command().params}
    for name, callback in [
        ("config", TapAphex.cb_config),
        ("test", TapAphex.cb_test),
        ("discover", TapAphex.cb_discover),
    ]:
        assert name in options, f"the SDK's command has no --{name} option any more"
        assert options[name].callback == callback, f"--{name} no longer calls Tap.cb_{name}"
    test_option = options["test"]
    assert isinstance(test_option, click.Option)
    assert test_option.flag_value == sdk_seam.CLI_TEST_ALL, (
        f"a bare --test now means {test_option.flag_value!r}, not {sdk_seam.CLI_TEST_ALL!r}: "
        "TapAphex.cb_test would hand the connection test back to the SDK's"
    )
    # Its default is one of the values we let through (no test); the others, what cb_test knows.
    assert test_option.default in sdk_seam.CLI_TEST_VALUES
    assert set(sdk_seam.CLI_TEST_VALUES) == {"all", "schema", "disabled"}


def test_a_filter_on_the_logger_behind_a_streams_logger_sees_its_lines() -> None:
    stream = TapAphex(config=SCRIPTED).streams["tasks"]
    target = sdk_seam.plain_logger(stream.logger)
    assert isinstance(target, logging.Logger), (
        f"Stream.logger is now a {type(stream.logger).__name__}, which sdk_seam.plain_logger "
        "does not unwrap: the tap's log filter (tap_aphex.logs) would miss the streams' lines"
    )
    seen: list[str] = []

    class Spy(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            seen.append(record.getMessage())
            return False

    spy = Spy()
    target.addFilter(spy)
    try:
        stream.logger.warning("seen %s", "here")
    finally:
        target.removeFilter(spy)
    assert seen == ["seen here"], "a stream's lines no longer pass its logger's filters"


def test_the_sdk_still_logs_metrics_on_the_logger_and_in_the_words_we_match() -> None:
    import singer_sdk.metrics

    assert singer_sdk.metrics.__name__ == sdk_seam.METRICS_LOGGER_NAME, (
        "the SDK's METRIC lines moved to another logger: tap_aphex.logs would not filter them"
    )
    assert sdk_seam.SDK_METRIC_TEMPLATE in _string_constants(singer_sdk.metrics), (
        f"the SDK no longer logs metrics as {sdk_seam.SDK_METRIC_TEMPLATE!r}: "
        "tap_aphex.logs would leave them at INFO"
    )


def test_the_sdk_keeps_a_streams_session_so_the_deadline_hook_stays_on_it() -> None:
    # AphexStream adds `_with_deadline` to `requests_session` once, when the stream is made.
    stream = TapAphex(config=SCRIPTED).streams["task_events"]
    assert isinstance(stream, AphexStream)
    assert stream.requests_session is stream.requests_session
    assert stream._with_deadline in stream.requests_session.hooks["response"]


def test_a_429_is_retried() -> None:
    # 0.54's default `extra_retry_statuses` held 429 and 0.55's is empty: AphexStream says it.
    stream = TapAphex(config=SCRIPTED).streams["task_events"]
    assert isinstance(stream, AphexStream)
    response = requests.Response()
    response.status_code, response.reason = 429, "Too Many Requests"
    response.url, response.raw = SCRIPTED["api_url"], io.BytesIO(b"")
    with pytest.raises(RetriableAPIError):
        stream.validate_response(response)


def test_a_download_threads_request_is_prepared_and_sent_through_the_sdks_request_path() -> None:
    # 0.54/0.55: `request_records` prepares each page with `_prepare_request(context=, page=)`
    # and sends it through `request_decorator(_request)`; the download threads do the same.
    assert {"context", "page"} <= set(inspect.signature(RESTStream._prepare_request).parameters)
    assert list(inspect.signature(RESTStream._request).parameters)[:3] == [
        "self",
        "prepared_request",
        "context",
    ]
    url = "http://127.0.0.1:9/power-bi/v1/acc1"
    config = {"projects": [{"url": url, "token": "t0ken-of-acc1"}], "published_plans_limit": 7}
    stream = TapAphex(config=config).streams["published_plans"]
    assert isinstance(stream, RESTStream)

    prepared = sdk_seam.prepared_request(stream, {"accountId": "acc1", "limit": 3})

    assert prepared.url == f"{url}?limit=3"
    assert prepared.headers["Authorization"] == "Bearer t0ken-of-acc1"
    assert callable(sdk_seam.request_sender(stream, lambda send: send().status_code))


#: SDK modules that are not its documented API; only `tap_aphex.sdk_seam` imports from them.
SDK_INTERNAL_MODULES = ("singer_sdk.tap_base", "singer_sdk.plugin_base", "singer_sdk.metrics")


def test_only_the_seam_imports_sdk_internals() -> None:
    import tap_aphex

    package = pathlib.Path(tap_aphex.__file__).parent
    reaches = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "sdk_seam.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                parts = module.split(".")
                private = any(part.startswith("_") for part in parts)
                internal = module.startswith(SDK_INTERNAL_MODULES)
                if parts[0] == "singer_sdk" and (private or internal):
                    reaches.append(f"{path.relative_to(package)}:{node.lineno}: {module}")
    assert not reaches, f"SDK internals imported outside tap_aphex/sdk_seam.py: {reaches}"


# --- fed streams: SCHEMA once per run, the plan tables' STATE by their parent -----------------


def test_sync_writes_schema_through_the_method_we_override() -> None:
    sync = inspect.getsource(Stream.sync)
    assert "self._write_schema_message()" in sync
    writer = inspect.getsource(Stream._write_schema_message)
    assert "self._generate_schema_messages()" in writer
    assert "self._tap.write_message(" in writer


def test_each_sync_ends_with_the_state_message_the_plan_tables_leave_to_their_parent() -> None:
    records = inspect.getsource(Stream._sync_records)
    assert records.rstrip().endswith("self._write_state_message()")
    finalize = inspect.getsource(Stream.finalize_state_progress_markers)
    assert "self._write_state_message()" in finalize


def test_the_plan_tables_write_no_state_and_schema_once(simulator: Simulator) -> None:
    from tap_aphex.streams.published_plans import PublishedPlanTasksStream

    assert issubclass(PublishedPlanTasksStream, sdk_seam.StateWrittenByParent)
    assert issubclass(PublishedPlanTasksStream, sdk_seam.SchemaOncePerRun)
    tap = TapAphex(config=events_config(simulator))
    tasks = tap.streams["tasks"]
    out = CapturedStdout()
    with contextlib.redirect_stdout(out):
        tasks._write_schema_message()
        tasks._write_schema_message()
    assert [json.loads(line)["type"] for line in out.getvalue().splitlines()] == ["SCHEMA"]


def test_the_sdk_reads_a_batch_config_as_the_seam_reads_it_up_front() -> None:
    # `config_checks` judges `batch_config` from what this makes of it, before any request: the
    # SDK's own reading, so a key it does not know is a TypeError there, as it would be later.
    raw = {"encoding": {"format": "jsonl", "compression": "gzip"}, "storage": {"root": "/tmp/b"}}

    batch = sdk_seam.batch_config_from(raw)

    assert (str(batch.encoding.format), batch.encoding.compression) == ("jsonl", "gzip")
    assert (batch.storage.root, batch.storage.prefix) == ("/tmp/b", None)
    with pytest.raises(TypeError):
        sdk_seam.batch_config_from({**raw, "encodings": {}})


def test_the_sdk_still_finds_its_batch_encoders_in_the_entry_point_group_we_read() -> None:
    # `batch_config`'s format is refused up front unless it names one: the SDK looks it up there
    # only as the first BATCH file is written.
    from singer_sdk.batch import BaseBatcher, Batcher

    assert {"jsonl", "parquet"} <= set(sdk_seam.batch_encoders())
    for name in sdk_seam.batch_encoders():
        assert issubclass(Batcher.get_batcher(name), BaseBatcher)  # the SDK's own lookup
    with pytest.raises(ValueError, match="Unsupported batcher"):
        Batcher.get_batcher("csv")


def test_the_sdk_still_reads_the_variables_as_the_seam_hands_them_to_our_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The config is checked as the SDK will merge it, before the SDK makes its maps from it.
    monkeypatch.setenv("TAP_APHEX_PAGE_SIZE", "7")
    monkeypatch.setenv("TAP_APHEX_STREAM_MAPS", '{"tasks": {"__alias__": "t"}}')

    read = sdk_seam.env_config(TapAphex)

    assert read["page_size"] == 7
    assert read["stream_maps"] == {"tasks": {"__alias__": "t"}}
    assert TapAphex(config={"api_key": "k"}, parse_env_config=True).config["page_size"] == 7


def test_the_sdk_loads_its_dotenv_file_where_the_seam_loads_it_first(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # `load_env_file` calls the SDK's own loader, so the file is the one the SDK loads again
    # later, as it reads the variables (0.54 searches from its folder, 0.55 from the working one).
    dict_config = singer_sdk.configuration._dict_config
    source = inspect.getsource(dict_config.parse_environment_config)
    assert "dotenv_path = find_dotenv(" in source
    assert "DotEnv(dotenv_path).set_as_environment_variables()" in source  # the path, read back
    assert "parse_environment_config" in inspect.getsource(PluginBase)
    env_file = tmp_path / ".env"
    env_file.write_text('TAP_APHEX_PAGE_SIZE=9\nX="open\nexport TAP_APHEX_PAGE_SIZE=8\nNAME\n')
    monkeypatch.setenv("TAP_APHEX_PAGE_SIZE", "")  # then unset: put back as it was after the test
    monkeypatch.delenv("TAP_APHEX_PAGE_SIZE")
    monkeypatch.setattr(dict_config, "find_dotenv", lambda **_: str(env_file))
    # python-dotenv's parser, as `DotEnv` reads the file: each statement in order, and the lines
    # it skips, of which it warns at each load (the tap says it once, naming the file).
    read = (
        str(env_file),
        [("TAP_APHEX_PAGE_SIZE", "9"), ("TAP_APHEX_PAGE_SIZE", "8"), ("NAME", None)],
        [2],
    )
    caplog.set_level(logging.WARNING)

    assert sdk_seam.load_env_file() == read
    assert sdk_seam.load_env_file() == read  # loaded again: the same
    assert os.environ["TAP_APHEX_PAGE_SIZE"] == "8"  # set as the statements say: the last
    assert not caplog.records  # python-dotenv's warnings silenced, the SDK's loads' too
    dict_config.parse_environment_config({"properties": {}}, "")
    assert not caplog.records
    monkeypatch.setattr(logging.getLogger("dotenv.main"), "filters", [])  # its own, pinned
    dict_config.parse_environment_config({"properties": {}}, "")
    (warning,) = caplog.records
    assert (warning.name, warning.msg, warning.args) == (
        "dotenv.main",
        sdk_seam.DOTENV_UNPARSED,
        (2,),
    )
    monkeypatch.setattr(dict_config, "find_dotenv", lambda **_: "")  # none found
    assert sdk_seam.load_env_file() == ("", [], [])


def test_the_sdk_reads_an_integer_variable_with_int_which_refuses_a_long_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `integers_of_any_length` is what lets the check say such a value is too large.
    monkeypatch.setenv("TAP_APHEX_PAGE_SIZE", "9" * 4301)

    with pytest.raises(ValueError, match="4300 digits"):
        sdk_seam.env_config(TapAphex)
    with sdk_seam.integers_of_any_length() as limit:
        assert sdk_seam.env_config(TapAphex)["page_size"] == 10**4301 - 1
    assert limit == sys.get_int_max_str_digits()  # given back after


def test_the_mapper_says_the_name_each_selected_stream_is_written_as() -> None:
    # `map_schemas` (under `map_outputs`) reads `mapper.stream_maps`, `stream_alias`, removals.
    maps = {"tasks": {"__alias__": "t2"}, "task_events": None, "copy": {"__source__": "tasks"}}

    outputs = map_checks.map_outputs(TapAphex(config={"api_key": "k", "stream_maps": maps}))

    assert outputs == {
        "task_events": [],
        "tasks": ["t2", "copy"],
        "task_statuses": ["task_statuses"],
    }


def test_the_schema_each_map_sends_is_the_one_the_sdk_writes_in_schema_messages() -> None:
    # `map_schemas` calls `Stream._generate_schema_messages`: one per map, a removed stream none,
    # each with the map's transformed schema and key properties.
    maps = {
        "task_events": {"x": "int(1)", "type": None, "__key_properties__": ["x"]},
        "tasks": None,
    }

    schemas = sdk_seam.map_schemas(TapAphex(config={"api_key": "k", "stream_maps": maps}))

    assert schemas["tasks"] == []
    (events,) = schemas["task_events"]
    assert (events.stream, list(events.key_properties or ())) == ("task_events", ["x"])
    assert events.schema["properties"]["x"] == {"type": ["integer", "null"]}
    assert "type" not in events.schema["properties"]


def test_the_mapper_is_made_by_the_sdk_and_holds_the_selected_streams_maps_only() -> None:
    # `SeamTap.setup_mapper` calls `PluginBase.setup_mapper` past `Tap`'s, then registers the
    # selected entries with the SDK's own `register_raw_streams_from_catalog`.
    config = {"api_key": "k", "stream_maps": {"tasks": {"__key_properties__": ["id"]}}}
    catalog = TapAphex(config={"api_key": "k"}).catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] == "task_events"

    tap = TapAphex(config=config, catalog=catalog)

    assert set(tap.mapper.stream_maps) == {"task_events"}
