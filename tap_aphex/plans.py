"""Published plans: one request per project, each published version once, children per table."""

from __future__ import annotations

import datetime as dt
import typing as t
from http import HTTPStatus

import requests
from singer_sdk.pagination import SinglePagePaginator
from singer_sdk.streams import Stream
from singer_sdk.streams.rest import HTTPRequest, PageContext

from tap_aphex import schemas
from tap_aphex.client import AphexStream
from tap_aphex.errors import STREAM_FAILURES, AphexError, AuthenticationError
from tap_aphex.handoff import FedStream
from tap_aphex.plan_shape import PublishedVersion, Row, read_versions
from tap_aphex.settings import DEFAULT_PUBLISHED_PLANS_LIMIT, account_id, project_label
from tap_aphex.timestamps import rfc3339_to_datetime

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from singer_sdk.helpers.types import Context


#: How far `limit` grows to reach back to the last version landed (six months of weekly plans
#: is 26 versions; this leaves room for projects that publish more often).
MAX_LIMIT = 128


class ResponseTooLarge(Exception):
    """HTTP 500 from a project: the vendor's advice for its 32 MB limit is to ask for less."""


class PublishedPlansStream(AphexStream):
    """One record per published version of each project; the state is per project."""

    name = "published_plans"
    path = ""
    primary_keys: t.ClassVar[list[str]] = ["accountId", "publishedPlanId"]
    replication_key = "publishedAt"
    is_sorted = False  # the document promises no order; the bookmark is the newest seen
    schema = schemas.PUBLISHED_PLAN

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._limit = self._configured_limit
        self._version: PublishedVersion | None = None  # the version just read, for the children
        self._label = ""  # the project being read, for messages

    url_base = ""  # each project has its own URL: see `get_url`

    @property
    def _configured_limit(self) -> int:
        return int(self.config.get("published_plans_limit", DEFAULT_PUBLISHED_PLANS_LIMIT))

    @property
    def partitions(self) -> list[dict[str, t.Any]]:
        return [{"accountId": account_id(p["url"])} for p in self.config.get("projects") or []]

    def project(self, context: Mapping[str, t.Any] | None) -> Mapping[str, t.Any]:
        wanted = (context or {}).get("accountId")
        for project in self.config.get("projects") or []:
            if account_id(project["url"]) == wanted:
                return t.cast("Mapping[str, t.Any]", project)
        msg = f"no project with account id {wanted} in `projects`"
        raise AphexError(msg)

    @property
    def requests_session(self) -> requests.Session:
        session = super().requests_session
        session.stream = True  # read the body as it arrives instead of buffering 32 MB first
        return session

    def get_url(self, context: Context | None) -> str:
        return str(self.project(context)["url"])

    def get_http_request(self, *, page: PageContext[t.Any]) -> HTTPRequest:
        request = super().get_http_request(page=page)
        # The token is per project, so it goes on per request rather than on a shared authenticator.
        request.headers["Authorization"] = f"Bearer {self.project(page.stream_context)['token']}"
        request.params["limit"] = self._limit
        return request

    def get_new_paginator(self) -> SinglePagePaginator:
        return SinglePagePaginator()

    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            msg = (
                f"The Published Plans API refused the token (HTTP {status}). "
                "Tokens expire after 90 days and can be revoked: a project admin can create a new "
                "one on the project's Integrations page; put it in that project's `token`."
            )
            raise AuthenticationError(msg)
        if status == HTTPStatus.NOT_FOUND:
            msg = (
                "No published plans at its URL (HTTP 404); copy the URL again "
                "from the project's Integrations page."
            )
            raise AphexError(msg)
        if status == HTTPStatus.INTERNAL_SERVER_ERROR:
            raise ResponseTooLarge
        super().validate_response(response)

    def parse_response(self, response: requests.Response) -> Iterator[Row]:
        response.raw.decode_content = True  # ijson reads the raw stream, so undo gzip here
        with response:
            for version in read_versions(t.cast("t.IO[bytes]", response.raw)):
                self._version = version
                yield version.record
                del version  # one version in memory at a time: not this one while reading the next

    def get_records(self, context: Context | None) -> Iterator[Row]:
        self._label = label = project_label(self.project(context))
        fed = [stream for stream in (self, *self.child_streams) if stream.selected]
        bookmarks = {stream: _bookmark(stream, context) for stream in fed}
        try:
            yield from self._versions_since(context, bookmarks)
        except STREAM_FAILURES as error:
            self.report_failure(f"project {label}", error)
            # Versions come in no promised order, so what this run saw proves nothing about what
            # it missed: every bookmark of this project stays where the last full read left it.
            for stream in fed:
                stream.get_context_state(_project_only(context)).pop("progress_markers", None)

    def _versions_since(
        self, context: Context | None, bookmarks: dict[Stream, dt.datetime | None]
    ) -> Iterator[Row]:
        """Emit every version newer than each selected stream's bookmark for this project."""
        # Reading must reach back to the oldest bookmark, so that no selected stream misses one.
        known = [value for value in bookmarks.values() if value is not None]
        oldest = min(known) if len(known) == len(bookmarks) and known else None
        self._limit = configured = self._configured_limit
        handed: set[str] = set()  # versions already emitted, when asking again for more
        server_errors = 0
        while True:
            received, reached_oldest = 0, False
            try:
                for record in self.request_records(context):
                    received += 1
                    published = rfc3339_to_datetime(record["publishedAt"])
                    reached_oldest |= oldest is not None and published <= oldest
                    version = self._version
                    if version is None or record["publishedPlanId"] in handed:
                        continue
                    handed.add(record["publishedPlanId"])
                    if _is_new(published, bookmarks.get(self)):
                        yield record
                    self._hand_to_children(context, version, published, bookmarks)
                    self._version = version = None  # done with it: free it before the next
            except ResponseTooLarge:
                server_errors += 1
                self._after_server_error(server_errors)
                continue
            if oldest is None or reached_oldest or received < self._limit:
                return
            if self._limit < configured or self._limit >= MAX_LIMIT:  # shrunk to fit, or at the cap
                self.logger.warning(
                    "Project %s: the %d versions the API returns at once are all newer than the "
                    "last one landed; older ones cannot be fetched and are skipped.",
                    self._label,
                    received,
                )
                return
            self._limit = min(MAX_LIMIT, self._limit * 2)
            self.logger.info(
                "Project %s: every version returned is new; asking for %d to reach the last one "
                "landed.",
                self._label,
                self._limit,
            )

    def _after_server_error(self, errors: int) -> None:
        """A 500: try once more as asked, then halve `limit` (the vendor's advice for 32 MB)."""
        if errors == 1:
            self.logger.warning(
                "Project %s: server error (HTTP 500) with limit=%d; trying once more.",
                self._label,
                self._limit,
            )
            return
        if self._limit == 1:
            msg = "server error (HTTP 500) even when asking for one published version"
            raise AphexError(msg)
        smaller = max(1, self._limit // 2)
        self.logger.warning(
            "Project %s: server error (HTTP 500) again with limit=%d, likely the API's 32 MB "
            "response limit; asking again with limit=%d.",
            self._label,
            self._limit,
            smaller,
        )
        self._limit = smaller

    def _hand_to_children(
        self,
        context: Context | None,
        version: PublishedVersion,
        published: dt.datetime,
        bookmarks: dict[Stream, dt.datetime | None],
    ) -> None:
        version_context = {**(context or {}), "publishedPlanId": version.record["publishedPlanId"]}
        for child in self.child_streams:
            if (
                isinstance(child, PublishedPlanTableStream)
                and child.selected
                and _is_new(published, bookmarks.get(child))
            ):
                child.feed(version.rows(child.table), version_context)

    def generate_child_contexts(self, record: Row, context: Context | None) -> Iterable[Context]:
        # Children get their rows straight from the version just read (see `_hand_to_children`).
        return ()


def _project_only(context: Context | None) -> dict[str, t.Any]:
    return {"accountId": (context or {}).get("accountId")}


def _bookmark(stream: Stream, context: Context | None) -> dt.datetime | None:
    """The newest version ``stream`` landed for this project in an earlier run."""
    value = stream.get_context_state(_project_only(context)).get("replication_key_value")
    return rfc3339_to_datetime(value) if isinstance(value, str) else None


def _is_new(published: dt.datetime, bookmark: dt.datetime | None) -> bool:
    return bookmark is None or published > bookmark


class PublishedPlanTableStream(FedStream):
    """A table of each published version, one row per record."""

    parent_stream_type = PublishedPlansStream
    replication_key = "publishedAt"
    is_sorted = False
    # One bookmark per project (the newest version seen), not one per version.
    state_partitioning_keys: t.ClassVar[list[str]] = ["accountId"]
    table: t.ClassVar[str]


class PublishedPlanTasksStream(PublishedPlanTableStream):
    name = "published_plan_tasks"
    table = "tasks"
    primary_keys: t.ClassVar[list[str]] = ["accountId", "publishedPlanId", "taskId"]
    schema = schemas.PUBLISHED_PLAN_TASK


class PublishedPlanStatusesStream(PublishedPlanTableStream):
    name = "published_plan_statuses"
    table = "statuses"
    primary_keys: t.ClassVar[list[str]] = ["accountId", "publishedPlanId", "rowNumber"]
    schema = schemas.PUBLISHED_PLAN_STATUS
