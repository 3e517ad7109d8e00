"""The task-event log: `task_events`, and `tasks` built from the same events in the same pass."""

from __future__ import annotations

import time
import typing as t
from functools import cached_property
from http import HTTPStatus

import msgspec
from singer_sdk.authenticators import APIKeyAuthenticator
from singer_sdk.streams.rest import HTTPRequest, PageContext
from typing_extensions import override

from tap_aphex import schemas, sdk_seam
from tap_aphex.client import AphexStream
from tap_aphex.cursor import (
    DeliveredEvents,
    EventCursorPaginator,
    Start,
    read_bookmark,
    resume_words,
    start_of_run,
)
from tap_aphex.errors import (
    STREAM_FAILURES,
    AuthenticationError,
    CursorRejectedError,
    UnexpectedResponseError,
)
from tap_aphex.event_reader_adapter import EventPage, EventReader
from tap_aphex.handoff import FedStream
from tap_aphex.run_report import StopReason

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import requests
    from singer_sdk import Tap
    from singer_sdk.batch import BaseBatchFileEncoding
    from singer_sdk.helpers._batch import BatchConfig
    from singer_sdk.helpers.types import Context, RequestFunc

    from tap_aphex.event_shape import Event
    from tap_aphex.run_report import RunReport

DAILY_QUOTA = 20_000  # "Organisations have a daily limit of 20,000 task events per day"

sdk_seam.skip_deselection_when_all_selected()


class ServiceUnavailable(Exception):
    """HTTP 503: the daily event quota is spent, or the service is briefly down."""

    def __init__(self, retry_after: float | None) -> None:
        super().__init__("HTTP 503 Service Unavailable")
        self.retry_after = retry_after  # seconds, when the server said


class TaskEventsStream(AphexStream):
    """Every task event, in the log's order; the state is the last event delivered."""

    name = "task_events"
    path = ""
    primary_keys: t.ClassVar[list[str]] = ["eventId"]
    replication_key = "eventId"
    is_sorted = True  # the API's order is the log's order
    check_sorted = False  # ids are random: the latest event, not the largest id, is the position
    schema = schemas.TASK_EVENT
    # STATE goes out after each page (see `_checkpoint`); one mid-page would run ahead of `tasks`.
    STATE_MSG_FREQUENCY = sdk_seam.NO_PERIODIC_STATE
    #: Waits before each retry of a 503 (about a minute; a 503 costs no quota): a passing outage
    #: looks the same as a spent quota, so it takes a few answers to believe the latter.
    SERVICE_UNAVAILABLE_WAITS: t.ClassVar[tuple[float, ...]] = (5.0, 10.0, 15.0, 30.0)
    MAX_RETRY_AFTER_ON_503 = 30.0  # seconds; a server asking for longer is not waited for that long

    def __init__(self, tap: Tap, *, report: RunReport) -> None:
        super().__init__(tap, report=report)
        self._reader = EventReader(self.logger)  # one per run: it warns once per field per run
        self._page: EventPage | None = None  # the page being delivered; the paginator reads it
        self._delivered = DeliveredEvents()
        self._start: Start | None = None
        self._cursor_sent: str | None = None  # the startAfter of the latest request
        self._events_read = 0
        self._last_checkpoint: str | None = None  # the last event both bookmarks point at

    @property
    @override
    def url_base(self) -> str:
        return str(self.config["api_url"])

    @cached_property
    @override
    def authenticator(self) -> APIKeyAuthenticator:
        return APIKeyAuthenticator(key="x-api-key", value=self.config["api_key"], location="header")

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
    def get_http_request(self, *, page: PageContext[t.Any]) -> HTTPRequest:
        request = super().get_http_request(page=page)
        self._cursor_sent = page.next_page_token
        if page.next_page_token:
            request.params["startAfter"] = page.next_page_token
        if self.config.get("page_size"):  # sent only when set: not every endpoint accepts it
            request.params["pageSize"] = self.config["page_size"]
        return request

    @override
    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """The SDK's retries, inside a patient retry of 503 (which the SDK would treat as any 5xx).

        By hand because the question differs: not "is this failure passing" but "is the quota
        spent", answered by a few 503s over about a minute; then `ServiceUnavailable` ends the run.
        """
        retried = super().request_decorator(func)

        def patient_with_503(request: requests.PreparedRequest, context: Context | None) -> t.Any:
            for wait in self.SERVICE_UNAVAILABLE_WAITS:
                try:
                    return retried(request, context)
                except ServiceUnavailable as unavailable:
                    if unavailable.retry_after is not None:
                        wait = min(unavailable.retry_after, self.MAX_RETRY_AFTER_ON_503)
                    self.logger.info(
                        "The Data API answered HTTP 503; asking again in %.0f s.", wait
                    )
                    time.sleep(wait)
            return retried(request, context)

        return patient_with_503

    @override
    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status == HTTPStatus.SERVICE_UNAVAILABLE:
            raise ServiceUnavailable(_retry_after_seconds(response))
        if status == HTTPStatus.UNAUTHORIZED:
            msg = (
                "The Data API refused the key (HTTP 401). Check the `api_key` setting: it must be "
                "your organisation's Data API key (Enterprise plan)."
            )
            raise AuthenticationError(msg)
        if status == HTTPStatus.BAD_REQUEST:
            raise CursorRejectedError(self._bad_request_message(response))
        super().validate_response(response)

    def _bad_request_message(self, response: requests.Response) -> str:
        page_size = self.config.get("page_size")
        query = f"startAfter={self._cursor_sent}" if self._cursor_sent else "no startAfter"
        said = _quoted_body(response)
        refused = (
            f"The Data API refused the query (HTTP 400, {said}): {query}"
            f"{f', pageSize={page_size}' if page_size else ''}."
        )
        if self._start is not None and self._start.origin == "state" and self._cursor_sent:
            return (
                f"{refused} The cursor is the last event in the state of task_events/tasks. To "
                "start again from `start_after` (or the first event), clear that state: "
                "`meltano state clear <state id>` (`meltano state list` shows it), or run "
                "tap-aphex without `--state`."
            )
        return f"{refused} Check `start_after` (an eventId you received) and `page_size`."

    @override
    def parse_response(self, response: requests.Response) -> Iterator[Event]:
        page = self._read_page(response)
        self._delivered.check_new_page(page, self._cursor_sent)
        self._page = page
        yield from page.events

    def _read_page(self, response: requests.Response) -> EventPage:
        if response.status_code == HTTPStatus.NO_CONTENT:
            return EventPage([], None)
        try:
            payload = msgspec.json.decode(response.content)
        except msgspec.DecodeError as error:
            kind = response.headers.get("Content-Type", "no content type")
            msg = (
                f"The Data API answered HTTP {response.status_code} with a body that is not JSON "
                f"({kind}, {len(response.content)} bytes); nothing from it was used"
            )
            raise UnexpectedResponseError(msg) from error
        return self._reader.page(payload, start_after=self._cursor_sent)

    @override
    def post_process(self, row: Event, context: Context | None = None) -> dict[str, t.Any]:
        return self._reader.event_record(row)

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
        read = f"{self._events_read} events read in this run"
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
        self._last_checkpoint = events[-1]["eventId"]
        self.logger.info(
            "task_events: %s events read in this run (%.0f%% of the %s-a-day quota), last "
            "eventId %s",
            f"{self._events_read:,}",
            100 * self._events_read / DAILY_QUOTA,
            f"{DAILY_QUOTA:,}",
            self._last_checkpoint,
        )
        if self._batching:
            # task_events' records only count as delivered once its BATCH is out: see get_batches.
            self._awaiting_batch += events
            return
        self._hand_to_tasks(events)
        # The SDK's own checkpoint only comes every 10,000 records; a killed run must lose no page.
        sdk_seam.write_state(self)

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


def _retry_after_seconds(response: requests.Response) -> float | None:
    """``Retry-After`` in seconds, when it is a number (an HTTP date: the default wait is used)."""
    header = response.headers.get("Retry-After")
    try:
        return max(0.0, float(header)) if header is not None else None
    except ValueError:
        return None


def _quoted_body(response: requests.Response) -> str:
    """Stand-in for the runtime helper's `client.quoted_body` until it lands: DROP AT MERGE."""
    text = " ".join(response.text.split())[:200]
    return f'the server said "{text}"' if text else "with an empty body"


class TasksStream(FedStream):
    """The current copy of each task: its newest change in each page, deletions included."""

    name = "tasks"
    parent_stream_type = TaskEventsStream
    primary_keys: t.ClassVar[list[str]] = ["id"]
    replication_key = "eventId"
    is_sorted = True
    check_sorted = False
    schema = schemas.TASK
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
