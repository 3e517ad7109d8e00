"""Published-plans documents downloaded ahead by a few threads (the server takes its time building
each), read and written on the main thread one project after another, as without threads. Answers
are spooled to disk (memory grows with the threads, not the portfolio); a window of projects ahead
keeps a slow one at the head of the line from filling the disk."""

from __future__ import annotations

import collections
import functools
import tempfile
import threading
import time
import typing as t
from dataclasses import dataclass, field

import requests
import urllib3

from tap_aphex import sdk_seam
from tap_aphex.client import CHUNK
from tap_aphex.report import AphexError
from tap_aphex.signals import for_worker_thread, held
from tap_aphex.streams.plan_document import VersionScan
from tap_aphex.streams.plan_progress import Step
from tap_aphex.streams.plan_report import plural, say_asking_again, server_fails

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from tap_aphex.client import AphexStream
    from tap_aphex.streams.plan_document import DocumentReader, PublishedVersion
    from tap_aphex.streams.plan_progress import ProjectRead

#: How many projects may wait downloaded per download thread (the rest wait their turn unasked).
DOWNLOAD_WINDOW_PER_THREAD = 4
#: How long a blocked wait sleeps before it looks again (a signal is handled between waits).
POLL_SECONDS = 0.2


class Cancelled(Exception):
    """The run is ending: a download thread stops where it is."""


class CutShort(Exception):
    """An answer that broke off: the reader goes on to the one asked again (`_receive`)."""


class ResponseTooLarge(AphexError):
    """HTTP 500 from a project: the vendor's advice for its 32 MB limit is to ask for less."""


class Spool:
    """One response body in a temporary file, read by the main thread as it is written."""

    def __init__(self, headers: t.Mapping[str, str]) -> None:
        self._file = tempfile.TemporaryFile(buffering=0)  # noqa: SIM115  # closed in `close`
        self._changed = threading.Condition()
        self._size = self._position = 0
        self._ended = False
        self._error: BaseException | None = None
        self.headers = headers  # its Content-Type says how to decode the body (`decoding`)

    def write(self, data: bytes) -> None:
        with self._changed:
            if self._file.closed:
                raise Cancelled
            self._file.seek(self._size)
            self._file.write(data)
            self._size += len(data)
            self._changed.notify_all()

    def end(self, error: BaseException | None = None) -> None:
        """The body is whole, or ``error`` cut it short (the reader raises it)."""
        with self._changed:
            if not self._ended:
                self._ended, self._error = True, error
                self._changed.notify_all()

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes, waiting for them to arrive (`decoding.FilteredBody` asks)."""
        with self._changed:
            while self._position >= self._size and not self._ended and not self._file.closed:
                with held:  # (`Held`: an interrupt in a wait)
                    self._changed.wait(POLL_SECONDS)
            if self._file.closed:
                raise Cancelled
            if self._position < self._size:
                left = self._size - self._position
                self._file.seek(self._position)
                data = self._file.read(min(size, left)) or b""
                self._position += len(data)
                return data
            if self._error is not None:
                raise self._error
            return b""

    def close(self) -> None:
        with self._changed:
            self._file.close()  # again, when already closed, does nothing
            self._changed.notify_all()


@dataclass
class ProjectDownload:
    """One project's asks in this run, shared by its download thread and the main thread."""

    read: ProjectRead  # its policy, the step it is at, what it landed
    context: dict[str, t.Any]
    order: int  # its place in the run (1 = first), for the log
    answers: list[Spool] = field(default_factory=list)  # each 200 answer's body, in order
    error: BaseException | None = None  # what ended its asks early (an HTTP failure, say)
    finished: bool = False
    failed: bool = False  # its read failed after the download (a page, a broken document)
    started: float | None = None  # time.monotonic() when its first ask went out
    seconds: float = 0.0  # from its first ask to its last answer's last byte
    requests: int = 0
    bytes: int = 0
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _taken: int = -1  # the index of the answer the main thread took last

    def answer(self, headers: t.Mapping[str, str]) -> Spool:
        """A new 200 answer, readable at once; it supersedes (closes) those not taken yet."""
        spool = Spool(headers)
        with self._changed:
            for superseded in self.answers[self._taken + 1 :]:
                superseded.close()
            self.answers.append(spool)
            self._changed.notify_all()
        return spool

    def finish(self, error: BaseException | None = None) -> None:
        with self._changed:
            self.finished, self.error = True, error
            for spool in self.answers:
                spool.end(error)  # the one cut short raises it when read
            self._changed.notify_all()

    def next_body(self) -> Spool | None:
        """The newest answer not read yet (waiting for one); None, or their error, when done."""
        with self._changed:
            while len(self.answers) - 1 == self._taken:
                if self.finished:
                    if self.error is not None:
                        raise self.error
                    return None
                with held:  # (`Held`: an interrupt in a wait)
                    self._changed.wait(POLL_SECONDS)
            self._taken = len(self.answers) - 1
            return self.answers[self._taken]

    def discard(self) -> None:
        with self._changed:
            for spool in self.answers:
                spool.close()


class PlansRun:
    """This run's downloads of every project, started on the first project's turn."""

    def __init__(
        self, stream: AphexStream, reader: DocumentReader, reads: dict[str, ProjectRead]
    ) -> None:
        self.stream, self.reader = stream, reader
        self.projects = {
            account: ProjectDownload(read, {"accountId": account}, order)
            for order, (account, read) in enumerate(reads.items(), start=1)
        }
        self.workers = int(stream.config["max_parallel_projects"])  # the SDK fills in defaults
        self.written = 0  # projects written, well or not
        self._queue = collections.deque(self.projects.values())
        self._lock = threading.Lock()  # the queue's
        # A place per project started and not yet done with by the main thread.
        self._window = threading.Semaphore(DOWNLOAD_WINDOW_PER_THREAD * self.workers)
        self.stop = threading.Event()
        for n in range(min(self.workers, len(self.projects))):
            with held:  # `start` waits on a Condition too
                threading.Thread(target=self._work, name=f"plans-{n + 1}", daemon=True).start()

    def versions(self, download: ProjectDownload) -> Iterator[PublishedVersion]:
        """Every new version in the project's answers, each once (a grown answer repeats some)."""
        read, handed = download.read, set()
        while (body := download.next_body()) is not None:
            try:
                grows = t.cast("t.IO[bytes]", body)  # a file-like that ijson reads as it grows
                for version in self.reader.versions(grows, read.label, read=read):
                    if version is not None and version.id not in handed:
                        handed.add(version.id)
                        yield version
                    del version  # one version in memory at a time: not this one during the next
            except CutShort:
                continue  # its whole versions are out; the answer asked again has the rest
            finally:
                body.close()

    def written_one(self, download: ProjectDownload) -> None:
        """A project is written (well or not): its place in the window goes to the next one."""
        download.discard()
        self._window.release()
        self.written += 1
        if self.written == len(self.projects):
            self.end(interrupted=False)

    def end(self, *, interrupted: bool) -> None:
        """Every download ends; a run that wrote them all says how long they took."""
        self.stop.set()
        with self._lock:
            for download in self._queue:
                download.finish(Cancelled())  # never asked: nobody is to wait for it
            self._queue.clear()
        for download in self.projects.values():
            download.discard()
        done = [d for d in self.projects.values() if d.finished and not (d.error or d.failed)]
        if interrupted or not done:
            return
        begun = min(t.cast("float", d.started) for d in done)
        ended = max(t.cast("float", d.started) + d.seconds for d in done)
        slowest = sorted(done, key=lambda d: d.seconds, reverse=True)[:3]  # named in the summary
        named = ", ".join(f"{d.read.label} ({d.seconds:.2f} s)" for d in slowest)
        line = (
            f"published plans: {plural(len(done), 'project')} downloaded in "
            f"{ended - begun:.2f} s, up to {self.workers} at a time; slowest: {named}"
        )
        self.stream.logger.debug("%s", line)
        self.stream.report.notes.append(line)

    def _work(self) -> None:
        """A download thread: the next project in order, when the window has room for it."""
        for_worker_thread()  # SIGINT and SIGTERM are the main thread's (tap_aphex.signals)
        with self.stream.requests_session:  # this thread's own, closed when the thread ends
            while not self.stop.is_set():
                if not self._window.acquire(timeout=POLL_SECONDS):
                    continue  # no room yet: the stop is looked at again
                with self._lock:
                    if self.stop.is_set() or not self._queue:
                        return
                    download = self._queue.popleft()
                try:
                    self._download(download)
                except BaseException as error:  # handed to the main thread, which says it
                    download.finish(error)

    def _download(self, download: ProjectDownload) -> None:
        """Ask one project as often as its `LimitPolicy` says, each answer spooled and scanned."""
        stream, read = self.stream, download.read
        send = sdk_seam.request_sender(stream, functools.partial(self._receive, download))
        download.started = time.monotonic()
        stream.logger.info(
            f"Project {read.label}: requesting its published plans (project {download.order} of "
            f"{len(self.projects)}, limit={read.policy.limit})."
        )
        try:
            while True:
                if self.stop.is_set():
                    raise Cancelled
                context = {**download.context, "limit": read.policy.limit}
                try:
                    scan = send(sdk_seam.prepared_request(stream, context), context)
                except ResponseTooLarge:
                    read.step = read.policy.after_server_error()
                else:
                    read.answered(scan)
                if read.step is Step.FAILED:  # the project's read ends; its bookmarks stay
                    raise AphexError(server_fails(read))
                if read.step not in (Step.RETRY, Step.SHRINK, Step.GROW):
                    break  # back far enough, or as far as it can (`say_how_far` says which)
                say_asking_again(stream.logger, read)
        finally:  # on a failure too: `_work` hands it to the main thread
            download.seconds = time.monotonic() - download.started
        stream.logger.info(
            f"Project {read.label}: answered in {download.seconds:.2f} s "
            f"({plural(download.requests, 'request')}, {download.bytes / 1e6:.1f} MB)."
        )
        download.finish()

    def _receive(
        self, download: ProjectDownload, send: t.Callable[[], requests.Response]
    ) -> VersionScan:
        """One try: a 200 answer spooled (the main thread reads it as it grows) and scanned. One
        cut short ends as `CutShort` (the reader goes on to the answer asked again) and is raised
        as requests words it, so that the SDK's retries ask again."""
        download.requests += 1  # each try, a retry's too
        with (response := send()):  # closed on any failure too (a charset nobody reads, say)
            spool = download.answer(response.headers)
            scan = VersionScan(response.headers.get("Content-Type"))
            try:
                for chunk in response.iter_content(CHUNK):  # gzip undone; errors as requests'
                    if self.stop.is_set():
                        raise Cancelled
                    spool.write(chunk)
                    scan.feed(chunk)
                    download.bytes += len(chunk)
            except (requests.RequestException, urllib3.exceptions.HTTPError) as error:
                spool.end(CutShort())
                if not isinstance(error, requests.RequestException):  # not `iter_content`'s
                    raise requests.ConnectionError(error, request=response.request) from error
                error.request = error.request or response.request  # its words name the URL
                raise  # retried, as a timeout (ResponseTooSlow) is
        scan.feed(None)
        spool.end()
        return scan
