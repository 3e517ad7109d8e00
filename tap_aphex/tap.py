"""TapAphex: the settings, the checks on them, the streams they enable, and one run's account
(its command-line options: `options`)."""

from __future__ import annotations

import copy
import logging
import os
import typing as t
from pathlib import PurePath

from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import CapabilitiesEnum
from singer_sdk.singerlib import Catalog
from typing_extensions import override

from tap_aphex import catalog_checks, inputs, logs, map_checks, settings
from tap_aphex.client import AphexStream
from tap_aphex.config_checks import batch_config_problems, config_problems
from tap_aphex.options import ENV_PREFIX, TapOptions, env_file
from tap_aphex.report import (
    AphexError,
    CountingWriter,
    RunFailedError,
    RunReport,
    StopReason,
    describe,
    stream_map_problem,
)
from tap_aphex.sdk_seam import add_builtin_settings, honoured
from tap_aphex.settings import CONFIG_SCHEMA, remember_config_secrets, set_at
from tap_aphex.streams import log_position, plan_report
from tap_aphex.streams.published_plans import (
    PublishedPlansStream,
    PublishedPlanStatusesStream,
    PublishedPlanTasksStream,
)
from tap_aphex.streams.task_events import TaskEventsStream, TasksStream, TaskStatusesStream

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.encoding.base import GenericSingerWriter
    from singer_sdk.streams import Stream

#: Each API's streams, its parent first, made only when their setting is set.
LOG_STREAMS = (TaskEventsStream, TasksStream, TaskStatusesStream)
PLANS_STREAMS = (PublishedPlansStream, PublishedPlanTasksStream, PublishedPlanStatusesStream)
#: The setting that enables each API's streams, and the log's words for them when it is unset.
ENABLED_BY = (
    ("api_key", LOG_STREAMS, "the task_events, tasks and task_statuses streams"),
    ("projects", PLANS_STREAMS, "the published-plans streams"),
)
#: Every stream the tap can have: a state's bookmarks name only these.
STREAM_NAMES = tuple(stream.name for stream in (*LOG_STREAMS, *PLANS_STREAMS))
#: The log streams' replication keys: a state's bookmark for any of them is checked as it is read.
LOG_KEYS = {stream.name: str(stream.replication_key) for stream in LOG_STREAMS}


class TapAphex(TapOptions):
    """Singer tap for Aphex Planner's Data API and Published Plans API."""

    name = "tap-aphex"
    config_jsonschema = CONFIG_SCHEMA
    capabilities: t.ClassVar[list[CapabilitiesEnum]] = honoured(TapOptions.capabilities)

    def __init__(
        self,
        *,
        config: dict[str, t.Any] | None = None,
        catalog: dict[str, t.Any] | Catalog | str | PurePath | None = None,
        state: dict[str, t.Any] | None = None,
        parse_env_config: bool = False,
        validate_config: bool = True,
        setup_mapper: bool = True,
        message_writer: GenericSingerWriter[t.Any, t.Any] | None = None,
        discovery: bool = False,
        catalog_name: str | None = None,
        state_name: str | None = None,
        command_line: bool = False,
    ) -> None:
        """As the SDK's; ``discovery``: a config that enables no stream is fine (empty catalog);
        ``catalog_name``, ``state_name``: the `--catalog` and `--state` files', in their checks;
        ``command_line``: `tap-aphex`'s, whose `--config ENV` reads the `TAP_APHEX_*` variables."""
        self.report = RunReport()  # what this run did, told by its streams (see `run`)
        # The SDK's built-in settings (stream_maps...) are checked with ours, before it reads them.
        schema = self.config_jsonschema
        add_builtin_settings(self, schema)
        # A setting set to null is not set (the schema allows null): its default holds.
        known = schema["properties"]
        config = {k: v for k, v in (config or {}).items() if v is not None or k not in known}
        # The TAP_APHEX_* variables, read once if read at all (`--config ENV`), with those of the
        # `.env` file the SDK would load after our checks.
        from_file = env_file(self.logger) if parse_env_config else []
        env = settings.read_env(
            schema, ENV_PREFIX, os.environ if parse_env_config else {}, from_file
        )
        self.set_by_variables = variables = env.variables  # messages name them
        self.set_by_env_file = from_file
        # Hidden before anything is said (a state's file name may hold one): the variables' too.
        remember_config_secrets(config, env.secrets)
        if env.problems:
            raise ConfigValidationError("Config validation failed", errors=env.problems)
        inputs.check_state_shape(state, state_name, STREAM_NAMES)
        log_position.check_state(state, LOG_KEYS, state_name)
        given_bookmarks = copy.deepcopy((state or {}).get("bookmarks") or {})  # a few hundred bytes
        self.log_filter = logs.install(self.logger)  # before the SDK speaks, and makes streams
        # Checked as the SDK will merge it, before it makes its maps and streams from it.
        given, problems = inputs.merged_config(
            type(self), config, schema, variables, env=parse_env_config, validate=validate_config
        )
        if problems:
            raise ConfigValidationError("Config validation failed", errors=problems)
        warnings: list[str] = []  # a catalog's first, then the config's
        if catalog is not None:
            enabled = [s.name for key, streams, _ in ENABLED_BY if given.get(key) for s in streams]
            catalog, warnings = catalog_checks.selected_catalog(
                catalog, catalog_name, (*LOG_STREAMS, *PLANS_STREAMS), enabled
            )
        warnings += [*settings.unknown_settings(given, schema, variables), *env.unknown]
        for warning in warnings:
            self.logger.warning("%s", warning)
        unread: list[str] = []  # `tap-aphex` without `--config ENV`: the variables set, unread
        if command_line and not parse_env_config:
            unread = [*settings.read_env(schema, ENV_PREFIX, os.environ).variables.values()]
        required = not discovery  # a discovery lists what the config enables, maybe nothing
        if validate_config and (
            problems := config_problems(given, variables, streams_required=required, unread=unread)
            or batch_config_problems(given, variables)
            or map_checks.stream_map_problems(given, variables, (*LOG_STREAMS, *PLANS_STREAMS))
        ):
            raise ConfigValidationError("Config validation failed", errors=problems)
        super().__init__(
            config=config,
            catalog=catalog,
            state=state,
            parse_env_config=parse_env_config,
            # Checked above: the SDK's messages quote the offending value, which may be a secret.
            validate_config=False,
            setup_mapper=setup_mapper,
            message_writer=message_writer or CountingWriter(self.report),
        )
        outputs = map_checks.map_outputs(self) if setup_mapper else {}
        if problems := map_checks.map_output_problems(outputs, variables):
            raise ConfigValidationError("Config validation failed", errors=problems)
        if removed := [stream for stream, names in outputs.items() if not names]:
            self.logger.warning(
                "`%s` remove every record of %s: read all the same, their bookmarks move past "
                "what this run drops. Deselect them instead to leave them unread.",
                set_at("stream_maps", variables),
                ", ".join(removed),
            )
        if isinstance(plans := self.streams.get("published_plans"), PublishedPlansStream):
            plans.given_state = given_bookmarks  # with the progress markers `sync_all` drops
        read = {
            s.name: s.name in self.streams and self.streams[s.name].selected for s in PLANS_STREAMS
        }
        accounts = plans.by_account if isinstance(plans, PublishedPlansStream) else {}
        plan_report.say_bookmarks_unread(self.logger, given_bookmarks, read, accounts)
        self.log_filter.metrics_level = logging.getLevelName(self.config["metrics_log_level"])

    @override
    def discover_streams(self) -> list[Stream]:
        streams: list[Stream] = []
        for setting, (parent, *children), what in ENABLED_BY:
            if self.config.get(setting):
                streams += [parent(self, report=self.report), *(child(self) for child in children)]
            else:
                self.logger.info("No `%s` set: skipping %s.", setting, what)
        logs.attach(self.log_filter, [stream.logger for stream in streams])
        return streams

    @override
    def setup_mapper(self) -> None:
        """The SDK's mapper; an expression it cannot parse is a config problem, before any
        request (the SDK's own error, raised as it is, would end the run as a failure)."""
        try:
            super().setup_mapper()
        except Exception as error:
            if (problem := stream_map_problem(error)) is None:
                raise
            raise ConfigValidationError("Config validation failed", errors=[problem]) from None

    def run(self) -> None:
        """Sync every stream, log the summary, then fail if a part failed (the rest has landed)."""
        self.report.clear()
        # published_plans' BATCH goes out at the end; its tables' (shared) STATE per version before.
        plans = self.streams.get("published_plans")
        together = plans is not None and plans.selected and plans.has_selected_descendents
        if together and self.config.get("batch_config"):
            raise AphexError(
                f"`{set_at('batch_config', self.set_by_variables)}` with published_plans and its "
                "tables selected together is not supported (a STATE could reach the target before "
                "the BATCH it covers). Select published_plans alone, or its tables alone, or sync "
                "without `batch_config`."
            )
        try:
            self.sync_all()
        except KeyboardInterrupt:  # SIGINT or SIGTERM (`signals`): what went out, then its line
            self.log_summary(interrupted=True)
            raise
        except Exception as error:
            # An error raised outside task_events' reading (a stream map's, writing a record):
            # its records since the last STATE land here (not if a `tasks` map fails on them too).
            events = self.streams.get(TaskEventsStream.name)
            if isinstance(events, TaskEventsStream) and not isinstance(error, BrokenPipeError):
                try:
                    events.checkpoint()
                except Exception as landing:  # said; the run's own error goes on
                    self.logger.warning(
                        "task_events: the events read since the last STATE did not land (%s); "
                        "the next run reads them again.",
                        describe(landing),
                    )
            # This error has the run's last line: the failures it would have listed come before.
            for failure in self.report.failures:
                self.logger.error("Failed before the run ended: %s", failure)
            raise
        finally:
            self.close_sessions()
        self.log_summary()
        if self.report.failures:
            # Any other stop is a part of the run (the log, a project) that landed.
            landed = any(s.reason is not StopReason.FAILURE for s in self.report.stops.values())
            raise RunFailedError(self.report.failures, others_landed=landed)

    def log_summary(self, *, interrupted: bool = False) -> None:
        for line in self.report.summary(interrupted=interrupted):
            self.logger.info("Summary: %s", line)

    def test_connection(self) -> None:
        """The SDK's test (one record per stream) of the Data API; one ``limit=1`` request a project
        (the SDK's would start up to `max_parallel_projects` whole downloads to read one)."""
        self.report.clear()
        log = [s for s in self.streams.values() if not isinstance(s, PLANS_STREAMS)]
        resumed = bool(self.state.get("bookmarks", {}).get(TaskEventsStream.name))
        passed, failures = [], []
        try:
            if log:
                self.run_sync_dry_run(dry_run_record_limit=1, streams=log)
                stop = self.report.stops.get(TaskEventsStream.name)
                if stop is not None and stop.reason is StopReason.DAILY_LIMIT:
                    # The quota's clean stop in a run; here the key was never checked.
                    failures.append(
                        "task events: the Data API answered HTTP 503 (its daily limit is spent, "
                        "or it is down), so the key could not be checked: test again later "
                        "(tomorrow, if the day's events are spent)"
                    )
                elif t.cast("TaskEventsStream", self.streams[TaskEventsStream.name]).events_read:
                    passed.append(f"the Data API served {'an' if resumed else 'its first'} event")
                elif resumed:
                    passed.append("the Data API answered (no event after the state's bookmark)")
                else:
                    passed.append("the Data API answered (its log holds no event yet)")
            for what, error in self.project_checks():
                if error is None:
                    self.logger.info("Connection test: %s answered.", what)
                else:
                    failures.append(f"{what}: {describe(error)}")
            if self.config.get("projects"):
                passed.append("every project answered")
        finally:
            self.close_sessions()
        if failures := [*self.report.failures, *failures]:  # nothing landed, nothing resumes
            raise AphexError(f"the connection test failed: {' | '.join(failures)}")
        self.logger.info("Connection test passed: %s.", ", ".join(passed))

    def project_checks(self) -> list[tuple[str, Exception | None]]:
        plans = self.streams.get("published_plans")
        return plans.project_checks() if isinstance(plans, PublishedPlansStream) else []

    def close_sessions(self) -> None:
        for stream in self.streams.values():
            if isinstance(stream, AphexStream):  # the SDK never closes its session
                stream.requests_session.close()
