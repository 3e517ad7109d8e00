"""The Published Plans API's streams: each project's versions, and the tables of each version.

This module owns the three stream classes and their SDK hooks: one record per published version
(`PublishedPlansStream`, partitioned by project, each project's URL and token on its requests) and
one row per task or status row of each version (the tables, fed by it). On the first project's
turn every project's downloads start in threads (`plan_downloads`; `LimitPolicy` in
`plan_history` says how many versions each ask is for); then, one project after another,
`get_records` parses that project's spooled answers (`plan_document`), emits each new version's
record and feeds its rows to the tables, one version in memory at a time, then moves the
project's bookmarks (`plan_bookmarks`) and writes its STATE.

Failures stay in their project: anything that goes wrong while reading one (HTTP, a document that
is not the documented JSON, an unexpected error) ends that project, which keeps its bookmarks; the
other projects and the event log still land, and the run ends with exit 1 and a one-line summary.
A version that cannot be keyed or dated is skipped with a warning (see `plan_document`).
"""

from __future__ import annotations

import threading
import typing as t
from http import HTTPStatus

from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.pagination import SinglePagePaginator
from singer_sdk.streams.rest import HTTPRequest, PageContext
from typing_extensions import override

from tap_aphex import schemas, sdk_seam
from tap_aphex.client import AphexStream
from tap_aphex.report import STREAM_FAILURES, AphexError, AuthenticationError, StopReason
from tap_aphex.settings import (
    DEFAULT_MAX_PARALLEL_PROJECTS,
    DEFAULT_PUBLISHED_PLANS_LIMIT,
    account_id,
    project_label,
)
from tap_aphex.streams import FedStream, plan_history
from tap_aphex.streams.plan_bookmarks import drop_progress, move_bookmarks, project_only
from tap_aphex.streams.plan_document import DocumentReader, PublishedVersion
from tap_aphex.streams.plan_downloads import (
    PlansRun,
    ResponseTooLarge,
    ThreadSessions,
    start_downloads,
)

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    import requests
    from singer_sdk.helpers.types import Context
    from singer_sdk.streams import Stream

    from tap_aphex.reader import Row
    from tap_aphex.streams.plan_bookmarks import Mark


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
        self._run: PlansRun | None = None  # the downloads, once the first project's turn comes
        self.thread_sessions = ThreadSessions()  # one HTTP session per download thread

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
        """The SDK's session on the main thread; in a download thread, that thread's own.

        `requests.Session` is not promised to be thread-safe (its connection pool and cookies
        are shared state), so each download thread has one, with the same response deadline.
        """
        if threading.current_thread() is threading.main_thread():
            session = super().requests_session
        else:
            session = self.thread_sessions.session(self._with_deadline)
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
        request.params["limit"] = (page.stream_context or {}).get("limit", self.configured_limit)
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
        label = project_label(self.project({"accountId": account_id(response.url)}))
        with response:
            for version in self.reader.versions(t.cast("t.IO[bytes]", response.raw), label):
                yield [version]
                version = None  # not held while the next one is read

    @override
    def get_records(self, context: Context | None) -> Iterator[Row]:
        """One project's new versions, from the answers its download thread spooled.

        The first call starts the downloads of every project (`plan_downloads`); each call then
        writes one project whole (its records, its tables' rows, then its STATE), in order.
        """
        if self._run is None:
            self._run = start_downloads(self)
        run = self._run
        project = run.projects[project_only(context)["accountId"]]
        download, read, fed = project.download, project.download.read, run.fed
        ended = False
        try:
            for version in run.versions(project):
                new_for = [s for s in fed if project.marks[s].is_new(version.id, version.published)]
                if self in new_for:
                    yield version.record
                for child in new_for:
                    if isinstance(child, PublishedPlanTableStream):
                        child.feed(
                            version.rows(child.table),
                            {**(context or {}), "publishedPlanId": version.id},
                        )
                for stream in new_for:
                    project.landing[stream].land(version)
                if new_for:
                    read.land(version)
                    plan_history.landed(self.logger, read, version)
                del version  # one version in memory at a time: not this one during the next
        except BrokenPipeError:
            raise  # stdout is gone: the run ends, not the project
        except Exception as error:  # any failure in a project ends that project only
            self._fail_project(context, read.label, fed, project.marks, error)
            ended = True
        else:
            plan_history.project_read(self.logger, read)
            moved = move_bookmarks(self, context, project, fed)
            resume = plan_history.resume_at([moved[stream] for stream in fed])
            why = StopReason.VERSIONS_MISSING if read.left_a_gap else StopReason.UP_TO_DATE
            self.report.stopped(self.name, why, resume, part=read.label)
            sdk_seam.write_state(self)  # this project's records are out: its STATE goes with them
            ended = True
        finally:
            if not ended:  # an interrupt, or stdout closed: every download ends at once
                run.end(interrupted=True)
        run.written_one(download)  # its place in the window goes to the next project

    def request_with_retries(
        self,
    ) -> Callable[[requests.PreparedRequest, Context], requests.Response]:
        """The SDK's request path for a download thread's asks (`plan_downloads`).

        `request_decorator`: the retries and their budget; `_request`: the authenticator, the
        metrics, `validate_response`, on `requests_session` (that thread's own).
        """
        return self.request_decorator(self._request)

    def _fail_project(
        self,
        context: Context | None,
        label: str,
        fed: list[Stream],
        marks: Mapping[Stream, Mark],
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
        drop_progress(fed, context)
        resume = plan_history.resume_at([marks[stream].when for stream in fed])
        self.report.stopped(self.name, StopReason.FAILURE, resume, part=label)
        sdk_seam.write_state(self)

    @property
    def configured_limit(self) -> int:
        return int(self.config.get("published_plans_limit", DEFAULT_PUBLISHED_PLANS_LIMIT))

    @property
    def parallel_projects(self) -> int:
        return int(self.config.get("max_parallel_projects", DEFAULT_MAX_PARALLEL_PROJECTS))

    @override
    def generate_child_contexts(self, record: Row, context: Context | None) -> Iterable[Context]:
        return ()  # children get their rows straight from the version just read (`get_records`)


class PublishedPlanTableStream(sdk_seam.StateWrittenByParent, FedStream):
    """A table of each published version, one row per record.

    Its STATE is the parent's, once per project (not once per version it is fed).
    """

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
