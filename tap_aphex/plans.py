"""Published plans: one request per project, each published version once, children per table."""

from __future__ import annotations

import typing as t
from http import HTTPStatus

import requests
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.pagination import SinglePagePaginator
from singer_sdk.streams import Stream
from singer_sdk.streams.rest import HTTPRequest, PageContext

from tap_aphex import schemas
from tap_aphex.client import AphexStream
from tap_aphex.errors import AphexError, AuthenticationError, ProjectsFailedError
from tap_aphex.plan_shape import PublishedVersion, Row, read_versions
from tap_aphex.settings import DEFAULT_PUBLISHED_PLANS_LIMIT, account_id, project_label
from tap_aphex.timestamps import rfc3339_to_datetime

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from singer_sdk.helpers.types import Context


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
        self.failed_projects: dict[str, str] = {}
        self._limit = int(self.config.get("published_plans_limit", DEFAULT_PUBLISHED_PLANS_LIMIT))
        self._version: PublishedVersion | None = None  # the version just read, for the children
        self._label = ""  # the project being read, for messages

    url_base = ""  # each project has its own URL: see `get_url`

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
        label = self._label
        status = response.status_code
        if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            msg = (
                f"Project {label}: the Published Plans API refused the token (HTTP {status}). "
                "Tokens expire after 90 days and can be revoked: a project admin can create a new "
                "one on the project's Integrations page; put it in that project's `token`."
            )
            raise AuthenticationError(msg)
        if status == HTTPStatus.NOT_FOUND:
            msg = (
                f"Project {label}: no published plans at its URL (HTTP 404); copy the URL again "
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

    def get_records(self, context: Context | None) -> Iterator[Row]:
        self._label = label = project_label(self.project(context))
        try:
            yield from self._new_versions(context, label)
        except (AphexError, RetriableAPIError, requests.RequestException) as error:
            reason = str(error) if isinstance(error, AphexError) else f"{type(error).__name__}"
            self.logger.error("Project %s failed, the other projects go on: %s", label, reason)
            self.failed_projects[label] = reason

    def _new_versions(self, context: Context | None, label: str) -> Iterator[Row]:
        since = self.get_starting_timestamp(context)
        self._limit = int(self.config.get("published_plans_limit", DEFAULT_PUBLISHED_PLANS_LIMIT))
        while True:
            try:
                received = 0
                all_new = True
                for record in self.request_records(context):
                    received += 1
                    published = record.get("publishedAt")
                    if since and published and rfc3339_to_datetime(published) <= since:
                        all_new = False
                        continue  # published versions never change: this one landed before
                    version = self._version
                    yield record
                    if version is not None:
                        self._hand_to_children(context, version)
                break
            except ResponseTooLarge:
                if self._limit == 1:
                    msg = "server error (HTTP 500) even when asking for one published version"
                    raise AphexError(msg) from None
                smaller = max(1, self._limit // 2)
                self.logger.warning(
                    "Project %s: server error (HTTP 500) with limit=%d, likely the API's 32 MB "
                    "response limit; asking again with limit=%d.",
                    label,
                    self._limit,
                    smaller,
                )
                self._limit = smaller
        if since and all_new and received >= self._limit:
            self.logger.warning(
                "Project %s: all %d versions returned are newer than the last one landed, so older "
                "unseen versions may exist; raise `published_plans_limit` to fetch them.",
                label,
                received,
            )

    def _hand_to_children(self, context: Context | None, version: PublishedVersion) -> None:
        version_context = {**(context or {}), "publishedPlanId": version.record["publishedPlanId"]}
        for child in self.child_streams:
            if isinstance(child, PublishedPlanTableStream) and child.selected:
                child.apply(version_context, version.rows(child.table))

    def generate_child_contexts(self, record: Row, context: Context | None) -> Iterable[Context]:
        # Children get their rows straight from the version just read (see `_hand_to_children`).
        return ()

    def finalize_state_progress_markers(self, state: dict[str, t.Any] | None = None) -> None:
        super().finalize_state_progress_markers(state)
        # The state of the projects that landed is written; now make the run fail visibly.
        if self.failed_projects:
            summary = "; ".join(f"{name}: {why}" for name, why in self.failed_projects.items())
            msg = f"{len(self.failed_projects)} project(s) failed, the others landed. {summary}"
            raise ProjectsFailedError(msg)


class PublishedPlanTableStream(Stream):
    """A table of each published version, one row per record."""

    parent_stream_type = PublishedPlansStream
    replication_key = "publishedAt"
    is_sorted = False
    # One bookmark per project (the newest version seen), not one per version.
    state_partitioning_keys: t.ClassVar[list[str]] = ["accountId"]
    table: t.ClassVar[str]
    _rows: t.Iterable[Row] = ()

    def apply(self, context: dict[str, t.Any], rows: t.Iterable[Row]) -> None:
        """Emit ``rows`` (called by `published_plans` for each version it emits)."""
        self._rows = rows
        try:
            self.sync(context=context)
        finally:
            self._rows = ()

    def get_records(self, context: Context | None) -> Iterator[Row]:
        yield from self._rows


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
