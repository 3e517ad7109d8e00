"""The task-event log: `task_events`, and `tasks` built from the same events in the same pass."""

from __future__ import annotations

import typing as t
from functools import cached_property
from http import HTTPStatus

from singer_sdk.authenticators import APIKeyAuthenticator
from singer_sdk.streams.rest import HTTPRequest, PageContext

from tap_aphex import schemas
from tap_aphex.client import AphexStream
from tap_aphex.cursor import EventCursorPaginator, read_page, resume_cursor
from tap_aphex.errors import STREAM_FAILURES, AuthenticationError, CursorRejectedError
from tap_aphex.event_shape import Event, event_record, task_record
from tap_aphex.handoff import FedStream

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import requests
    from singer_sdk.batch import BaseBatchFileEncoding
    from singer_sdk.helpers._batch import BatchConfig
    from singer_sdk.helpers.types import Context


class DailyQuotaReached(Exception):
    """HTTP 503: the organisation's daily event quota is spent. Not an error: resume tomorrow."""


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
    STATE_MSG_FREQUENCY = 10**12
    _cursor_sent: str | None = None  # the startAfter of the latest request, for error messages
    forbidden_advice = (  # the vendor's 403: "not a GET"; in practice, also a key without the plan
        "The Data API refuses this key or this request: check that the key belongs to an "
        "organisation on the Enterprise plan, and that nothing between us and the API (a proxy) "
        "changes the GET request."
    )
    not_found_advice = "Check `api_url`: copy it again from the Data API's documentation."

    @property
    def url_base(self) -> str:
        return str(self.config["api_url"])

    @cached_property
    def authenticator(self) -> APIKeyAuthenticator:
        return APIKeyAuthenticator(key="x-api-key", value=self.config["api_key"], location="header")

    def get_new_paginator(self) -> EventCursorPaginator:
        fed = [stream for stream in (self, *self.child_streams) if stream.selected]
        start = resume_cursor(fed, self.config.get("start_after"))
        self.logger.info("Reading the task-event log after %s", start or "the first event")
        return EventCursorPaginator(start)

    def get_http_request(self, *, page: PageContext[t.Any]) -> HTTPRequest:
        request = super().get_http_request(page=page)
        self._cursor_sent = page.next_page_token
        if page.next_page_token:
            request.params["startAfter"] = page.next_page_token
        if self.config.get("page_size"):  # sent only when set: not every endpoint accepts it
            request.params["pageSize"] = self.config["page_size"]
        return request

    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status == HTTPStatus.SERVICE_UNAVAILABLE:
            raise DailyQuotaReached
        if status == HTTPStatus.UNAUTHORIZED:
            msg = (
                "The Data API refused the key (HTTP 401). Check the `api_key` setting: it must be "
                "your organisation's Data API key (Enterprise plan)."
            )
            raise AuthenticationError(msg)
        if status == HTTPStatus.BAD_REQUEST:
            page_size = self.config.get("page_size")
            msg = (
                f"The Data API refused the query (HTTP 400): startAfter={self._cursor_sent}"
                f"{f', pageSize={page_size}' if page_size else ''}. The cursor is the last event "
                "in the state of task_events/tasks, or `start_after` when there is no state: "
                "clear that state, or set `start_after` to an eventId you received, to restart."
            )
            raise CursorRejectedError(msg)
        super().validate_response(response)

    def parse_response(self, response: requests.Response) -> Iterator[Event]:
        page = read_page(response)
        self._last_event_of_page = page.events[-1]["eventId"] if page.events else None
        yield from page.events

    def post_process(self, row: Event, context: Context | None = None) -> dict[str, t.Any]:
        return event_record(row)

    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> Iterable[Context]:
        # `tasks` gets the events a page at a time (see `_checkpoint`), not one sync per event.
        return ()

    def get_records(self, context: Context | None) -> Iterator[Event]:
        limit = self.config.get("max_events_per_run")
        page: list[Event] = []
        delivered = 0
        try:
            for event in self.request_records(context):
                yield event
                # Resumed: the SDK has written this event and moved the bookmark onto it.
                delivered += 1
                page.append(event)
                if event["eventId"] == self._last_event_of_page:
                    self._checkpoint(page)
                    page = []
                if limit and delivered >= limit:
                    self.logger.info(
                        "Stopping after %d events (`max_events_per_run`); the next run resumes "
                        "after event %s.",
                        delivered,
                        event["eventId"],
                    )
                    return
        except DailyQuotaReached:
            self.logger.warning(
                "The Data API's daily event limit is reached (HTTP 503) after %d events in this "
                "run. The state holds the last event delivered; the next run resumes after it.",
                delivered,
            )
        except STREAM_FAILURES as error:
            self.report_failure(f"task events (after {delivered} delivered in this run)", error)
        finally:
            self._checkpoint(page)

    def _checkpoint(self, page: list[Event]) -> None:
        """Hand the page's events to `tasks`, then emit STATE, so both bookmarks move together."""
        if self._batching:
            # task_events' records only count as delivered once its BATCH is out: see get_batches.
            self._awaiting_batch += page
            return
        self._hand_to_tasks(page)
        # The SDK's own checkpoint only comes every 10,000 records; a killed run must lose no page.
        self._write_state_message()

    def _hand_to_tasks(self, events: list[Event]) -> None:
        for child in self.child_streams:
            if isinstance(child, TasksStream) and child.selected and events:
                child.apply(events)

    @property
    def _batching(self) -> bool:
        return self.selected and self.get_batch_config(self.config) is not None

    def get_batches(
        self, batch_config: BatchConfig, context: Context | None = None
    ) -> Iterator[tuple[BaseBatchFileEncoding, list[str]]]:
        """The SDK's batches; after each (its BATCH and STATE are out), the same events' tasks."""
        self._awaiting_batch: list[Event] = []
        for batch in super().get_batches(batch_config, context):
            delivered, self._awaiting_batch = self._awaiting_batch, []
            yield batch
            self._hand_to_tasks(delivered)


class TasksStream(FedStream):
    """The current copy of each task: one record per event that changed it, deletions included."""

    name = "tasks"
    parent_stream_type = TaskEventsStream
    primary_keys: t.ClassVar[list[str]] = ["id"]
    replication_key = "eventId"
    is_sorted = True
    check_sorted = False
    schema = schemas.TASK
    STATE_MSG_FREQUENCY = 10**12  # as for task_events: STATE only once a page is applied

    def apply(self, events: t.Sequence[Event]) -> None:
        """Emit the records these events produce (called by `task_events` once per page)."""
        if self.feed(events):
            # An event that changes no task still moves the position, so the bookmarks agree.
            self.stream_state["replication_key"] = self.replication_key
            self.stream_state["replication_key_value"] = events[-1]["eventId"]

    def get_records(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        for event in self._fed:
            record = task_record(event)
            if record is None:
                self.logger.warning(
                    "Event %s has type %r, which says nothing documented about the task; it is in "
                    "task_events but changes no task.",
                    event["eventId"],
                    event["type"],
                )
                continue
            yield record
