"""TapAphex: the settings, the checks on them, and the streams they enable."""

from __future__ import annotations

import typing as t

from singer_sdk import Tap
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import ConfigValidationError

from tap_aphex.errors import AphexError, RunFailedError
from tap_aphex.events import TaskEventsStream, TasksStream
from tap_aphex.plans import (
    PublishedPlansStream,
    PublishedPlanStatusesStream,
    PublishedPlanTasksStream,
)
from tap_aphex.run_report import RunReport
from tap_aphex.settings import CONFIG_SCHEMA, config_problems, without_value

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream


class TapAphex(Tap):
    """Singer tap for Aphex Planner's Data API and Published Plans API."""

    name = "tap-aphex"
    config_jsonschema = CONFIG_SCHEMA
    message_writer_class = MsgSpecWriter

    def __init__(self, *args: t.Any, validate_config: bool = True, **kwargs: t.Any) -> None:
        self.report = RunReport()  # what this run did, told by its streams (see `sync_all`)
        try:
            super().__init__(*args, validate_config=validate_config, **kwargs)
        except ConfigValidationError as error:
            # JSON Schema's messages quote the offending value, which may be a key or a token.
            redacted = [without_value(message) for message in error.errors]
            raise ConfigValidationError(str(error), errors=redacted, schema=error.schema) from None
        if validate_config and (problems := config_problems(self.config)):
            raise ConfigValidationError("Config validation failed", errors=problems)

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
        return streams

    def sync_all(self) -> None:  # type: ignore[misc]  # final in the SDK, which has no later hook
        """Sync every stream; then, if a stream or a project failed, fail the run with a summary.

        A failure ends only its own stream or project, so everything else lands first.
        """
        self.report.clear()
        self._refuse_unsafe_batching()
        super().sync_all()
        if self.report.failures:
            raise RunFailedError(self.report.failures)

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
