"""A project's answers: each response body spooled to disk as it arrives, and scanned on the way.

This module owns what passes between a download thread and the main thread for one project
(`ProjectDownload`): each 200 answer is written to a temporary file as it arrives (`Spool`),
never held as Python objects, and the main thread parses it from there, while it is still
arriving if that project's turn has come; a light token scan of the same bytes (`VersionScan`,
no value built) tells the download thread how many versions were answered and how far back they
reach, which is all it needs to decide the project's next ask. `plan_downloads` runs the threads.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import threading
import typing as t
from dataclasses import dataclass, field

import ijson

from tap_aphex.schemas import epoch_to_rfc3339, rfc3339_to_datetime

if t.TYPE_CHECKING:
    from tap_aphex.streams.plan_history import ProjectRead

#: How long a blocked wait sleeps before it looks again (a signal is handled between waits).
POLL_SECONDS = 0.2


class Cancelled(Exception):
    """The run is ending: a download thread stops where it is."""


class Spool:
    """One response body: written by a download thread, read by the main thread as it grows.

    A plain temporary file (on disk, in TMPDIR), one descriptor shared under a lock: the writer
    appends, the reader reads from its own position and waits when it has caught up.
    """

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(buffering=0)  # noqa: SIM115  # closed in `close`
        self._changed = threading.Condition()
        self._size = 0
        self._position = 0
        self._ended = False
        self._error: BaseException | None = None
        self.closed = False
        #: The response's headers: its Content-Type says how to decode the body (`decoding`).
        self.headers: t.Mapping[str, str] = {}

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes) -> None:
        with self._changed:
            if self.closed:
                raise Cancelled
            self._file.seek(self._size)
            self._file.write(data)
            self._size += len(data)
            self._changed.notify_all()

    def end(self, error: BaseException | None = None) -> None:
        """No more bytes: the body is whole, or ``error`` cut it short (the reader raises it)."""
        with self._changed:
            self._ended, self._error = True, error
            self._changed.notify_all()

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that is left if negative), waiting for them to arrive."""
        if size == 0:
            return b""
        with self._changed:
            while self._position >= self._size and not self._ended and not self.closed:
                self._changed.wait(POLL_SECONDS)
            if self.closed:
                raise Cancelled
            if self._position < self._size:
                left = self._size - self._position
                self._file.seek(self._position)
                data = self._file.read(left if size < 0 else min(size, left)) or b""
                self._position += len(data)
                return data
            if self._error is not None:
                raise self._error
            return b""

    def close(self) -> None:
        with self._changed:
            if not self.closed:
                self.closed = True
                self._file.close()
                self._changed.notify_all()


class VersionScan:
    """Counts a published-plans document's versions as its bytes pass, and finds its oldest.

    A token scan (ijson's basic events: no prefixes, no values built beyond scalars), done by the
    download thread so that it can decide the project's next ask without the main thread. It
    applies the reader's rules for a version it can place: an id (string or integer) and an
    epoch `publishedAt`; every entry counts against `limit`, as the reader counts them.
    """

    def __init__(self, versions_key: str) -> None:
        self._key = versions_key
        self._events: list[tuple[str, t.Any]] = ijson.sendable_list()
        self._parser = ijson.basic_parse_coro(self._events, use_float=True)
        self._depth = 0
        self._top_key: str | None = None
        self._in_versions = False
        self._item_key: str | None = None
        self._item: dict[str, t.Any] | None = None
        self.received = 0
        self.oldest: dt.datetime | None = None  # of the versions that can be placed
        self.readable = True  # False: not JSON; the reader will say what is wrong

    def feed(self, chunk: bytes) -> None:
        if not self.readable:
            return
        try:
            self._parser.send(chunk)
        except ijson.JSONError:
            self.readable = False
        self._walk()

    def close(self) -> None:
        if self.readable:
            try:
                self._parser.close()
            except ijson.JSONError:
                self.readable = False
            self._walk()

    def _walk(self) -> None:
        for event, value in self._events:
            depth = self._depth
            if event in ("start_map", "start_array"):
                self._depth += 1
            elif event in ("end_map", "end_array"):
                self._depth -= 1
            if depth == 1 and event == "map_key":
                self._top_key = value
            elif depth == 1 and event == "start_array":
                self._in_versions = self._top_key == self._key
            elif depth == 2 and self._in_versions and event not in ("end_map", "end_array"):
                self.received += 1  # an entry of the versions list, whatever it is
                self._item = {} if event == "start_map" else None
            elif depth == 3 and self._item is not None:
                if event == "map_key":
                    self._item_key = value
                elif event in ("string", "number", "boolean", "null"):
                    self._item[str(self._item_key)] = (event, value)
                elif event == "end_map":
                    self._place(self._item)
                    self._item = None
            if depth == 2 and event == "end_array":
                self._in_versions = False
        del self._events[:]

    def _place(self, item: dict[str, t.Any]) -> None:
        kind, value = item.get("id", (None, None))
        if not (kind == "string" or (kind == "number" and isinstance(value, int))):
            return
        kind, value = item.get("publishedAt", (None, None))
        text = epoch_to_rfc3339(value) if kind == "number" else None
        when = rfc3339_to_datetime(text) if text else None
        if when is not None and (self.oldest is None or when < self.oldest):
            self.oldest = when


@dataclass
class ProjectDownload:
    """One project's asks in this run, shared by its download thread and the main thread."""

    read: ProjectRead  # the project's read: its policy, the step it is at, what it landed
    context: dict[str, t.Any]
    order: int = 0  # its place in the run (1 = first), for the log
    answers: list[Spool] = field(default_factory=list)  # each 200 answer's body, in order
    error: BaseException | None = None  # what ended its asks early (an HTTP failure, say)
    finished: bool = False
    started: float | None = None  # time.monotonic() when its first ask went out
    seconds: float = 0.0  # from its first ask to its last answer's last byte
    requests: int = 0
    bytes: int = 0
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _taken: int = -1  # the index of the answer the main thread took last

    # --- the download thread's side

    def answer(self) -> Spool:
        """A new 200 answer, readable at once; older ones not taken yet are superseded."""
        spool = Spool()
        with self._changed:
            for index in range(self._taken + 1, len(self.answers)):
                self.answers[index].close()  # a larger ask answered: its body holds theirs
            self.answers.append(spool)
            self._changed.notify_all()
        return spool

    def finish(self, error: BaseException | None = None) -> None:
        with self._changed:
            self.finished, self.error = True, error
            self._changed.notify_all()

    # --- the main thread's side

    def next_body(self) -> Spool | None:
        """The newest answer not read yet (waiting for one); None when the asks are over.

        An answer that a later, larger one supersedes before its turn is skipped: that one
        holds its versions. The error that ended the asks, if any, is raised after every body.
        """
        with self._changed:
            while True:
                if len(self.answers) - 1 > self._taken:
                    for index in range(self._taken + 1, len(self.answers) - 1):
                        self.answers[index].close()
                    self._taken = len(self.answers) - 1
                    return self.answers[self._taken]
                if self.finished:
                    if self.error is not None:
                        raise self.error
                    return None
                self._changed.wait(POLL_SECONDS)

    def discard(self) -> None:
        with self._changed:
            for spool in self.answers:
                spool.close()
