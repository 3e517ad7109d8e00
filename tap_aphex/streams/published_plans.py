"""The Published Plans API: each project's versions, read back as far as needed, emitted once each.

The pipeline: on the first project's turn, every project's downloads start in threads, at most
`max_parallel_projects` at a time (`plan_downloads`; `LimitPolicy` says how many versions each ask
is for, and the download thread asks again as it says). On the main thread, one project after
another, `get_records` parses that project's spooled answers (`plan_document`), emits each new
version's record and feeds its rows to the table streams, one version in memory at a time, then
moves the project's bookmarks and writes its STATE.

- Versions are told apart by id: new is published after the bookmark, or at its very time with an
  id not landed then (`Mark`). Versions already landed are not typed again, so nothing about them
  is warned about twice.
- A bookmark never moves over a version it did not land: after a gap (`ProjectRead.left_a_gap`)
  every bookmark of the project stays, with a WARNING naming what is missing.

Failures stay in their project: anything that goes wrong while reading one (HTTP, a document that
is not the documented JSON, an unexpected error) ends that project, which keeps its bookmarks; the
other projects and the event log still land, and the run ends with exit 1 and a one-line summary.
A version that cannot be keyed or dated is skipped with a warning (see `plan_document`).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import typing as t
from dataclasses import dataclass, field
from http import HTTPStatus

import requests
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.pagination import SinglePagePaginator
from singer_sdk.streams import Stream
from singer_sdk.streams.rest import HTTPRequest, PageContext
from typing_extensions import override

from tap_aphex import schemas, sdk_seam
from tap_aphex.client import CHUNK, AphexStream
from tap_aphex.errors import STREAM_FAILURES, AphexError, AuthenticationError
from tap_aphex.reader import rfc3339_to_datetime
from tap_aphex.report import StopReason
from tap_aphex.settings import (
    DEFAULT_MAX_PARALLEL_PROJECTS,
    DEFAULT_PUBLISHED_PLANS_LIMIT,
    account_id,
    project_label,
)
from tap_aphex.streams import FedStream, plan_history
from tap_aphex.streams.plan_document import VERSIONS_KEY, DocumentReader, PublishedVersion
from tap_aphex.streams.plan_downloads import Cancelled, DownloadPool, ProjectDownload, VersionScan
from tap_aphex.streams.plan_history import LimitPolicy, ProjectRead, Step

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
        self._run: PlansRun | None = None  # the downloads, once the first project's turn comes
        self._sessions = threading.local()  # one HTTP session per download thread

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
            own: requests.Session | None = getattr(self._sessions, "session", None)
            if own is None:
                own = self._sessions.session = requests.Session()
                own.hooks["response"].append(self._with_deadline)
            session = own
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
        """One project's new versions, from the answers its download thread spooled.

        The first call starts the downloads of every project (`plan_downloads`); each call then
        writes one project whole (its records, its tables' rows, then its STATE), in order.
        """
        run = self._run_downloads()
        project = run.projects[_project_only(context)["accountId"]]
        download, read, fed = project.download, project.download.read, run.fed
        ended = False
        try:
            for version in self._versions(project):
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
            moved = self._move_bookmarks(context, project, fed)
            resume = plan_history.resume_at([moved[stream] for stream in fed])
            why = StopReason.VERSIONS_MISSING if read.left_a_gap else StopReason.UP_TO_DATE
            self.report.stopped(self.name, why, resume, part=read.label)
            sdk_seam.write_state(self)  # this project's records are out: its STATE goes with them
            ended = True
        finally:
            if not ended:  # an interrupt, or stdout closed: every download ends at once
                self._end_downloads(run, interrupted=True)
        run.pool.done_with(download)  # its place in the window goes to the next project
        run.written += 1
        if run.written == len(run.projects):
            self._end_downloads(run, interrupted=False)

    def _versions(self, project: ProjectPlans) -> Iterator[PublishedVersion]:
        """Every new version in the project's answers, each once (a grown answer holds the last)."""
        read, download = project.download.read, project.download
        handed: set[str] = set()
        said = self._said_skips(project)

        def is_new(version_id: str, published: dt.datetime) -> bool:
            return any(mark.is_new(version_id, published) for mark in project.marks.values())

        while (body := download.next_body()) is not None:
            try:
                for version in self.reader.versions(
                    t.cast("t.IO[bytes]", body),  # a file-like that ijson reads as it grows
                    read.label,
                    is_new=is_new,
                    said=said,
                    skipped=project.skipped,
                ):
                    if version is None or version.id in handed:
                        continue
                    handed.add(version.id)
                    yield version
                    del version  # one version in memory at a time: not this one during the next
            finally:
                body.close()

    # --- downloads, in threads (`plan_downloads`) ---------------------------------------------

    def _run_downloads(self) -> PlansRun:
        """This run's downloads of every project, started on the first project's turn."""
        if self._run is not None:
            return self._run
        fed = [stream for stream in (self, *self.child_streams) if stream.selected]
        projects: dict[str, ProjectPlans] = {}
        for order, partition in enumerate(self.partitions, start=1):
            label = project_label(self.project(partition))
            marks = {stream: self._mark(stream, partition, label) for stream in fed}
            known = [mark for mark in marks.values() if mark.when is not None]
            # Every selected stream has a bookmark: read back to the oldest; else everything.
            oldest = None
            if fed and len(known) == len(fed):
                oldest = min(known, key=lambda mark: t.cast("dt.datetime", mark.when))
            read = ProjectRead(
                label,
                oldest.when if oldest else None,
                LimitPolicy(self._configured_limit),
                bookmark_version=oldest.version if oldest else None,
            )
            download = ProjectDownload(read, dict(partition), order=order)
            landing = {stream: Landing() for stream in fed}
            projects[partition["accountId"]] = ProjectPlans(download, marks, landing)
        workers = self._parallel_projects
        pool = DownloadPool(
            [project.download for project in projects.values()],
            self._download,
            workers=workers,
            window=DOWNLOAD_WINDOW_PER_THREAD * workers,
            thread_done=self._close_thread_session,
        )
        self._run = PlansRun(fed, projects, pool, workers)
        return self._run

    def _close_thread_session(self) -> None:
        """A download thread's last act: its session's connections closed, not left to the GC."""
        session: requests.Session | None = getattr(self._sessions, "session", None)
        if session is not None:
            session.close()
            self._sessions.session = None

    def _end_downloads(self, run: PlansRun, *, interrupted: bool) -> None:
        run.pool.close()
        for project in run.projects.values():
            project.download.discard()
        if not interrupted:
            downloads = [project.download for project in run.projects.values()]
            if note := plan_history.downloads_summary(self.logger, downloads, run.workers):
                self.report.notes.append(note)

    def _download(self, download: ProjectDownload, stop: threading.Event) -> None:
        """In a download thread: ask one project as often as its `LimitPolicy` says.

        Every ask goes through the SDK's request path (`request_decorator`: the retries and
        their budget; `_request`: the authenticator, the metrics, `validate_response`), on this
        thread's own session. Each 200 answer is spooled as it arrives and scanned on the way
        to decide the next ask; the main thread reads the spool meanwhile (`next_body`).
        """
        read = download.read
        decorated = self.request_decorator(self._request)
        download.started = time.monotonic()
        plan_history.download_started(self.logger, download, len(self.partitions))
        spool = None
        try:
            while True:
                if stop.is_set():
                    raise Cancelled
                asked = read.policy.limit
                context = {**download.context, "limit": asked}
                download.requests += 1
                received = 0
                try:
                    response = decorated(self._prepared_request(context), context)
                except ResponseTooLarge:
                    read.step = read.policy.after_server_error()
                else:
                    spool = download.answer()
                    scan = VersionScan(VERSIONS_KEY)
                    with response:
                        response.raw.decode_content = True  # gzip undone here: the raw stream
                        for chunk in response.raw.stream(CHUNK):
                            if stop.is_set():
                                raise Cancelled
                            spool.write(chunk)
                            scan.feed(chunk)
                            download.bytes += len(chunk)
                    scan.close()
                    spool.end()
                    spool = None
                    received = read.received = scan.received
                    read.asked = asked
                    read.step = self._next_step(read, scan)
                if not plan_history.ask_again(self.logger, read, received):
                    break
        except BaseException as error:  # handed to the main thread, which says it
            if spool is not None:
                spool.end(error)
            download.seconds = time.monotonic() - download.started
            download.finish(error)
            return
        download.seconds = time.monotonic() - download.started
        plan_history.download_ended(self.logger, download)
        download.finish()

    @staticmethod
    def _next_step(read: ProjectRead, scan: VersionScan) -> Step:
        if not scan.readable:
            return Step.DONE  # not the document: the reader says what is wrong, once
        bookmark, answered = read.oldest_bookmark, scan.oldest
        if bookmark is None or answered is None:  # nothing to reach back to, or nothing placed
            return read.policy.after_response(scan.received, reached_back=False)
        reached_back = answered <= bookmark
        return read.policy.after_response(
            scan.received, reached_back=reached_back, short_of=not reached_back
        )

    def _prepared_request(self, context: Context) -> requests.PreparedRequest:
        """The request `get_http_request` describes, prepared as the SDK's request path does."""
        page = PageContext(stream_context=context, next_page_token=None)
        request = self.get_http_request(page=page)
        return self.build_prepared_request(
            method=request.method,
            url=request.url,
            params=request.encode_params(),
            headers=request.headers,
        )

    # --- bookmarks -----------------------------------------------------------------------------

    def _mark(self, stream: Stream, context: Mapping[str, t.Any], label: str) -> Mark:
        """What ``stream`` landed of this project in earlier runs: its bookmark, and the ids of
        the versions published at that very time (a tie still lands a new one, never one twice)."""
        state = _saved_state(stream, context)
        when = self._bookmark(stream, context, label)
        ids = state.get(BOOKMARK_IDS) if when is not None else None
        ids = frozenset(str(i) for i in ids) if isinstance(ids, list) else frozenset()
        return Mark(when, ids, state.get(BOOKMARK_VERSION) if when is not None else None)

    def _move_bookmarks(
        self, context: Context | None, project: ProjectPlans, fed: list[Stream]
    ) -> dict[Stream, dt.datetime | None]:
        """Each stream's bookmark for the project after a read in full; never over a gap."""
        read = project.download.read
        moved: dict[Stream, dt.datetime | None] = {}
        for stream in fed:
            state = stream.get_context_state(_project_only(context))
            sdk_seam.discard_progress(state)  # the SDK's marker: ours below says it exactly
            mark, landing = project.marks[stream], project.landing[stream]
            moved[stream] = mark.when
            if read.left_a_gap or landing.newest is None:
                continue  # nothing new, or a gap the next run must ask for again
            assert landing.newest_text is not None
            if mark.when is not None and landing.newest < mark.when:
                continue  # only ties and older: the bookmark stays where it is
            ids = set(landing.ids)
            if mark.when == landing.newest:
                ids |= mark.ids
            state["replication_key"] = self.replication_key
            state["replication_key_value"] = landing.newest_text
            state[BOOKMARK_IDS] = sorted(ids)
            state[BOOKMARK_VERSION] = landing.version
            moved[stream] = landing.newest
        parent_state = self.get_context_state(_project_only(context))
        if project.skipped:
            parent_state[SKIPPED_SAID] = sorted(project.skipped)[:MAX_SKIPPED_SAID]
        else:
            parent_state.pop(SKIPPED_SAID, None)
        return moved

    def _said_skips(self, project: ProjectPlans) -> frozenset[str]:
        said = self.get_context_state(_project_only(project.download.context)).get(SKIPPED_SAID)
        return frozenset(str(key) for key in said) if isinstance(said, list) else frozenset()

    def _bookmark(self, stream: Stream, context: Context | None, label: str) -> dt.datetime | None:
        """The newest version ``stream`` landed for this project in an earlier run, if readable."""
        value = _saved_state(stream, context).get("replication_key_value")
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
        for stream in fed:
            sdk_seam.discard_progress(stream.get_context_state(_project_only(context)))
        resume = plan_history.resume_at([marks[stream].when for stream in fed])
        self.report.stopped(self.name, StopReason.FAILURE, resume, part=label)
        sdk_seam.write_state(self)

    @property
    def _configured_limit(self) -> int:
        return int(self.config.get("published_plans_limit", DEFAULT_PUBLISHED_PLANS_LIMIT))

    @property
    def _parallel_projects(self) -> int:
        return int(self.config.get("max_parallel_projects", DEFAULT_MAX_PARALLEL_PROJECTS))

    @override
    def generate_child_contexts(self, record: Row, context: Context | None) -> Iterable[Context]:
        return ()  # children get their rows straight from the version just read (`get_records`)


def _project_only(context: Mapping[str, t.Any] | None) -> dict[str, t.Any]:
    return {"accountId": (context or {}).get("accountId")}


def _saved_state(stream: Stream, context: Mapping[str, t.Any] | None) -> Mapping[str, t.Any]:
    """The project's partition in ``stream``'s state, read without adding one to the state.

    (The SDK's `get_context_state` adds an empty partition: read before the project's turn, that
    would put every project in the first STATE.)
    """
    wanted = _project_only(context)
    bookmark = stream.tap_state.get("bookmarks", {}).get(stream.name, {})
    for partition in bookmark.get("partitions", []):
        if partition.get("context") == wanted:
            return t.cast("Mapping[str, t.Any]", partition)
    return {}


def _project_only_from(response: requests.Response) -> dict[str, t.Any]:
    return {"accountId": account_id(response.url)}


#: Partition-state keys beside the SDK's: the ids of the versions published at the bookmark's time,
#: the `version` number there (to count a gap), the skipped entries already warned about.
BOOKMARK_IDS = "bookmark_ids"
BOOKMARK_VERSION = "bookmark_version"
SKIPPED_SAID = "skipped_said"
MAX_SKIPPED_SAID = 100  # a state stays small whatever a document holds
#: How many projects may wait downloaded per download thread (the rest wait their turn unasked).
DOWNLOAD_WINDOW_PER_THREAD = 4


@dataclass(frozen=True)
class Mark:
    """What one stream landed of one project in earlier runs."""

    when: dt.datetime | None  # its bookmark: the newest version landed
    ids: frozenset[str] = frozenset()  # the versions landed that were published at ``when``
    version: object = None  # the `version` number of the newest landed, if the state has it

    def is_new(self, version_id: str, published: dt.datetime) -> bool:
        if self.when is None or published > self.when:
            return True
        return published == self.when and version_id not in self.ids


@dataclass
class Landing:
    """What one stream lands of one project in this run: its newest versions."""

    newest: dt.datetime | None = None
    newest_text: str | None = None  # as the records (and so the state) write it
    ids: set[str] = field(default_factory=set)
    version: object = None

    def land(self, version: PublishedVersion) -> None:
        if self.newest is None or version.published > self.newest:
            self.newest, self.newest_text = version.published, version.record["publishedAt"]
            self.ids, self.version = set(), None
        if version.published == self.newest:
            self.ids.add(version.id)
            number = version.record.get("version")
            if isinstance(number, int) and (
                not isinstance(self.version, int) or number > self.version
            ):
                self.version = number


@dataclass
class ProjectPlans:
    """One project in this run: its downloads, its streams' marks, what they land."""

    download: ProjectDownload
    marks: dict[Stream, Mark]
    landing: dict[Stream, Landing]
    skipped: set[str] = field(default_factory=set)  # entries skipped in its document


@dataclass
class PlansRun:
    fed: list[Stream]
    projects: dict[str, ProjectPlans]
    pool: DownloadPool
    workers: int
    written: int = 0  # projects written, well or not


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
