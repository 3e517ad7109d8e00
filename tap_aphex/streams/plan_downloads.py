"""Published-plans documents downloaded ahead, several projects at a time, read one at a time.

This module owns a run's downloads: which projects are asked, in which threads, with which
requests, and how the main thread reads their answers back. The server takes its time building
each project's document, so the downloads run in a few threads (`max_parallel_projects`), while
parsing and writing stay on the main thread, one project after another (records, then its
STATE): what reaches the target, and where a kill can leave the bookmarks, is exactly what it was
with one project at a time.

- A download thread takes the next project in order and asks it as often as its `LimitPolicy`
  says (a first run grows `limit`), so a project's follow-up asks wait for no other project.
  Each answer is spooled and scanned as it arrives (`plan_answers`): memory grows with the
  number of threads, not with the portfolio.
- At most `window` projects are downloaded ahead of the one being written, so that a slow
  project at the head of the line cannot fill the disk with the rest of a large portfolio.
- `DownloadPool.close` (the run ends or is interrupted) drops what is queued, closes what is
  open and waits for nothing: the threads are daemons and hold no state of the run.
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
import time
import typing as t
from dataclasses import dataclass

import requests
from singer_sdk.streams.rest import PageContext

from tap_aphex.cli import for_worker_thread
from tap_aphex.client import CHUNK
from tap_aphex.settings import project_label
from tap_aphex.streams import plan_history
from tap_aphex.streams.plan_answers import POLL_SECONDS, Cancelled, ProjectDownload, VersionScan
from tap_aphex.streams.plan_bookmarks import Landing, ProjectPlans, read_mark, said_skips
from tap_aphex.streams.plan_document import VERSIONS_KEY
from tap_aphex.streams.plan_history import LimitPolicy, ProjectRead, Step

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from singer_sdk.helpers.types import Context
    from singer_sdk.streams import Stream

    from tap_aphex.streams.plan_document import DocumentReader, PublishedVersion
    from tap_aphex.streams.published_plans import PublishedPlansStream

#: How many projects may wait downloaded per download thread (the rest wait their turn unasked).
DOWNLOAD_WINDOW_PER_THREAD = 4


class ResponseTooLarge(Exception):
    """HTTP 500 from a project: the vendor's advice for its 32 MB limit is to ask for less."""


class DownloadPool:
    """Daemon threads downloading projects in order, at most ``workers`` at a time."""

    def __init__(
        self,
        downloads: list[ProjectDownload],
        fetch: Callable[[ProjectDownload, threading.Event], None],
        *,
        workers: int,
        window: int,
        thread_done: Callable[[], None] = lambda: None,
    ) -> None:
        self._queue = collections.deque(downloads)
        self._fetch = fetch
        self._thread_done = thread_done  # e.g. close the thread's HTTP session
        self._window = max(window, workers)
        self._ahead = 0  # projects started and not yet done with by the main thread
        self._lock = threading.Condition()
        self.stop = threading.Event()
        self.started = time.monotonic()
        self._threads = [
            threading.Thread(target=self._work, name=f"plans-download-{n + 1}", daemon=True)
            for n in range(min(workers, len(downloads)))
        ]
        for thread in self._threads:
            thread.start()

    def done_with(self, download: ProjectDownload) -> None:
        """The main thread has written ``download``'s project: a place in the window frees."""
        download.discard()
        with self._lock:
            self._ahead -= 1
            self._lock.notify_all()

    def close(self) -> None:
        """Stop at once: queued projects are dropped, open bodies closed; nothing is awaited."""
        self.stop.set()
        with self._lock:
            dropped = list(self._queue)
            self._queue.clear()
            self._lock.notify_all()
        for download in dropped:
            download.finish(Cancelled())

    def _work(self) -> None:
        for_worker_thread()  # SIGINT and SIGTERM are the main thread's (tap_aphex.cli)
        try:
            self._work_through_queue()
        finally:
            self._thread_done()

    def _work_through_queue(self) -> None:
        while not self.stop.is_set():
            with self._lock:
                while self._ahead >= self._window and not self.stop.is_set():
                    self._lock.wait(POLL_SECONDS)
                if self.stop.is_set() or not self._queue:
                    return
                download = self._queue.popleft()
                self._ahead += 1
            try:
                self._fetch(download, self.stop)
            except BaseException as error:  # handed to the main thread to say
                download.finish(error)


@dataclass
class PlansRun:
    """This run's downloads of every project, and how many the main thread has written."""

    stream: PublishedPlansStream
    fed: list[Stream]
    projects: dict[str, ProjectPlans]
    pool: DownloadPool
    workers: int
    written: int = 0  # projects written, well or not

    def versions(self, project: ProjectPlans) -> Iterator[PublishedVersion]:
        """Every new version in the project's answers, each once (a grown answer holds the last)."""
        read, download = project.download.read, project.download
        handed: set[str] = set()
        said = said_skips(self.stream, project)
        reader: DocumentReader = self.stream.reader

        def is_new(version_id: str, published: dt.datetime) -> bool:
            return any(mark.is_new(version_id, published) for mark in project.marks.values())

        while (body := download.next_body()) is not None:
            try:
                for version in reader.versions(
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

    def written_one(self, download: ProjectDownload) -> None:
        """A project is written (well or not): its place in the window goes to the next one."""
        self.pool.done_with(download)
        self.written += 1
        if self.written == len(self.projects):
            self.end(interrupted=False)

    def end(self, *, interrupted: bool) -> None:
        """Every download ends; a run that wrote them all says how long they took."""
        self.pool.close()
        for project in self.projects.values():
            project.download.discard()
        if not interrupted:
            downloads = [project.download for project in self.projects.values()]
            logger = self.stream.logger
            if note := plan_history.downloads_summary(logger, downloads, self.workers):
                self.stream.report.notes.append(note)


class ThreadSessions:
    """One HTTP session per download thread, with the response hook of the stream's own.

    `requests.Session` is not promised to be thread-safe (its connection pool and cookies are
    shared state), so a download thread never uses the main thread's.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def session(self, hook: Callable[..., t.Any]) -> requests.Session:
        own: requests.Session | None = getattr(self._local, "session", None)
        if own is None:
            own = self._local.session = requests.Session()
            own.hooks["response"].append(hook)
        return own

    def close(self) -> None:
        """A download thread's last act: its session's connections closed, not left to the GC."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is not None:
            session.close()
            self._local.session = None


def start_downloads(stream: PublishedPlansStream) -> PlansRun:
    """This run's downloads of every project, started on the first project's turn."""
    fed = [s for s in (stream, *stream.child_streams) if s.selected]
    projects: dict[str, ProjectPlans] = {}
    for order, partition in enumerate(stream.partitions, start=1):
        label = project_label(stream.project(partition))
        marks = {s: read_mark(stream.logger, s, partition, label) for s in fed}
        known = [mark for mark in marks.values() if mark.when is not None]
        # Every selected stream has a bookmark: read back to the oldest; else everything.
        oldest = None
        if fed and len(known) == len(fed):
            oldest = min(known, key=lambda mark: t.cast("dt.datetime", mark.when))
        read = ProjectRead(
            label,
            oldest.when if oldest else None,
            LimitPolicy(stream.configured_limit),
            bookmark_version=oldest.version if oldest else None,
        )
        download = ProjectDownload(read, dict(partition), order=order)
        landing = {s: Landing() for s in fed}
        projects[partition["accountId"]] = ProjectPlans(download, marks, landing)
    workers = stream.parallel_projects

    def fetch(download: ProjectDownload, stop: threading.Event) -> None:
        download_project(stream, download, stop)

    pool = DownloadPool(
        [project.download for project in projects.values()],
        fetch,
        workers=workers,
        window=DOWNLOAD_WINDOW_PER_THREAD * workers,
        thread_done=stream.thread_sessions.close,
    )
    return PlansRun(stream, fed, projects, pool, workers)


def download_project(
    stream: PublishedPlansStream, download: ProjectDownload, stop: threading.Event
) -> None:
    """In a download thread: ask one project as often as its `LimitPolicy` says.

    Every ask goes through the SDK's request path (`PublishedPlansStream.request_with_retries`),
    on this thread's own session. Each 200 answer is spooled as it arrives and scanned on the way
    to decide the next ask; the main thread reads the spool meanwhile (`next_body`).
    """
    read = download.read
    decorated = stream.request_with_retries()
    download.started = time.monotonic()
    plan_history.download_started(stream.logger, download, len(stream.partitions))
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
                response = decorated(prepared_request(stream, context), context)
            except ResponseTooLarge:
                read.step = read.policy.after_server_error()
            else:
                spool = download.answer()
                spool.headers = response.headers
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
                read.step = next_step(read, scan)
            if not plan_history.ask_again(stream.logger, read, received):
                break
    except BaseException as error:  # handed to the main thread, which says it
        if spool is not None:
            spool.end(error)
        download.seconds = time.monotonic() - download.started
        download.finish(error)
        return
    download.seconds = time.monotonic() - download.started
    plan_history.download_ended(stream.logger, download)
    download.finish()


def next_step(read: ProjectRead, scan: VersionScan) -> Step:
    """What the project's policy says after an answer the download thread scanned."""
    if not scan.readable:
        return Step.DONE  # not the document: the reader says what is wrong, once
    bookmark, answered = read.oldest_bookmark, scan.oldest
    if bookmark is None or answered is None:  # nothing to reach back to, or nothing placed
        return read.policy.after_response(scan.received, reached_back=False)
    reached_back = answered <= bookmark
    return read.policy.after_response(
        scan.received, reached_back=reached_back, short_of=not reached_back
    )


def prepared_request(stream: PublishedPlansStream, context: Context) -> requests.PreparedRequest:
    """The request `get_http_request` describes, prepared as the SDK's request path does."""
    page = PageContext(stream_context=context, next_page_token=None)
    request = stream.get_http_request(page=page)
    return stream.build_prepared_request(
        method=request.method,
        url=request.url,
        params=request.encode_params(),
        headers=request.headers,
    )
