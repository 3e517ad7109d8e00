"""The Published Plans API's streams: one record per published version, per project, and one row
per task or status row of each (the tables, fed by it). One project after another, its versions
land, its bookmarks move and its STATE goes out; a failure ends its project only."""

from __future__ import annotations

import threading
import typing as t
from functools import cached_property
from http import HTTPStatus
from urllib.parse import urlsplit

import requests
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.pagination import SinglePagePaginator
from typing_extensions import override

from tap_aphex import report, schemas, sdk_seam
from tap_aphex.client import AphexStream
from tap_aphex.settings import account_id, project_label
from tap_aphex.streams import FedStream, unusable_words
from tap_aphex.streams.plan_document import DocumentReader, PublishedVersion
from tap_aphex.streams.plan_downloads import PlansRun, ResponseTooLarge
from tap_aphex.streams.plan_progress import (
    SKIPPED_SAID,
    LimitPolicy,
    Mark,
    ProjectRead,
    read_mark,
)
from tap_aphex.streams.plan_report import (
    plural,
    resume_at,
    say_bookmarks_ahead,
    say_how_far,
    say_landed,
    say_unused_state,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from singer_sdk.helpers.types import Context
    from singer_sdk.streams import Stream
    from singer_sdk.streams.rest import HTTPRequest, PageContext

    from tap_aphex.reader import Row


class PublishedPlansStream(AphexStream):
    """One record per published version of each project; the state is per project."""

    name = "published_plans"
    path = ""
    url_base = ""  # each project has its own URL: see `get_url`
    primary_keys: t.ClassVar[list[str]] = ["accountId", "publishedPlanId"]
    replication_key = "publishedAt"
    is_sorted = False  # the document promises no order; the bookmark is the newest seen
    schema = schemas.PUBLISHED_PLAN
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE  # plan_document types every value itself

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.reader = DocumentReader(self.logger)  # one per run: each warning once per run
        self._run: PlansRun | None = None  # the downloads, once the first project's turn comes
        self.thread_local = threading.local()  # a download thread's own HTTP session
        # The state's bookmarks as the run was given them (`TapAphex` sets them): `sync_all` drops
        # their progress markers unseen before the first read (`bookmark_problem` names them).
        self.given_state: dict[str, t.Any] | None = None

    @cached_property  # not before the settings are checked (they refuse a repeated account id)
    def by_account(self) -> dict[str, Mapping[str, t.Any]]:
        return {account_id(p["url"]): p for p in self.config.get("projects") or []}

    @property
    @override
    def partitions(self) -> list[dict[str, t.Any]]:
        return [{"accountId": account} for account in self.by_account]

    def project(self, context: Mapping[str, t.Any] | None) -> Mapping[str, t.Any]:
        return self.by_account[(context or {})["accountId"]]

    @property
    @override
    def requests_session(self) -> requests.Session:
        # The SDK's session on the main thread; a download thread has its own (not thread-safe).
        session: requests.Session | None = getattr(self.thread_local, "session", None)
        if threading.current_thread() is threading.main_thread():
            session = super().requests_session
        elif session is None:
            session = self.thread_local.session = self.made_ready(requests.Session())
        session.stream = True  # read the body as it arrives instead of buffering 32 MB first
        return session

    @override
    def retried_part(self, context: Context | None) -> str:
        return f"{self.name}, project {project_label(self.project(context))}"

    @override
    def get_url(self, context: Context | None) -> str:
        return str(self.project(context)["url"])

    @override
    def get_http_request(self, *, page: PageContext[t.Any]) -> HTTPRequest:
        request = super().get_http_request(page=page)
        # The token is per project, so it goes on per request rather than on a shared authenticator.
        request.headers["Authorization"] = f"Bearer {self.project(page.stream_context)['token']}"
        # Every request names its `limit`: the read's policy (`plan_progress`), the check's 1.
        request.params["limit"] = (page.stream_context or {})["limit"]
        return request

    @override
    def get_new_paginator(self) -> SinglePagePaginator:
        return SinglePagePaginator()  # one document per request; `plan_downloads` asks again

    @override
    def credential_setting(self, response: requests.Response) -> str:
        accounts = [account_id(project["url"]) for project in self.config["projects"]]
        account = account_id(response.url)  # as requests sent it (re-encoded: then not found)
        token = f"projects[{accounts.index(account)}].token" if account in accounts else "projects"
        return self.setting_named(token)

    @override
    def refuse(self, response: requests.Response) -> None:
        status = response.status_code
        if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):  # an expired token: either
            raise report.AuthenticationError(
                f"The Published Plans API refused the token (HTTP {status}). Tokens expire after "
                "90 days and can be revoked: a project admin can create a new one on the project's "
                f"Integrations page; put it in {self.credential_setting(response)}."
            )
        if status == HTTPStatus.NOT_FOUND and not self.answered_before(response):
            # The URL is sent as written; a slash after the account id is the likeliest slip.
            slash = urlsplit(response.url).path.endswith("/")
            raise report.ConfigError(
                "No published plans at its URL (HTTP 404); copy the URL again from the "
                "project's Integrations page"
                f"{' (without the `/` this one ends with)' if slash else ''}."
            )
        if status == HTTPStatus.INTERNAL_SERVER_ERROR:  # the read asks for fewer versions
            raise ResponseTooLarge(
                f"{self.response_error_message(response)} The Published Plans API's answer to "
                "a document over its 32 MB limit, or a failure of its own."
            )
        super().refuse(response)

    @override
    def parse_response(  # type: ignore[override]  # versions with their tables, not flat dicts
        self, response: requests.Response
    ) -> Iterator[PublishedVersion | None]:
        """The check's versions (one: it asks with ``limit=1``); a read's are `get_records`'."""
        response.raw.decode_content = True  # ijson reads the raw stream, so undo gzip here
        label = project_label(self.by_account[account_id(response.url)])
        with response:
            yield from self.reader.versions(t.cast("t.IO[bytes]", response.raw), label)

    @override
    def get_records(self, context: Context | None) -> Iterator[Row]:
        """One project whole: its new versions, their rows, its STATE (the first starts all)."""
        if self._run is None:
            fed = [s for s in (self, *self.child_streams) if s.selected]
            for stream in fed:
                say_unused_state(self.logger, stream, list(self.by_account))
            reads = {}
            for account, project in self.by_account.items():
                reads[account] = self.read_project(fed, account, project_label(project))
                say_bookmarks_ahead(self.logger, reads[account])  # beside its other state words
            self._run = PlansRun(self, self.reader, reads)
        run = self._run
        download = run.projects[(context or {})["accountId"]]
        read = download.read
        try:
            try:
                for version in run.versions(download):  # each new to a stream (`DocumentReader`)
                    new_for = read.new_for(version.id, version.published, version.record["version"])
                    if self in new_for:
                        yield version.record
                    version_context = {**(context or {}), "publishedPlanId": version.id}
                    for child in new_for:
                        if isinstance(child, PublishedPlanTableStream):
                            child.feed(version.rows(child.table), version_context)
                    read.land(version, new_for)
                    say_landed(self.logger, read, version, new_for)
                    del version  # one version in memory at a time: not this one during the next
            except BrokenPipeError:
                raise  # stdout is gone: the run ends, not the project
            except Exception as error:  # any failure in a project ends that project only
                if report.stream_map_problem(error) is not None:
                    raise  # but a table's stream map, as any stream's, is the user's: the run ends
                if not isinstance(error, report.STREAM_FAILURES):  # unforeseen: DEBUG shows where
                    self.logger.debug("Project %s failed", read.label, exc_info=error)
                    what = f"{type(error).__name__}: {error!s:.200}"
                    error = report.AphexError(f"could not read its published plans ({what})")
                landed = read.landed and (  # its versions go out as they are read: they go again
                    f"{plural(read.landed, 'version')} of the project landed before the failure: "
                    "the next run sends each again (an upsert on the key absorbs it)."
                )
                self.report.failed(f"project {read.label}", error, self.logger, landed or "")
                download.failed = True  # not one of the projects downloaded, in the summary
                why = report.StopReason.FAILURE
            else:
                say_how_far(self.logger, read)
                gap = read.left_a_gap
                why = report.StopReason.VERSIONS_MISSING if gap else report.StopReason.UP_TO_DATE
            bookmarks = read.move_bookmarks(self, context, failed=download.failed)
            self.report.stopped(self.name, why, resume_at(bookmarks), part=read.label)
            sdk_seam.write_state(self)  # this project's records are out: its STATE goes with them
        except BaseException:  # an interrupt, or stdout closed: every download ends at once
            run.end(interrupted=True)
            raise
        run.written_one(download)  # its place in the window goes to the next project

    def read_project(self, fed: list[Stream], account: str, label: str) -> ProjectRead:
        """The project's read, from its partitions; a bookmark the tap could not have written is
        said once for the project, which is read from the start."""
        context = {"accountId": account}
        marks: dict[Stream, Mark] = {}
        problems = []
        for stream in fed:
            marks[stream], problem = read_mark(
                stream, self.saved_state(stream, context), label, self.logger
            )
            problems.append((stream.name, problem))
        if why := unusable_words(problems):
            self.logger.warning(
                f"Project {label}: the state's bookmarks cannot be used: {why}. Reading the "
                "project from the start (versions already landed are sent again, which an upsert "
                "on the key absorbs)."
            )
        said = self.saved_state(self, context).get(SKIPPED_SAID)
        said = frozenset(str(key) for key in said) if isinstance(said, list) else frozenset()
        limit = int(self.config["published_plans_limit"])  # the SDK fills in defaults
        return ProjectRead(label, marks, LimitPolicy(limit), said)

    def saved_state(self, stream: Stream, context: Mapping[str, t.Any]) -> Mapping[str, t.Any]:
        """The project's partition of ``stream`` in the state as given (`given_state`), not added
        to the state as `get_context_state` would add it."""
        given = self.given_state
        bookmarks = stream.tap_state.get("bookmarks", {}) if given is None else given
        for partition in bookmarks.get(stream.name, {}).get("partitions", []):
            if partition.get("context") == context:
                return t.cast("Mapping[str, t.Any]", partition)
        return {}

    def project_checks(self) -> list[tuple[str, Exception | None]]:
        """Each project asked for its newest version (``limit=1``): its label, and its error."""
        checks: list[tuple[str, Exception | None]] = []
        for account, project in self.by_account.items():
            context = {"accountId": account, "limit": 1}
            error = self.first_error(context)
            if isinstance(error, ResponseTooLarge):  # a first 500 may be passing, as a read has it
                error = self.first_error(context)
            if isinstance(error, ResponseTooLarge):  # twice: no size limit at one version
                error = report.AphexError(
                    f"{error} Twice, for one version: the project's server fails. Test again "
                    "later; if it lasts, tell Aphex (hello@aphex.co)"
                )
            checks.append((f"project {project_label(project)}", error))
        return checks

    @override
    def generate_child_contexts(self, record: Row, context: Context | None) -> Iterable[Context]:
        return ()  # children get their rows straight from the version just read (`get_records`)


class PublishedPlanTableStream(sdk_seam.StateWrittenByParent, FedStream):
    """A table of each published version; its STATE is the parent's, once per project."""

    parent_stream_type = PublishedPlansStream
    replication_key = "publishedAt"
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE  # plan_document types every value itself
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
