"""The one place tap-aphex touches the Singer SDK's internals (singer-sdk 0.54 and 0.55).

Each item says which SDK behaviour it relies on, and for which releases; `tests/test_sdk_seam.py`
fails loudly when an upgrade moves one. A new reach into the SDK goes here, with its why and a
check in that test. `scripts/test-next-sdk.sh` runs the tests on the newest SDK.
"""

from __future__ import annotations

import logging
import typing as t

from singer_sdk import Tap
from singer_sdk import metrics as _sdk_metrics
from singer_sdk.helpers._batch import BatchConfig as BatchConfig
from singer_sdk.pagination import SinglePagePaginator
from singer_sdk.plugin_base import _ConfigInput
from singer_sdk.streams import RESTStream, Stream
from singer_sdk.tap_base import CliTestOptionValue
from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import requests
    from singer_sdk.helpers.capabilities import CapabilitiesEnum
    from singer_sdk.helpers.types import Context

T = t.TypeVar("T")

# --- the tap and its command line ------------------------------------------------------------


def batch_config_from(raw: t.Mapping[str, t.Any]) -> BatchConfig:
    """`batch_config` read up front as the SDK reads it for the first BATCH file. 0.54: the
    private `BatchConfig.from_dict` (also the type of `Stream.get_batches`' batch_config)."""
    return BatchConfig.from_dict(dict(raw))


def config_input(config: dict[str, t.Any], *, parse_env: bool) -> t.Any:
    """What ``--config`` hands to ``invoke``, for config files we read ourselves. 0.54: `cb_config`
    returns a private `_ConfigInput`, which `invoke`, `--test` and `--discover` read."""
    return _ConfigInput(config=config, parse_env=parse_env)


#: The ``--test`` value that runs the connection test (not ``schema``, not ``disabled``).
#: 0.54/0.55: its values are the enum `CliTestOptionValue`, defined in `tap_base`, not exported.
CLI_TEST_ALL: str = CliTestOptionValue.All.value

#: The capabilities `TapAphex` honours, by value. Not `activate-version` (a target receiving
#: ACTIVATE_VERSION deletes every older row; every stream here reads incrementally, so it could only
#: lose history), nor 0.55's `start-date` (a position here is an event id or a publishing time,
#: never a `start_date`): a capability a new SDK adds is declared only once the tap honours it.
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
    """The SDK's ``capabilities`` that the tap honours (`HONOURED`). 0.54/0.55: `Tap.capabilities`
    mixes `CapabilitiesEnum` classes, whose member for a capability moves; its value does not.
    The SDK adds a capability's settings (0.55: `start_date`) only when it is declared."""
    return [capability for capability in capabilities if capability.value in HONOURED]


def repair_builtin_schema(schema: dict[str, t.Any]) -> None:
    """The config schema with the SDK's built-in settings made checkable, in place. 0.54/0.55:
    `stream_maps`' schema lists ``"null"`` (a bare string) among `__else__`'s, on which jsonschema
    crashes (AttributeError) as soon as a value matches none of the others; and
    `flattening_max_depth` has no minimum, while the SDK reads -1 as unset ("is required")."""
    _schemas_in_any_of(schema)
    if depth := schema["properties"].get("flattening_max_depth"):
        depth.setdefault("minimum", 0)


def _schemas_in_any_of(schema: t.Any) -> None:
    if isinstance(schema, dict):
        if isinstance(schema.get("anyOf"), list):
            schema["anyOf"] = [
                {"type": each} if isinstance(each, str) else each for each in schema["anyOf"]
            ]
        for value in schema.values():
            _schemas_in_any_of(value)
    elif isinstance(schema, list):
        for value in schema:
            _schemas_in_any_of(value)


class SeamTap(Tap):
    """A `Tap` with the SDK's internal hooks we replace, so `TapAphex` itself overrides none."""

    @override
    def _setup_signal_handlers(self) -> None:
        """Leave SIGINT and SIGTERM to `tap_aphex.signals`. 0.54: `PluginBase.__init__` calls this
        to install `_handle_termination`, which writes a STATE (maybe mid-page) and exits 0."""


def plain_logger(logger: logging.Logger | logging.LoggerAdapter[t.Any]) -> logging.Logger:
    """The `logging.Logger` behind a stream's ``logger``, to attach filters to. 0.54: it is one;
    0.55 wraps it in a `LoggerAdapter` (adding `stream_name`), which has no `filters`."""
    return logger.logger if isinstance(logger, logging.LoggerAdapter) else logger


#: The logger the SDK's METRIC lines go to. 0.54/0.55: `singer_sdk.metrics.METRICS_LOGGER_NAME`,
#: an undocumented module constant.
METRICS_LOGGER_NAME: str = _sdk_metrics.METRICS_LOGGER_NAME

#: How the SDK words a METRIC line (the record's `msg`, before its args). 0.54/0.55:
#: `singer_sdk.metrics.log` logs ``logger.info("METRIC: %s", point)``.
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


# --- the task-event log --------------------------------------------------------------------------
# task_events and tasks checkpoint once per page, both bookmarks together; the SDK's own state
# machinery does it per record and every 10,000 records, so these reach into it.


#: For `Stream.STATE_MSG_FREQUENCY`. 0.54: `_sync_records` writes a STATE every that many records
#: (default 10,000), which could fall mid-page, before `tasks` has the page: never reached.
NO_PERIODIC_STATE = 10**12


def write_state(stream: Stream) -> None:
    """Write a STATE now, with every stream's bookmark, even after a page with no record of this
    stream. 0.54: `Stream._write_state_message` writes only when `state_manager.is_flushed` is
    False, which a record sets; it still skips a STATE equal to the last one written."""
    stream.state_manager.is_flushed = False
    stream._write_state_message()


class StateWrittenByParent(Stream):
    """A stream whose STATE only its parent writes (`write_state`), once every stream it feeds
    has its records (the log: per page; published plans: per project).

    0.54/0.55: `Stream.sync` ends with `_finalize_state` and `_write_state_message`. A STATE
    between `tasks` and `task_statuses` would point the latter past records a kill would lose; a
    plan table, fed per published version, would write every project's bookmarks per version.
    """

    @override
    def _write_state_message(self) -> None:
        """Nothing: the parent's STATE holds this stream's bookmark too."""


def set_bookmark(stream: Stream, replication_key_value: str | None) -> None:
    """Point ``stream``'s bookmark at an event id, not at its last record's (out of log order);
    None: no position yet (the log from its start). 0.54: `Stream.stream_state` is the stream's
    writable state entry, whose `replication_key` and `replication_key_value` `increment_state`
    writes per record."""
    state = stream.stream_state
    if replication_key_value is None:
        state.pop("replication_key", None)
        state.pop("replication_key_value", None)
        return
    state["replication_key"] = stream.replication_key
    state["replication_key_value"] = replication_key_value


# --- published plans ------------------------------------------------------------------------------


def discard_progress(partition_state: dict[str, t.Any]) -> None:
    """Forget the bookmark an unsorted stream advanced in this partition during this run. 0.54:
    it waits in ``progress_markers`` until the partition (a child's: the run) is finalized into
    ``replication_key_value``; popping it first keeps the old bookmark."""
    partition_state.pop("progress_markers", None)


def request_sender(
    stream: RESTStream[t.Any], receive: Callable[[Callable[[], requests.Response]], T]
) -> Callable[[requests.PreparedRequest, Context], T]:
    """The SDK's path for one request, for a download thread outside `request_records`: each try
    calls ``receive`` with the send of the request, so that it counts the tries and reads the
    body as it streams in inside the retries (a body cut short is asked again as a failed request
    is). 0.54/0.55: `request_decorator` (the retries, paid from our budget) around `_request`
    (metrics, `validate_response`, on `requests_session`: a download thread has its own)."""

    def request_and_receive(prepared: requests.PreparedRequest, context: Context | None) -> T:
        return receive(lambda: stream._request(prepared, context))

    retried = stream.request_decorator(request_and_receive)  # type: ignore[arg-type]  # any result
    return t.cast("Callable[[requests.PreparedRequest, Context], T]", retried)


def prepared_request(stream: RESTStream[t.Any], context: Context) -> requests.PreparedRequest:
    """The request for ``context``, as `request_records` prepares each page's. 0.54/0.55:
    `_prepare_request(context=, page=)` applies the authenticator; one page: no paginator token."""
    return stream._prepare_request(context=context, page=SinglePagePaginator())


# --- fed streams: SCHEMA once per run -----------------------------------------------------------


class SchemaOncePerRun(Stream):
    """A stream whose SCHEMA goes out once per run (and again only if it changes), though fed
    per page or per published version: a target may run DDL checks on each. 0.54/0.55: each
    `Stream.sync` calls `_write_schema_message`, which writes `_generate_schema_messages`."""

    _schema_sent: list[dict[str, t.Any]] | None = None

    @override
    def _write_schema_message(self) -> None:
        messages = list(self._generate_schema_messages())
        sent = [message.to_dict() for message in messages]
        if sent == self._schema_sent:
            return
        self._schema_sent = sent
        for message in messages:
            self._tap.write_message(message)


# --- stream map failures -------------------------------------------------------------------------

#: 0.54 evaluates stream-map expressions (simpleeval) in this module; an error an expression
#: raises there (e.g. ZeroDivisionError for "1/0") is not always wrapped in `MapExpressionError`.
SDK_MAPPER_MODULE = "singer_sdk.mapper"


def stream_map_failure(error: BaseException) -> str | None:
    """Where a user's `stream_maps` expression failed (``tasks.extra``; "" when the SDK does not
    say), or None when ``error`` did not come out of the SDK's stream-map code. 0.54/0.55: its
    `CustomStreamMap` (``self.stream_alias``) parses each property's expression in
    `_init_functions_and_schema` (local ``prop_key``) and evaluates it in `_eval` (argument
    ``property_name``); an expression's own error (``1/0``) is not always wrapped."""
    where = None
    frame = error.__traceback__
    while frame is not None:
        code = frame.tb_frame
        if code.f_globals.get("__name__") == SDK_MAPPER_MODULE:
            alias = getattr(code.f_locals.get("self"), "stream_alias", None)
            name = code.f_locals.get("prop_key") or code.f_locals.get("property_name")
            found = isinstance(alias, str) and isinstance(name, str)
            where = f"{alias}.{name}" if found else where or ""
        frame = frame.tb_next
    return where
