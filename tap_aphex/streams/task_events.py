"""The Data API: `task_events`, every event of the log, and `tasks` and `task_statuses`, fed by it
a page at a time; then one STATE goes out for all, every bookmark the last event delivered."""

from __future__ import annotations

import typing as t
from http import HTTPStatus

from singer_sdk.authenticators import APIKeyAuthenticator
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_aphex import report, schemas, sdk_seam
from tap_aphex.client import AphexStream
from tap_aphex.decoding import readable
from tap_aphex.reader import Reader, Row
from tap_aphex.report import STREAM_FAILURES, AphexError, ServiceUnavailableError, StopReason
from tap_aphex.streams import FedStream, event_log, log_position

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import requests
    from singer_sdk import Tap
    from singer_sdk.batch import BaseBatchFileEncoding
    from singer_sdk.helpers.types import Context

    from tap_aphex.report import RunReport
    from tap_aphex.sdk_seam import BatchConfig


class TaskEventsStream(AphexStream):
    """Every task event, in the log's order; the state is the last event delivered."""

    name = "task_events"
    path = ""
    next_page_token_jsonpath = "$.nextStartAfter"
    primary_keys: t.ClassVar[list[str]] = ["eventId"]
    replication_key = "eventId"
    is_sorted = True  # the API's order is the log's order
    check_sorted = False  # ids are random: the latest event, not the largest id, is the position
    schema = schemas.TASK_EVENT
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE  # the reader types every value once
    STATE_MSG_FREQUENCY = 10**12  # not the SDK's every 10,000 records: once a page, with `tasks`
    # A 503 is most likely the daily quota: a few answers over about a minute tell it from an
    # outage (a 503 costs no quota); then the run stops there, to resume tomorrow.
    SERVICE_UNAVAILABLE_WAITS: t.ClassVar[tuple[float, ...]] = (5.0, 10.0, 15.0, 30.0)

    def __init__(self, tap: Tap, *, report: RunReport) -> None:
        super().__init__(tap, report=report)
        self.reader = Reader(self.logger)  # one per run: it warns once per field per run
        self._start = log_position.Start()
        self._cursor_sent: str | None = None  # the latest request's, for messages
        self._page_size_sent: int | None = None
        self._delivered = log_position.RecentIds()
        self._pending: list[Row] = []  # events delivered since the last checkpoint
        self.events_read = 0  # in this run, whatever the stream maps let through
        self._last_checkpoint: str | None = None  # the last event both bookmarks point at
        self._awaiting_batch: list[Row] = []  # events whose BATCH is not out yet: get_batches
        self._handed_to: str | None = None  # in BATCH mode: the last event `tasks` was handed

    @property
    @override
    def url_base(self) -> str:
        return str(self.config["api_url"])

    @property
    @override
    def authenticator(self) -> APIKeyAuthenticator:
        return APIKeyAuthenticator(key="x-api-key", value=self.config["api_key"], location="header")

    @override
    def get_new_paginator(self) -> event_log.EventLogPaginator:
        bookmarks = log_position.bookmarks_of(self)
        self._start = log_position.start_of_run(bookmarks, self.config.get("start_after"))
        self._handed_to = self._start.cursor
        if self._start.cursor:  # delivered before: a server that serves it again (inclusive)
            self._delivered.add(self._start.cursor)
        if self._start.warning:
            self.logger.warning("%s", self._start.warning)
        self.logger.info("Reading the task-event log %s.", self._start.describe())
        return event_log.EventLogPaginator(
            str(self.next_page_token_jsonpath), self._start.cursor, self.logger
        )

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        # No more than the run may still deliver (`max_events_per_run`, the SDK's dry-run
        # limit): the API counts every event it serves against the quota.
        page_size: int | None = self.config.get("page_size")
        limits = (self.config.get("max_events_per_run"), self.ABORT_AT_RECORD_COUNT)
        left = [limit - self.events_read for limit in limits if limit]
        self._page_size_sent = min(page_size, *left) if page_size and left else page_size
        self._cursor_sent = next_page_token
        # Each is sent only when set: not every endpoint accepts pageSize.
        params = {"startAfter": next_page_token, "pageSize": self._page_size_sent}
        return {name: value for name, value in params.items() if value}

    @override
    def credential_setting(self, response: requests.Response) -> str:
        return self.setting_named("api_key")

    @override
    def refuse(self, response: requests.Response) -> None:
        key = self.credential_setting(response)
        if response.status_code == HTTPStatus.UNAUTHORIZED:
            raise report.AuthenticationError(
                f"The Data API refused the key (HTTP 401). Check {key}: it must be your "
                "organisation's Data API key (Enterprise plan)."
            )
        if response.status_code == HTTPStatus.FORBIDDEN:  # the vendor's "not a GET"; a key too
            raise AphexError(
                f"{self.response_error_message(response)} The Data API refuses this key or this "
                f"request: check that the key ({key}) belongs to an organisation on the Enterprise "
                "plan, and that nothing between us and the API (a proxy) changes the GET request."
            )
        if response.status_code == HTTPStatus.BAD_REQUEST:
            sent = (self._cursor_sent, self._start, self._page_size_sent)
            raise log_position.refused_query(response, *sent)
        if response.status_code == HTTPStatus.SERVICE_UNAVAILABLE:  # the daily quota, likely
            raise ServiceUnavailableError(self.response_error_message(response), response)
        super().refuse(response)

    @override
    def first_error(self, context: Context | None) -> Exception | None:
        error = super().first_error(context)
        if isinstance(error, ServiceUnavailableError) and self.cut_short:  # no retry to persist
            why = "most likely the daily limit (or an outage): check again later, tomorrow if so"
            return AphexError(f"{self.cut_short}: not asked again. A 503 is {why}.")
        return error

    @override
    def long_url_advice(self) -> str:
        cursor = self._cursor_sent
        if not cursor:
            return super().long_url_advice()
        if cursor != self._start.cursor:
            source, check = "the previous page's nextStartAfter", "Tell Aphex (hello@aphex.co)."
        else:
            source = self._start.source
            check = f"Check {source}: it must be an eventId exactly as you received it."
        size = f"{len(cursor):,} characters"
        return f"The cursor in it (startAfter), from {source}, is {size}. {check}"

    @override
    def not_found_advice(self, answered_before: bool) -> str:
        if answered_before:
            return log_position.not_found_again(self._cursor_sent, self._last_checkpoint)
        return log_position.not_found(self._start)

    @override
    def parse_response(self, response: requests.Response) -> Iterator[Row]:
        """The page's new events; after the last one is written, the page's checkpoint."""
        if response.status_code == HTTPStatus.NO_CONTENT:
            return
        payload = event_log.decoded_json(response)
        events = event_log.read_page(payload, self.reader, start_after=self._cursor_sent)
        # The paginator needs only the cursor and whether the page was empty: the rest goes now.
        data = t.cast("dict[str, list[object]]", payload)["data"]
        del data[1:]
        new = self._delivered.first_deliveries(events, self.reader, self._cursor_sent)
        if not new:
            data.clear()  # only events delivered already: to the paginator, an empty page
        yield from new
        self.checkpoint()

    @override
    def generate_child_contexts(self, record: Row, context: Context | None) -> Iterable[Context]:
        return ()  # `tasks` gets the events a page at a time (see `checkpoint`)

    @override
    def get_records(self, context: Context | None) -> Iterator[Row]:
        """The log's events, a checkpoint after each page. However the reading ends, what was
        read lands (after an error other than a stream failure, by `TapAphex.run`), unless the
        run is interrupted. The SDK's dry run (`--test`) aborts the sync after its limit: ending
        first hands `tasks` the events read."""
        limit = self.config.get("max_events_per_run")
        dry_run_limit = self.ABORT_AT_RECORD_COUNT
        try:
            for event in self.request_records(context):
                yield event  # resumed: the SDK has written it and moved the bookmark onto it
                self._pending.append(event)
                self.events_read += 1
                if limit and self.events_read >= limit:
                    self._stopped(StopReason.MAX_EVENTS)
                    break
                if dry_run_limit is not None and self.events_read >= dry_run_limit:
                    break
            else:
                self._stopped(StopReason.END_OF_LOG)
        except ServiceUnavailableError:
            if self.cut_short:  # the budget, not the 503 schedule, ended the tries
                self.logger.warning("task_events: %s: not asked again.", self.cut_short)
            self._stopped(StopReason.DAILY_LIMIT)
        except STREAM_FAILURES as error:
            self.report.failed(
                f"task events (after {self.events_read} read in this run)", error, self.logger
            )
            # A cursor the API refused is no place to resume from: the line says to clear the state.
            resumes = not isinstance(error, log_position.StateCursorRejectedError)
            self._stopped(StopReason.FAILURE, resumes=resumes)
        self.checkpoint()

    def _stopped(self, reason: StopReason, *, resumes: bool = True) -> None:
        last = self._pending[-1]["eventId"] if self._pending else self._last_checkpoint
        resume_at = log_position.resume_words(last, self._start) if resumes else None
        for stream in (self, *self.child_streams):  # `tasks` stops where task_events does
            if stream.selected:
                self.report.stopped(stream.name, reason, resume_at)
        # A dry run (`--test`) is no run to resume: its line says nothing of a next one.
        testing = self.ABORT_AT_RECORD_COUNT is not None
        said = log_position.stop_words(
            reason, self.events_read, None if testing else resume_at, self.unavailable_waited
        )
        if said:
            self.logger.log(*said)

    def checkpoint(self) -> None:
        """Hand the events so far to `tasks`, then emit STATE: a killed run loses no page."""
        events, self._pending = self._pending, []
        if not events:
            return
        last = events[-1]["eventId"]
        read = log_position.progress_words(self.events_read)
        self.logger.info("task_events: %s, last eventId %s", read, readable(last))
        if self.selected and self.get_batch_config(self.config) is not None:
            self._awaiting_batch += events
        else:
            self._hand_to_tasks(events)
            sdk_seam.write_state(self)
        self._last_checkpoint = last

    def _hand_to_tasks(self, events: list[Row]) -> None:
        fed = [c for c in self.child_streams if isinstance(c, PageFedStream) and c.selected]
        tasks = event_log.newest_change_per_task(events, self.reader) if fed else []
        for child in fed:
            child.feed(child.records_of(tasks))
            # The page's last event, not the last record's: that event may change no task.
            sdk_seam.set_bookmark(child, events[-1]["eventId"])

    @override
    def get_batches(
        self, batch_config: BatchConfig, context: Context | None = None
    ) -> Iterator[tuple[BaseBatchFileEncoding, list[str]]]:
        """Before each BATCH (then STATE), `tasks` gets the pages read in full so far and
        task_events' bookmark goes back to their last event: a batch may end mid-page, and two
        bookmarks that differ would make the next run read the log from its first event. Events
        past it go again next run (an upsert on `eventId` absorbs them)."""
        for batch in super().get_batches(batch_config, context):
            self._hand_over_read_pages()
            yield batch
        self._hand_over_read_pages()  # read after the last batch (a batch that ended a page)

    def _hand_over_read_pages(self) -> None:
        handed, self._awaiting_batch = self._awaiting_batch, []
        if handed:
            self._hand_to_tasks(handed)
            self._handed_to = handed[-1]["eventId"]
        sdk_seam.set_bookmark(self, self._handed_to)  # None: no page in full yet, none moves


class PageFedStream(FedStream, sdk_seam.StateWrittenByParent):
    """A stream `task_events` feeds once per page, its bookmark the page's last event."""

    parent_stream_type = TaskEventsStream
    replication_key = "eventId"
    is_sorted = True
    check_sorted = False
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE  # as for task_events

    def records_of(self, tasks: list[Row]) -> Iterable[Row]:
        return tasks  # the page's newest copy of each task it changed


class TasksStream(PageFedStream):
    """The current copy of each task: its newest change in each page, deletions included."""

    name = "tasks"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema = schemas.TASK


class TaskStatusesStream(PageFedStream):
    """Every status of the newest copy of each task, flat. A deleted task's, or one a later copy
    no longer carries, is not sent again: its older `eventId` tells it is gone (docs/data.md)."""

    name = "task_statuses"
    primary_keys: t.ClassVar[list[str]] = ["taskId", "statusKey"]
    schema = schemas.TASK_STATUS

    @override
    def records_of(self, tasks: list[Row]) -> Iterable[Row]:
        for task in tasks:
            yield from event_log.status_records(task)
