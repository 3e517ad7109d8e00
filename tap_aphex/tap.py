"""TapAphex: the settings, the checks on them, and the streams they enable."""

from __future__ import annotations

import typing as t

from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError

from tap_aphex.events import TaskEventsStream, TasksStream
from tap_aphex.plans import (
    PublishedPlansStream,
    PublishedPlanStatusesStream,
    PublishedPlanTasksStream,
)
from tap_aphex.settings import CONFIG_SCHEMA, config_problems

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream


class TapAphex(Tap):
    """Singer tap for Aphex Planner's Data API and Published Plans API."""

    name = "tap-aphex"
    config_jsonschema = CONFIG_SCHEMA

    def __init__(self, *args: t.Any, validate_config: bool = True, **kwargs: t.Any) -> None:
        super().__init__(*args, validate_config=validate_config, **kwargs)
        if validate_config and (problems := config_problems(self.config)):
            raise ConfigValidationError("Config validation failed", errors=problems)

    def discover_streams(self) -> list[Stream]:
        streams: list[Stream] = []
        if self.config.get("api_key"):
            streams += [TaskEventsStream(self), TasksStream(self)]
        else:
            self.logger.info("No `api_key` set: skipping the task_events and tasks streams.")
        if self.config.get("projects"):
            streams += [
                PublishedPlansStream(self),
                PublishedPlanTasksStream(self),
                PublishedPlanStatusesStream(self),
            ]
        else:
            self.logger.info("No `projects` set: skipping the published-plans streams.")
        return streams

    @property
    def streams(self) -> dict[str, Stream]:
        # Published plans sync last: a project that failed fails the run only after all else landed.
        streams = super().streams
        return dict(sorted(streams.items(), key=lambda item: item[0].startswith("published")))
