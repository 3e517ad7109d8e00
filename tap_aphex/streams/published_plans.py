"""The Published Plans API: each project's versions, read back as far as needed, emitted once each.

The pipeline for one project: `LimitPolicy` says how many versions to ask for; `parse_response`
turns the streamed document into `PublishedVersion`s (`plan_shape`); `get_records` emits each new
version's record and feeds its rows to the table streams, one version in memory at a time.

Failures stay in their project: anything that goes wrong while reading one (HTTP, a document that
is not the documented JSON, an unexpected error) ends that project, which keeps its bookmarks; the
other projects and the event log still land, and the run ends with exit 1 and a one-line summary.
A version that cannot be keyed or dated is skipped with a warning (see `plan_shape`).
"""

from __future__ import annotations

import datetime as dt
import typing as t
from http import HTTPStatus

import requests
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.pagination import SinglePagePaginator
from singer_sdk.streams import Stream
from singer_sdk.streams.rest import HTTPRequest, PageContext
from typing_extensions import override

from tap_aphex import schemas, sdk_seam
from tap_aphex.client import AphexStream
from tap_aphex.errors import STREAM_FAILURES, AphexError, AuthenticationError
from tap_aphex.reader import rfc3339_to_datetime
from tap_aphex.report import StopReason
from tap_aphex.settings import DEFAULT_PUBLISHED_PLANS_LIMIT, account_id, project_label
from tap_aphex.streams import FedStream, plan_history
from tap_aphex.streams.plan_document import DocumentReader, PublishedVersion
from tap_aphex.streams.plan_history import LimitPolicy, ProjectRead

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from singer_sdk.helpers.types import Context

    from tap_aphex.reader import Row


class ResponseTooLarge(Exception):
    """HTTP 500 from a project: the vendor's advice for its 32 MB limit is to ask for less."""


class PublishedPlansStream(AphexStream):
    """One record per published version of each project; the state is per project."""

    name = "published_plans"
    path = ""
    url_base = ""  # each project has its own URL: see `get_url`
    primary_keys: t.ClassVar[list[str]] = ["accountId", "publishedPlanId"]
    replication_key = "publishedAt"
    is_sorted = False  # the document promises no order; the bookmark is the newest seen
    schema = schemas.PUBLISHED_PLAN
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE  # plan_shape types every value itself

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.reader = DocumentReader(self.logger)  # one per run: each warning once per run

    @property
    @override
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
    @override
    def requests_session(self) -> requests.Session:
        session = super().requests_session
        session.stream = True  # read the body as it arrives instead of buffering 32 MB first
        return session

    @override
    def get_url(self, context: Context | None) -> str:
        return str(self.project(context)["url"])

    @override
    def get_http_request(self, *, page: PageContext[t.Any]) -> HTTPRequest:
        request = super().get_http_request(page=page)
        # The token is per project, so it goes on per request rather than on a shared authenticator.
        request.headers["Authorization"] = f"Bearer {self.project(page.stream_context)['token']}"
        # The read's `limit` policy (see `_versions`); a bare request (a check) asks as configured.
        request.params["limit"] = (page.stream_context or {}).get("limit", self._configured_limit)
        return request

    @override
    def get_new_paginator(self) -> SinglePagePaginator:
        return SinglePagePaginator()  # one document per request; `_versions` asks again

    @override
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

    @override
    def parse_response(  # type: ignore[override]  # versions with their tables, not flat dicts
        self, response: requests.Response
    ) -> Iterator[list[PublishedVersion | None]]:
        """Each entry of the document, in a one-item list that `_versions` empties.

        The SDK's `request_records` holds a response's first item until the response ends; the
        list keeps that from holding a whole version, so only one is in memory at a time.
        """
        response.raw.decode_content = True  # ijson reads the raw stream, so undo gzip here
        label = project_label(self.project(_project_only_from(response)))
        with response:
            for version in self.reader.versions(t.cast("t.IO[bytes]", response.raw), label):
                yield [version]
                version = None  # not held while the next one is read

    @override
    def get_records(self, context: Context | None) -> Iterator[Row]:
        label = project_label(self.project(context))
        fed = [stream for stream in (self, *self.child_streams) if stream.selected]
        bookmarks: dict[Stream, dt.datetime | None] = {}
        try:
            bookmarks = {stream: self._bookmark(stream, context, label) for stream in fed}
            known = [value for value in bookmarks.values() if value is not None]
            oldest = min(known) if fed and len(known) == len(fed) else None
            read = ProjectRead(label, oldest, LimitPolicy(self._configured_limit))
            for version in self._versions(context, read):
                new_for = [s for s in fed if _is_new(version.published, bookmarks[s])]
                if self in new_for:
                    yield version.record
                for child in new_for:
                    if isinstance(child, PublishedPlanTableStream):
                        child.feed(
                            version.rows(child.table),
                            {**(context or {}), "publishedPlanId": version.id},
                        )
                if new_for:
                    read.land(version)
                    plan_history.landed(self.logger, read, version)
                del version  # one version in memory at a time: not this one during the next
        except BrokenPipeError:
            raise  # stdout is gone: the run ends, not the project
        except Exception as error:  # any failure in a project ends that project only
            self._fail_project(context, label, fed, bookmarks, error)
            return
        plan_history.project_read(self.logger, read)
        newest = [plan_history.newest(mark, read.last) for mark in bookmarks.values()]
        resume = plan_history.resume_at(newest)
        self.report.stopped(self.name, StopReason.UP_TO_DATE, resume, part=label)

    def _versions(self, context: Context | None, read: ProjectRead) -> Iterator[PublishedVersion]:
        """Every version the project's read needs, each once, asking as `read.policy` says."""
        handed: set[str] = set()  # versions already handed on, when asking again for more
        while True:
            received, reached_back = 0, False
            request_context = {**(context or {}), "limit": read.policy.limit}
            try:
                for entry in t.cast(
                    "Iterator[list[PublishedVersion | None]]", self.request_records(request_context)
                ):
                    received += 1  # skipped entries count: the API returned them
                    version = entry.pop()
                    if version is None:
                        continue
                    oldest = read.oldest_bookmark
                    reached_back |= oldest is not None and version.published <= oldest
                    if version.id not in handed:
                        handed.add(version.id)
                        yield version
                    del version  # one version in memory at a time: not this one during the next
            except ResponseTooLarge:
                read.step = read.policy.after_server_error()
            else:
                read.step = read.policy.after_response(received, reached_back=reached_back)
            if not plan_history.ask_again(self.logger, read, received):
                return

    def _bookmark(self, stream: Stream, context: Context | None, label: str) -> dt.datetime | None:
        """The newest version ``stream`` landed for this project in an earlier run, if readable."""
        value = stream.get_context_state(_project_only(context)).get("replication_key_value")
        if value is None:
            return None
        when = rfc3339_to_datetime(value) if isinstance(value, str) else None
        if when is None:
            self.logger.warning(
                "Project %s: the %s bookmark in the state (%.40r) is not a time the tap wrote; "
                "reading the project from the start (versions already landed are sent again, "
                "which an upsert on the key absorbs).",
                label,
                stream.name,
                value,
            )
        return when

    def _fail_project(
        self,
        context: Context | None,
        label: str,
        fed: list[Stream],
        bookmarks: Mapping[Stream, dt.datetime | None],
        error: Exception,
    ) -> None:
        """End this project only; every bookmark of it stays where the last full read left it."""
        if not isinstance(error, STREAM_FAILURES):  # not one we foresaw: DEBUG shows where
            self.logger.debug("Project %s failed", label, exc_info=error)
            what = f"{type(error).__name__}: {error!s:.200}"
            error = AphexError(f"could not read its published plans ({what})")
        self.report_failure(f"project {label}", error)
        # Versions come in no promised order, so what this run saw proves nothing about what
        # it missed: the progress each stream made on this project is dropped.
        for stream in fed:
            sdk_seam.discard_progress(stream.get_context_state(_project_only(context)))
        resume = plan_history.resume_at(list(bookmarks.values()))
        self.report.stopped(self.name, StopReason.FAILURE, resume, part=label)

    @property
    def _configured_limit(self) -> int:
        return int(self.config.get("published_plans_limit", DEFAULT_PUBLISHED_PLANS_LIMIT))

    @override
    def generate_child_contexts(self, record: Row, context: Context | None) -> Iterable[Context]:
        return ()  # children get their rows straight from the version just read (`get_records`)


def _project_only(context: Mapping[str, t.Any] | None) -> dict[str, t.Any]:
    return {"accountId": (context or {}).get("accountId")}


def _project_only_from(response: requests.Response) -> dict[str, t.Any]:
    return {"accountId": account_id(response.url)}


def _is_new(published: dt.datetime, bookmark: dt.datetime | None) -> bool:
    return bookmark is None or published > bookmark


class PublishedPlanTableStream(FedStream):
    """A table of each published version, one row per record."""

    parent_stream_type = PublishedPlansStream
    replication_key = "publishedAt"
    is_sorted = False
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE  # plan_shape types every value itself
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
