"""How `task_events` talks to the Data API: the request, 503 patience, refusals, page decoding."""

from __future__ import annotations

import time
import typing as t
from functools import cached_property
from http import HTTPStatus

import msgspec
from singer_sdk.authenticators import APIKeyAuthenticator
from singer_sdk.streams.rest import HTTPRequest, PageContext
from typing_extensions import override

from tap_aphex.client import AphexStream, quoted_body, retry_after_seconds
from tap_aphex.errors import AuthenticationError, CursorRejectedError, UnexpectedResponseError
from tap_aphex.event_shape import EventPage, EventReader

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context, RequestFunc

    from tap_aphex.cursor import Start

DAILY_QUOTA = 20_000  # "Organisations have a daily limit of 20,000 task events per day"


class ServiceUnavailable(Exception):
    """HTTP 503: the daily event quota is spent, or the service is briefly down."""

    def __init__(self, retry_after: float | None) -> None:
        super().__init__("HTTP 503 Service Unavailable")
        self.retry_after = retry_after  # seconds, when the server said


class DataApiStream(AphexStream):
    """The Data API side of `task_events`; the log's rules are in `events.TaskEventsStream`."""

    #: Waits before each retry of a 503 (about a minute; a 503 costs no quota): a passing outage
    #: looks the same as a spent quota, so it takes a few answers to believe the latter.
    SERVICE_UNAVAILABLE_WAITS: t.ClassVar[tuple[float, ...]] = (5.0, 10.0, 15.0, 30.0)
    MAX_RETRY_AFTER_ON_503 = 30.0  # seconds; a server asking for longer is not waited for that long

    forbidden_advice = (  # the vendor's 403: "not a GET"; in practice, also a key without the plan
        "The Data API refuses this key or this request: check that the key belongs to an "
        "organisation on the Enterprise plan, and that nothing between us and the API (a proxy) "
        "changes the GET request."
    )
    not_found_advice = "Check `api_url`: copy it again from the Data API's documentation."

    _reader: EventReader
    _start: Start | None = None  # where this run started reading, and from which setting
    _cursor_sent: str | None = None  # the startAfter of the latest request, for messages
    _page_size_sent: int | None = None  # and its pageSize

    @property
    @override
    def url_base(self) -> str:
        return str(self.config["api_url"])

    @cached_property
    @override
    def authenticator(self) -> APIKeyAuthenticator:
        return APIKeyAuthenticator(key="x-api-key", value=self.config["api_key"], location="header")

    @override
    def get_http_request(self, *, page: PageContext[t.Any]) -> HTTPRequest:
        request = super().get_http_request(page=page)
        self._cursor_sent = page.next_page_token
        if page.next_page_token:
            request.params["startAfter"] = page.next_page_token
        self._page_size_sent = self.page_size_to_ask()
        if self._page_size_sent:  # sent only when set: not every endpoint accepts it
            request.params["pageSize"] = self._page_size_sent
        return request

    def page_size_to_ask(self) -> int | None:
        """The `pageSize` of the next request: the setting, or None to send none."""
        return self.config.get("page_size")

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
            raise ServiceUnavailable(retry_after_seconds(response))
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
        page_size = self._page_size_sent
        query = f"startAfter={self._cursor_sent}" if self._cursor_sent else "no startAfter"
        refused = (
            f"The Data API refused the query (HTTP 400): {query}"
            f"{f', pageSize={page_size}' if page_size else ''}.{quoted_body(response)}"
        )
        start = self._start
        if self._cursor_sent and start is not None and self._cursor_sent != start.cursor:
            return (
                f"{refused} That cursor is the nextStartAfter of the Data API's previous page; "
                "the state keeps the last event delivered, so the next run asks again from there."
            )
        if self._cursor_sent and start is not None and start.origin == "state":
            return (
                f"{refused} The cursor is the last event in the state of task_events/tasks. To "
                "start again from `start_after` (or the first event), clear that state: "
                "`meltano state clear <state id>` (`meltano state list` shows it), or run "
                "tap-aphex without `--state`."
            )
        return f"{refused} Check `start_after` (an eventId you received) and `page_size`."

    def _read_page(self, response: requests.Response) -> EventPage:
        if response.status_code == HTTPStatus.NO_CONTENT:
            return EventPage([], None)
        # msgspec raises UnicodeDecodeError for bad UTF-8 in a string, RecursionError for JSON
        # nested too deep: neither is a page either.
        try:
            return self._reader.page(response.content, start_after=self._cursor_sent)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as error:
            kind = response.headers.get("Content-Type", "no content type")
            msg = (
                f"The Data API answered HTTP {response.status_code} with a body that is not JSON "
                f"({kind}, {len(response.content)} bytes); nothing from it was used"
            )
            raise UnexpectedResponseError(msg) from error
