"""The one place tap-aphex touches the Singer SDK's internals (singer-sdk 0.54 and 0.55): each
item says which SDK behaviour it relies on, checked by `tests/test_sdk_seam.py` (a new reach goes
here, with a check there; `scripts/test-next-sdk.sh` runs them on the newest SDK)."""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import traceback
import typing as t
from importlib.metadata import entry_points
from unittest import mock

from dotenv.main import DotEnv
from dotenv.parser import parse_stream
from singer_sdk import Tap
from singer_sdk.configuration import _dict_config
from singer_sdk.helpers._batch import BatchConfig as BatchConfig
from singer_sdk.helpers._state import finalize_state_progress_markers
from singer_sdk.metrics import METRICS_LOGGER_NAME as METRICS_LOGGER_NAME
from singer_sdk.pagination import SinglePagePaginator
from singer_sdk.plugin_base import PluginBase, _ConfigInput
from singer_sdk.singerlib import Catalog, SchemaMessage
from singer_sdk.streams import RESTStream, Stream
from singer_sdk.tap_base import CliTestOptionValue
from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    import requests
    from singer_sdk.helpers.capabilities import CapabilitiesEnum
    from singer_sdk.helpers.types import Context

T = t.TypeVar("T")


#: `batch_config` read up front as the SDK does. 0.54: the private `BatchConfig.from_dict`.
batch_config_from = BatchConfig.from_dict


def batch_encoders() -> list[str]:
    """The formats `batch_config` may name: the SDK's batchers are plugins of this entry-point group
    (0.54, 0.55), found only as the first BATCH file is written (0.55's schema takes any text)."""
    return sorted(entry.name for entry in entry_points(group="singer_sdk.batch_encoders"))


def load_env_file() -> tuple[str, list[tuple[str, str | None]], list[int]]:
    """Load the `.env` file the SDK loads (over the variables set) now, for the tap to check: its
    path ("": none), ``NAME=value`` statements in order (the last of a name is set), lines skipped.
    0.54, 0.55: `parse_environment_config` loads `DotEnv(find_dotenv())` at each reading, and
    python-dotenv (1.x: `parse_stream`) warns of a skipped line at each: the tap says it once."""
    logging.getLogger("dotenv.main").addFilter(_unparsed_line_said_by_the_tap)
    with mock.patch.object(_dict_config, "DotEnv", wraps=DotEnv) as loader:  # the path it finds
        _dict_config.parse_environment_config({"properties": {}}, "")  # loads it, reads nothing
    path = str(loader.call_args.args[0] or "")
    with open(path) if path else io.StringIO() as stream:  # as `DotEnv` opens it
        read = list(parse_stream(stream))
    statements = [(each.key, each.value) for each in read if each.key is not None]
    return path, statements, [each.original.line for each in read if each.error]


#: python-dotenv's warning (logger `dotenv.main`) per line it cannot parse.
DOTENV_UNPARSED = "python-dotenv could not parse statement starting at line %s"


def _unparsed_line_said_by_the_tap(record: logging.LogRecord) -> bool:
    return record.msg != DOTENV_UNPARSED


def env_config(plugin: type[Tap]) -> dict[str, t.Any]:
    """The settings the SDK reads from the `TAP_APHEX_*` variables, as it reads them. 0.54, 0.55:
    the private classproperty `_env_var_config`, put over the files' by `PluginBase.__init__`."""
    return t.cast("dict[str, t.Any]", plugin._env_var_config)


@contextlib.contextmanager
def integers_of_any_length() -> Iterator[int]:
    """Within: `env_config`, and the checks of what it read; gives the limit outside (0: none).
    0.54, 0.55: the SDK reads an integer variable with `int()`, which (as `str()` for the check's
    words) refuses more than 4,300 digits: the check is what says such a value is too large. A
    variable holds no more than the system allows (Linux: 128 KiB, read in a tenth of a second)."""
    if not hasattr(sys, "set_int_max_str_digits"):  # Python 3.10.6 and older: no limit at all
        yield 0
        return
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        yield before
    finally:
        sys.set_int_max_str_digits(before)


#: What ``--config`` hands to ``invoke``, for config files we read ourselves. 0.54: the private
#: dataclass `_ConfigInput`, whose two fields `invoke`, `--test` and `--discover` read.
config_input = _ConfigInput

#: A bare ``--test``'s value. 0.54/0.55: the enum `CliTestOptionValue`, in `tap_base`, not exported.
CLI_TEST_ALL: str = CliTestOptionValue.All.value
#: Every value ``--test=`` takes; the SDK runs its connection test on any other, and exits 0.
CLI_TEST_VALUES: tuple[str, ...] = tuple(option.value for option in CliTestOptionValue)

#: The capabilities `TapAphex` honours, by value. Not `activate-version` (a target deletes every
#: older row: it could only lose history), nor 0.55's `start-date` (positions are no dates).
HONOURED = (
    "catalog",
    "state",
    "discover",
    "about",
    "stream-maps",
    "schema-flattening",
    "batch",
    "structured-logging",
)


def honoured(capabilities: Iterable[CapabilitiesEnum]) -> list[CapabilitiesEnum]:
    """Those in `HONOURED`. 0.54/0.55: a capability's `CapabilitiesEnum` member moves, its value
    does not; its settings (0.55: `start_date`) come only once it is declared."""
    return [capability for capability in capabilities if capability.value in HONOURED]


def add_builtin_settings(plugin: type[Tap] | Tap, schema: dict[str, t.Any]) -> None:
    """The SDK's built-in settings (`stream_maps`, flattening, `batch_config`...) added to
    ``schema`` as ``plugin`` declares them, made checkable, in place. 0.54/0.55: `stream_maps`
    lists a bare ``"null"`` in an `anyOf`, on which jsonschema crashes (AttributeError) when a
    value matches none; `flattening_max_depth` has no minimum, and the SDK reads -1 as unset."""
    plugin.append_builtin_config(schema)
    _schemas_in_any_of(schema)
    schema["properties"]["flattening_max_depth"].setdefault("minimum", 0)


def _schemas_in_any_of(schema: dict[str, t.Any]) -> None:
    if isinstance(schema.get("anyOf"), list):
        schema["anyOf"] = [
            {"type": each} if isinstance(each, str) else each for each in schema["anyOf"]
        ]
    for value in schema.values():  # a subschema, or a list of them (`anyOf`...)
        for subschema in value if isinstance(value, list) else [value]:
            if isinstance(subschema, dict):
                _schemas_in_any_of(subschema)


class SeamTap(Tap):
    """The SDK's internal hooks we replace, so that `TapAphex` itself overrides none."""

    @override
    def _setup_signal_handlers(self) -> None:
        """Leave SIGINT and SIGTERM to `tap_aphex.signals`. 0.54: `PluginBase.__init__` calls this
        to install `_handle_termination`, which writes a STATE (maybe mid-page) and exits 0."""

    @override
    def setup_mapper(self) -> None:
        """The SDK's, with the maps of the selected streams only. 0.54/0.55: `Tap.setup_mapper`
        registers every entry, a deselected one with the schema it emptied: a map naming that
        stream's key was refused ("Invalid key properties"), though the stream is never read."""
        PluginBase.setup_mapper(self)  # the mapper, without `Tap`'s registration
        entries = self.catalog.items()
        selected = {
            name: entry for name, entry in entries if entry.metadata.resolve_selection()[()]
        }
        self.mapper.register_raw_streams_from_catalog(Catalog(selected))


def map_schemas(tap: Tap) -> dict[str, list[SchemaMessage]]:
    """Each selected stream's SCHEMA messages as the SDK writes them, one per map that sends records
    (its name, transformed schema and key properties). 0.54/0.55: `setup_mapper` registers the maps
    in `mapper.stream_maps`; `Stream._generate_schema_messages` skips a `RemoveRecordTransform`."""
    # The mapper also holds the maps of a stream a catalog selects that the config does not enable.
    return {
        name: list(tap.streams[name]._generate_schema_messages())
        for name in tap.mapper.stream_maps
        if name in tap.streams
    }


def plain_logger(logger: logging.Logger | logging.LoggerAdapter[t.Any]) -> logging.Logger:
    """The `logging.Logger` behind a stream's ``logger``, to attach filters to. 0.55 wraps it in a
    `LoggerAdapter`, which has no `filters`."""
    return logger.logger if isinstance(logger, logging.LoggerAdapter) else logger


#: A METRIC line's `msg`, on the logger `METRICS_LOGGER_NAME` (imported above: an undocumented
#: constant). 0.54/0.55: `singer_sdk.metrics.log` logs ``("METRIC: %s", point)``.
SDK_METRIC_TEMPLATE = "METRIC: %s"

#: The SDK's own INFO/WARNING/ERROR lines that mislead or repeat per page, demoted to DEBUG by
#: `tap_aphex.logs`. 0.54 logs them with these format strings (the record's `msg`, before its args).
SDK_CHATTER: tuple[str, ...] = (
    # helpers/_state.py: false for published_plans, whose bookmark moves per project read in full.
    "Stream is assumed to be unsorted, progress is not resumable if interrupted",
    # streams/core.py: once per page for `tasks` and per version for the plan tables.
    "Beginning sync of '%s' in %s mode",
    "Beginning sync of '%s' in %s mode with context keys: %s",
    # streams/_state.py: as often, and the streams say where they start themselves.
    "Starting incremental sync of '%s' with bookmark value: %s",
    # streams/core.py: also said of the connection test's stop; a real failure gets our own line.
    "An unhandled error occurred while syncing '%s'",
    # streams/rest.py: the end of the log, which the streams' own lines report.
    "Pagination stopped after %d pages because no records were found in the last response",
    # tap_base.py / plugin_base.py: set-up details.
    "Added '%s' as child stream to '%s'",
    "Skipping parse of env var settings...",
    "Parsing env var for settings config...",
    "Parsing '%s' config from env variable '%s'.",
    # plugin_base.py: after each config problem's ERROR line, and when the tap checks it itself.
    "Config validation failed",
    # backoff (the SDK's retry decorator is given the stream's logger): `backoff_handler` says it.
    "Backing off %s(...) for %.1fs (%s)",
    "Giving up %s(...) after %d tries (%s)",
)


def write_state(stream: Stream) -> None:
    """A STATE now, even after a page with no record. 0.54: `Stream._write_state_message` writes
    only if a record cleared `state_manager.is_flushed` (and skips one equal to the last)."""
    stream.state_manager.is_flushed = False
    stream._write_state_message()


class StateWrittenByParent(Stream):
    """A stream whose STATE only its parent writes (`write_state`) once every stream it feeds has
    its records: one between `tasks` and `task_statuses` could point the latter past records a
    kill loses; a plan table's would carry every project's bookmarks per version. 0.54/0.55:
    `Stream.sync` ends with `_finalize_state` and `_write_state_message`."""

    @override
    def _write_state_message(self) -> None:
        """Nothing: the parent's STATE holds this stream's bookmark too."""


def set_bookmark(stream: Stream, replication_key_value: str | None) -> None:
    """Point ``stream``'s bookmark at an event id, not its last record's; None: none yet. 0.54:
    `increment_state` writes these two keys of `Stream.stream_state` per record."""
    state = stream.stream_state
    if replication_key_value is None:
        state.pop("replication_key", None)
        state.pop("replication_key_value", None)
        return
    state["replication_key"] = stream.replication_key
    state["replication_key_value"] = replication_key_value


def discard_progress(partition_state: dict[str, t.Any]) -> None:
    """Forget the bookmark an unsorted stream advanced in this partition this run, and finalize the
    partition (its signpost and starting value go: the SDK finalizes only the streams it syncs,
    and a plans table's parent may be deselected). 0.54: the bookmark waits in
    ``progress_markers`` until the partition is finalized; popping it keeps the old one."""
    partition_state.pop("progress_markers", None)
    finalize_state_progress_markers(partition_state)


def request_sender(
    stream: RESTStream[t.Any], receive: Callable[[Callable[[], requests.Response]], T]
) -> Callable[[requests.PreparedRequest, Context], T]:
    """The SDK's path for one request, for a download thread: ``receive`` gets each try's send, to
    count tries and read the body inside the retries. 0.54/0.55: `request_decorator` (retries,
    from our budget) around `_request` (metrics, `validate_response`, the thread's session)."""

    def request_and_receive(prepared: requests.PreparedRequest, context: Context | None) -> T:
        return receive(lambda: stream._request(prepared, context))

    retried = stream.request_decorator(request_and_receive)  # type: ignore[arg-type]  # any result
    return t.cast("Callable[[requests.PreparedRequest, Context], T]", retried)


def prepared_request(stream: RESTStream[t.Any], context: Context) -> requests.PreparedRequest:
    """The request for ``context``, as `request_records` prepares a page's. 0.54/0.55:
    `_prepare_request(context=, page=)` applies the authenticator."""
    return stream._prepare_request(context=context, page=SinglePagePaginator())


class SchemaOncePerRun(Stream):
    """SCHEMA once per run (again only if it changes), not per page or published version: a
    target may run DDL checks on each. 0.54/0.55: each `Stream.sync` calls this method, which
    writes what `_generate_schema_messages` yields."""

    _schema_sent: list[dict[str, t.Any]] | None = None

    @override
    def _write_schema_message(self) -> None:
        sent = [message.to_dict() for message in self._generate_schema_messages()]
        if sent != self._schema_sent:
            self._schema_sent = sent
            super()._write_schema_message()


#: 0.54/0.55 evaluates stream-map expressions (simpleeval) in this module.
SDK_MAPPER_MODULE = "singer_sdk.mapper"


def stream_map_failure(error: BaseException) -> str | None:
    """Where a `stream_maps` expression failed (``tasks.extra``, or ""), or None if ``error`` did
    not come from there (``1/0`` is not always wrapped). 0.54/0.55: `CustomStreamMap` (its
    ``stream_alias``) parses in `_init_functions_and_schema` (local ``prop_key``; `__filter__`'s
    first, as ``filter_rule``), evaluates in `_eval` (``property_name``; None for the filter)."""
    where = None
    for frame, _ in traceback.walk_tb(error.__traceback__):
        if frame.f_globals.get("__name__") == SDK_MAPPER_MODULE:
            alias = getattr(frame.f_locals.get("self"), "stream_alias", None)
            name = frame.f_locals.get("prop_key") or frame.f_locals.get("property_name")
            name = name or ("__filter__" if "filter_rule" in frame.f_locals else None)
            found = isinstance(alias, str) and isinstance(name, str)
            where = f"{alias}.{name}" if found else where or ""
    return where
