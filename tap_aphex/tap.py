"""TapAphex: the settings, the checks on them, the streams they enable, and one run's account."""

from __future__ import annotations

import json
import logging
import os
import sys
import typing as t
from pathlib import Path

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import CapabilitiesEnum, TapCapabilities
from singer_sdk.tap_base import CliTestOptionValue
from typing_extensions import override

from tap_aphex import logs
from tap_aphex.errors import AphexError, ConfigError, RunFailedError
from tap_aphex.events import TaskEventsStream, TasksStream
from tap_aphex.plans import (
    PublishedPlansStream,
    PublishedPlanStatusesStream,
    PublishedPlanTasksStream,
)
from tap_aphex.run_report import CountingWriter, RunReport
from tap_aphex.sdk_seam import SeamTap, config_input
from tap_aphex.settings import (
    CONFIG_SCHEMA,
    config_problems,
    env_problems,
    schema_problems,
    unknown_settings,
)

if t.TYPE_CHECKING:
    import click
    from singer_sdk.singerlib.encoding.base import GenericSingerWriter
    from singer_sdk.streams import Stream


class TapAphex(SeamTap):
    """Singer tap for Aphex Planner's Data API and Published Plans API."""

    name = "tap-aphex"
    config_jsonschema = CONFIG_SCHEMA
    message_writer_class = MsgSpecWriter  # issue 8; each tap passes a counting one (`__init__`)
    # The SDK's list less `activate-version`: the SDK sends ACTIVATE_VERSION only for a full-table
    # read, and a target receiving it deletes every older row; every stream here reads
    # incrementally from a bookmark, so declaring it could only invite a target to drop history.
    capabilities: t.ClassVar[list[CapabilitiesEnum]] = [
        capability
        for capability in SeamTap.capabilities
        if capability is not TapCapabilities.ACTIVATE_VERSION
    ]

    def __init__(
        self,
        *,
        config: dict[str, t.Any] | None = None,
        catalog: dict[str, t.Any] | None = None,
        state: dict[str, t.Any] | None = None,
        parse_env_config: bool = False,
        validate_config: bool = True,
        setup_mapper: bool = True,
        message_writer: GenericSingerWriter[t.Any, t.Any] | None = None,
    ) -> None:
        self.report = RunReport()  # what this run did, told by its streams (see `run`)
        if parse_env_config and (problems := env_problems(CONFIG_SCHEMA, ENV_PREFIX, os.environ)):
            raise ConfigError(" ".join(problems))
        check_state_shape(state)
        if validate_config and (problems := schema_problems(CONFIG_SCHEMA, config or {})):
            # Before the SDK makes the streams from it; with the environment's values, again below.
            raise ConfigValidationError("Config validation failed", errors=problems)
        self.log_filter = logs.install(self.logger)  # before the SDK speaks, and makes streams
        super().__init__(
            config=config,
            catalog=catalog,
            state=state,
            parse_env_config=parse_env_config,
            # Checked below: the SDK's messages quote the offending value, which may be a secret.
            validate_config=False,
            setup_mapper=setup_mapper,
            message_writer=message_writer or CountingWriter(self.report),
        )
        self.log_filter.metrics_level = logging.getLevelName(
            str(self.config.get("metrics_log_level", "DEBUG"))
        )
        for warning in unknown_settings(self.config, self.config_jsonschema):
            self.logger.warning("%s", warning)
        if validate_config:
            problems = schema_problems(self.config_jsonschema, self.config)
            if problems := problems or config_problems(self.config):
                raise ConfigValidationError("Config validation failed", errors=problems)

    @override
    def discover_streams(self) -> list[Stream]:
        streams: list[Stream] = []
        if self.config.get("api_key"):
            streams += [TaskEventsStream(self, report=self.report), TasksStream(self)]
        else:
            self.logger.info("No `api_key` set: skipping the task_events and tasks streams.")
        if self.config.get("projects"):
            streams += [
                PublishedPlansStream(self, report=self.report),
                PublishedPlanTasksStream(self),
                PublishedPlanStatusesStream(self),
            ]
        else:
            self.logger.info("No `projects` set: skipping the published-plans streams.")
        logs.attach(self.log_filter, [stream.logger for stream in streams])
        return streams

    def run(self) -> None:
        """Sync every stream, then log the summary; if a stream or project failed, fail the run.

        A failure ends only its own stream or project, so everything else lands first.
        """
        self.report.clear()
        self._refuse_unsafe_batching()
        self.sync_all()
        for line in self.report.summary():
            self.logger.info("Summary: %s", line)
        if self.report.failures:
            raise RunFailedError(self.report.failures)

    def test_connection(self) -> None:
        """The SDK's connection test (one record per stream), failing if any stream failed."""
        self.report.clear()
        self.run_connection_test()
        if self.report.failures:
            raise RunFailedError(self.report.failures)
        self.logger.info("Connection test passed: every stream read its first record.")

    @classmethod
    @override
    def invoke(
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: t.Any = None,
        state: t.IO[str] | None = None,
        catalog: t.IO[str] | None = None,
        **kwargs: t.Any,
    ) -> None:
        """The SDK's `Tap.invoke`, with `run` (summary, failures) in place of a bare `sync_all`."""
        if about:
            cls.print_about(about_format)
            sys.exit(0)
        cls.print_version(print_fn=cls.logger.info)
        config = config or config_input({}, parse_env=False)
        tap = cls(
            config=config.config,
            state=None if state is None else read_json_object(state, "state"),
            catalog=None if catalog is None else read_json_object(catalog, "catalog"),
            parse_env_config=config.parse_env,
            validate_config=True,
        )
        tap.run()

    @classmethod
    @override
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> t.Any:
        """Read ``--config`` files ourselves, so an unreadable one is one line naming it."""
        config: dict[str, t.Any] = {}
        for path in value:
            if path != "ENV":
                config |= read_json_object(path, "config")
        return config_input(config, parse_env="ENV" in value)

    @classmethod
    @override
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """``--test``: as the SDK's, but a stream that failed fails the test with its message."""
        if value != CliTestOptionValue.All.value:
            super().cb_test(ctx, param, value)
            return
        config = ctx.params.get("config") or config_input({}, parse_env=False)
        cls(config=config.config, parse_env_config=config.parse_env).test_connection()
        ctx.exit()

    def _refuse_unsafe_batching(self) -> None:
        """BATCH and published plans' tables: refuse the one mix whose STATE could outrun data.

        With `batch_config`, published_plans' records go out in BATCH files only at the end, while
        each table's STATE (which carries the shared state) goes out per version before them.
        """
        plans = self.streams.get("published_plans")
        if not (self.config.get("batch_config") and plans and plans.selected):
            return
        if any(child.selected for child in plans.child_streams):
            msg = (
                "`batch_config` with published_plans and its tables selected together is not "
                "supported (a STATE could reach the target before the BATCH it covers). Select "
                "published_plans alone, or its tables alone, or sync without `batch_config`."
            )
            raise AphexError(msg)


#: The SDK's documented convention for settings in the environment: TAP_APHEX_<SETTING>.
ENV_PREFIX = f"{TapAphex.name.upper().replace('-', '_')}_"


def read_json_object(source: str | t.IO[str], what: str) -> dict[str, t.Any]:
    """A config, state or catalog file's JSON object, or one line naming it and the problem."""
    name = source if isinstance(source, str) else getattr(source, "name", what)
    try:
        text = Path(source).read_text("utf-8") if isinstance(source, str) else source.read()
        value = json.loads(text)
    except json.JSONDecodeError as error:
        msg = f"The {what} file {name} is not JSON ({error.msg} at line {error.lineno})."
        raise ConfigError(msg) from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ConfigError(f"The {what} file {name} cannot be read: {reason}.") from None
    if not isinstance(value, dict):
        kind = type(value).__name__.replace("list", "a list").replace("str", "a string")
        raise ConfigError(f"The {what} file {name} must hold a JSON object {{...}}, not {kind}.")
    return value


def check_state_shape(state: object) -> None:
    """A state the SDK can load: an object whose `bookmarks`, if any, maps streams to objects."""
    if state is None:
        return
    bookmarks = state.get("bookmarks", {}) if isinstance(state, dict) else None
    if not isinstance(bookmarks, dict) or not all(isinstance(b, dict) for b in bookmarks.values()):
        msg = (
            'The state must be a JSON object like {"bookmarks": {"task_events": {...}}} (as this '
            "tap writes it); drop `--state`, or clear the state in Meltano, to start afresh."
        )
        raise ConfigError(msg)
