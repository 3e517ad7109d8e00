"""The task-event log: `task_events`, and `tasks` built from the same events in the same pass."""

from __future__ import annotations

import typing as t
from functools import cached_property

from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_aphex import schemas, sdk_seam
from tap_aphex.cursor import (
    DeliveredEvents,
    EventCursorPaginator,
    read_bookmark,
    resume_words,
    start_of_run,
)
from tap_aphex.errors import STREAM_FAILURES
from tap_aphex.event_requests import DAILY_QUOTA, DataApiStream, ServiceUnavailable
from tap_aphex.event_shape import EventPage, EventReader
from tap_aphex.handoff import FedStream
from tap_aphex.run_report import StopReason

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import requests
    from singer_sdk import Tap
    from singer_sdk.batch import BaseBatchFileEncoding
    from singer_sdk.helpers.types import Context

    from tap_aphex.event_fields import Event
    from tap_aphex.run_report import RunReport
    from tap_aphex.sdk_seam import BatchConfig

# Same output with less work per record when no property is deselected (see the seam).
sdk_seam.skip_deselection_when_all_selected()


class TaskEventsStream(DataApiStream):
    """Every task event, in the log's order; the state is the last event delivered."""

    name = "task_events"
    path = ""
    primary_keys: t.ClassVar[list[str]] = ["eventId"]
    replication_key = "eventId"
    is_sorted = True  # the API's order is the log's order
    check_sorted = False  # ids are random: the latest event, not the largest id, is the position
    schema = schemas.TASK_EVENT
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE  # event_shape's EventReader types values
    # STATE goes out after each page (see `_checkpoint`); one mid-page would run ahead of `tasks`.
    STATE_MSG_FREQUENCY = sdk_seam.NO_PERIODIC_STATE

    def __init__(self, tap: Tap, *, report: RunReport) -> None:
        super().__init__(tap, report=report)
        self._reader = EventReader(self.logger)  # one per run: it warns once per field per run
        self._page: EventPage | None = None  # the page being delivered; the paginator reads it
        self._delivered = DeliveredEvents()
        self._events_read = 0
        self._last_checkpoint: str | None = None  # the last event both bookmarks point at

    @override
    def get_new_paginator(self) -> EventCursorPaginator:
        fed = [stream for stream in (self, *self.child_streams) if stream.selected]
        bookmarks = [
            read_bookmark(stream.name, stream.stream_state, self.replication_key) for stream in fed
        ]
        self._start = start_of_run(bookmarks, self.config.get("start_after"))
        if self._start.warning:
            self.logger.warning("%s", self._start.warning)
        self.logger.info("Reading the task-event log %s.", self._start.describe())
        return EventCursorPaginator(self._start.cursor, lambda: self._page)

    @override
    def page_size_to_ask(self) -> int | None:
        """No more than the run may still deliver: the API counts every event it serves.

        Only where `page_size` is set, so the endpoint is known to accept `pageSize`.
        """
        page_size = super().page_size_to_ask()
        limits = (self.config.get("max_events_per_run"), self.ABORT_AT_RECORD_COUNT)
        left = [limit - self._events_read for limit in limits if limit]
        return min(page_size, *left) if page_size and left else page_size

    @override
    def parse_response(self, response: requests.Response) -> Iterator[Event]:
        self._page = None  # the paginator is done with the last page: free it before decoding
        page = self._read_page(response)
        self._delivered.check_new_page(page, self._cursor_sent)
        self._page = page
        yield from page.events

    @override
    def post_process(self, row: Event, context: Context | None = None) -> dict[str, t.Any]:
        if self._record_left_as_is:
            return row
        return self._reader.event_record(row)  # a copy: `tasks` still reads the event

    @cached_property
    def _record_left_as_is(self) -> bool:
        """True when nothing changes a record in place, so the event itself can be the record.

        With every property selected the SDK removes nothing (see the seam); a user's
        `stream_maps` expression, though, is handed the record itself and may change it.
        """
        return sdk_seam.every_property_selected(self.mask) and not self.config.get("stream_maps")

    @override
    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> Iterable[Context]:
        # `tasks` gets the events a page at a time (see `_checkpoint`), not one sync per event.
        return ()

    @override
    def get_records(self, context: Context | None) -> Iterator[Event]:
        """The log's events; a checkpoint (tasks, then STATE) after each page, never within one.

        Once an interrupt, a SystemExit or a closed stdout is on its way (or the SDK closes this
        generator), nothing more goes out: the last STATE stays the last full checkpoint.
        """
        limit = self.config.get("max_events_per_run")
        # The SDK's dry run (`--test`, its standard tests) aborts the sync after this many
        # records: ending first, like `max_events_per_run`, hands the events read to `tasks`.
        dry_run_limit = self.ABORT_AT_RECORD_COUNT
        pending: list[Event] = []  # the current page's events delivered but not yet checkpointed
        wind_down = False  # True: the run goes on or ends cleanly, so `pending` is checkpointed
        try:
            for event in self.request_records(context):
                yield event  # resumed: the SDK has written it and moved the bookmark onto it
                pending.append(event)
                self._events_read += 1
                if self._page is not None and len(pending) == len(self._page.events):
                    self._checkpoint(pending)
                    pending = []
                if limit and self._events_read >= limit:
                    self._stopped(StopReason.MAX_EVENTS, pending)
                    wind_down = True
                    return
                if dry_run_limit is not None and self._events_read >= dry_run_limit:
                    wind_down = True  # `tasks` gets what was read, as in a real run
                    return
            self._stopped(StopReason.END_OF_LOG, pending)
            wind_down = True
        except ServiceUnavailable:
            self._stopped(StopReason.DAILY_LIMIT, pending)
            wind_down = True
        except STREAM_FAILURES as error:
            wind_down = True
            self.report_failure(f"task events (after {self._events_read} read in this run)", error)
            self._stopped(StopReason.FAILURE, pending)
        except (BrokenPipeError, GeneratorExit):
            raise  # stdout is gone, or the SDK dropped this generator: nothing more goes out
        except Exception:
            wind_down = True  # a bug of ours: what was read still lands, then the run fails
            raise
        except BaseException:  # an interrupt or SystemExit
            self.report.stopped(self.name, StopReason.INTERRUPTED, self._resume_at([]))
            raise
        finally:
            if wind_down:
                self._checkpoint(pending)

    def _stopped(self, reason: StopReason, pending: list[Event]) -> None:
        resume_at = self._resume_at(pending)
        for stream in (self, *self.child_streams):  # `tasks` stops where task_events does
            if stream.selected:
                self.report.stopped(stream.name, reason, resume_at)
        read = (
            f"{self._events_read:,} event{'' if self._events_read == 1 else 's'} read in this run"
        )
        if reason is StopReason.DAILY_LIMIT:
            self.logger.warning(
                "The Data API's daily event limit is reached (HTTP 503 after %d tries over about "
                "%.0f s) after %s; the next run resumes %s.",
                len(self.SERVICE_UNAVAILABLE_WAITS) + 1,
                sum(self.SERVICE_UNAVAILABLE_WAITS),
                read,
                resume_at,
            )
        elif reason is StopReason.MAX_EVENTS:
            self.logger.info(
                "Stopping after %s (`max_events_per_run`); the next run resumes %s.",
                read,
                resume_at,
            )
        elif reason is StopReason.END_OF_LOG:
            self.logger.info(
                "Reached the end of the log: %s; the next run resumes %s.", read, resume_at
            )

    def _resume_at(self, pending: list[Event]) -> str:
        last = pending[-1]["eventId"] if pending else self._last_checkpoint
        return resume_words(last, self._start)

    def _checkpoint(self, events: list[Event]) -> None:
        """Hand the page's events to `tasks`, then emit STATE, so both bookmarks move together."""
        if not events:
            return
        last = events[-1]["eventId"]
        self.logger.info(
            "task_events: %s read in this run (%.0f%% of the %s-a-day quota), last eventId %s",
            f"{self._events_read:,} event{'' if self._events_read == 1 else 's'}",
            100 * self._events_read / DAILY_QUOTA,
            f"{DAILY_QUOTA:,}",
            last,
        )
        if self._batching:
            # task_events' records only count as delivered once its BATCH is out: see get_batches.
            self._awaiting_batch += events
        else:
            self._hand_to_tasks(events)
            # The SDK's own STATE comes every 10,000 records; a killed run must lose no page.
            sdk_seam.write_state(self)
        self._last_checkpoint = last

    def _hand_to_tasks(self, events: list[Event]) -> None:
        for child in self.child_streams:
            if isinstance(child, TasksStream) and child.selected and events:
                child.apply(newest_change_per_task(events, self._reader), events[-1]["eventId"])

    @property
    def _batching(self) -> bool:
        return self.selected and self.get_batch_config(self.config) is not None

    @override
    def get_batches(
        self, batch_config: BatchConfig, context: Context | None = None
    ) -> Iterator[tuple[BaseBatchFileEncoding, list[str]]]:
        """The SDK's batches; after each (its BATCH and STATE are out), the same events' tasks."""
        self._awaiting_batch: list[Event] = []
        for batch in super().get_batches(batch_config, context):
            delivered, self._awaiting_batch = self._awaiting_batch, []
            yield batch
            self._hand_to_tasks(delivered)


def newest_change_per_task(
    events: t.Iterable[Event], reader: EventReader
) -> list[dict[str, t.Any]]:
    """The `tasks` records of a page: each task's newest change only, in the order of those.

    `tasks` is the current copy of each task, so a task created, updated and deleted within one
    page is one deletion record: a target that upserts on `id` ends the same, with fewer rows.
    Each record still names the event that produced it.
    """
    newest: dict[str, dict[str, t.Any]] = {}
    for event in events:
        record = reader.task_record(event)
        if record is not None:
            newest.pop(record["id"], None)  # re-inserted last: the order of the newest changes
            newest[record["id"]] = record
    return list(newest.values())


class TasksStream(FedStream):
    """The current copy of each task: its newest change in each page, deletions included."""

    name = "tasks"
    parent_stream_type = TaskEventsStream
    primary_keys: t.ClassVar[list[str]] = ["id"]
    replication_key = "eventId"
    is_sorted = True
    check_sorted = False
    schema = schemas.TASK
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE  # as for task_events
    STATE_MSG_FREQUENCY = sdk_seam.NO_PERIODIC_STATE  # as for task_events: STATE once per page
    _page_end: str | None = None

    def apply(self, records: list[dict[str, t.Any]], page_end: str) -> None:
        """Emit one page's records (called by `task_events` once per page).

        The bookmark is the page's last event, which may change no task, or come before
        records sent in the order of the newest changes; so both bookmarks always agree.
        """
        self._page_end = page_end
        try:
            self.feed(records)
        finally:
            self._page_end = None

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        yield from super().get_records(context)
        if self._page_end is not None:  # before the SDK writes this sync's STATE
            sdk_seam.set_bookmark(self, self._page_end)
