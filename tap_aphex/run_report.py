"""What one run did, collected as it goes: failures, why each stream stopped, where it resumes.

Streams are given the run's `RunReport` when they are made and tell it what happened; the tap
turns it into the closing summary and, when something failed, the exit status. Nothing here holds
a secret: callers pass only text that is safe to print.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import signal
import sys
import typing as t
from collections import Counter
from dataclasses import dataclass, field

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib import RecordMessage
from typing_extensions import override

from tap_aphex.errors import describe

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.singerlib.encoding.simple import Message


class StopReason(str, enum.Enum):
    """Why a stream (or a project) stopped reading; the closing summary says it in these words."""

    END_OF_LOG = "end of the log"
    DAILY_LIMIT = "daily limit (HTTP 503)"
    MAX_EVENTS = "max_events_per_run reached"
    UP_TO_DATE = "up to date"
    FAILURE = "failure"
    INTERRUPTED = "interrupted"


@dataclass
class StreamStop:
    reason: StopReason
    resume_at: str | None  # where the next run starts, in words safe to log
    part: bool = False  # one part of a stream (a project): its records are counted on the stream


@dataclass
class RunReport:
    """The run's account of itself; one per `TapAphex` run."""

    failures: list[str] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)  # behind `failures`, in the same order
    stops: dict[str, StreamStop] = field(default_factory=dict)
    records_sent: Counter[str] = field(default_factory=Counter)

    def failed(self, what: str, error: Exception, logger: logging.Logger) -> None:
        """A failure that ends one stream or one project; the rest of the run still lands."""
        message = f"{what}: {describe(error)}"
        logger.error("%s", message)
        self.failures.append(message)
        self.errors.append(error)

    def stopped(
        self, stream: str, reason: StopReason, resume_at: str | None, *, part: str = ""
    ) -> None:
        """How ``stream`` (or one ``part`` of it, e.g. a project) ended, and where it resumes."""
        name = f"{stream} ({part})" if part else stream
        self.stops[name] = StreamStop(reason, resume_at, part=bool(part))

    def clear(self) -> None:
        self.failures.clear()
        self.errors.clear()
        self.stops.clear()
        self.records_sent.clear()

    def summary(self) -> list[str]:
        """The closing lines: per stream, the records sent, why it stopped, where it resumes."""
        names = list(dict.fromkeys([*self.records_sent, *self.stops]))
        lines = []
        for name in names:
            stop = self.stops.get(name)
            # A stream's line counts its records; a part's (a project's) says only how it ended.
            sent = "" if stop and stop.part else f"{self.records_sent[name]:,} records sent"
            line = f"{name}: {sent}"
            if stop:
                line += f"{'; ' if sent else ''}stopped: {stop.reason.value}"
                if stop.resume_at:
                    line += f"; the next run resumes {stop.resume_at}"
            lines.append(line)
        if self.failures:
            lines.append(f"{len(self.failures)} failure(s): " + " | ".join(self.failures))
        return lines or ["nothing was selected, or nothing was new"]


#: RECORD lines held before they are written: a pipe's capacity on Linux, so a write fits into a
#: pipe its reader has emptied without waiting, and there are 8x fewer writes than stdout's 8 KiB
#: buffer makes (larger writes cost less CPU still, but wait for the reader more often).
RECORD_BYTES_HELD = 64 * 1024


class CountingWriter(MsgSpecWriter):
    """The SDK's msgspec writer (issue 8), counting the RECORD messages written, per stream.

    By hand because the SDK's writer flushes stdout after every message (one write per record),
    and stdout's own buffer writes every 8 KiB: here RECORD lines are held and written 64 KiB at
    a time, and the next other message (a STATE, a SCHEMA) writes and flushes them first, so
    no STATE reaches the target ahead of its records. Records still held when a run ends without
    a STATE after them (an interrupt) are not written: no STATE points past them, so the next run
    reads them again. Lines being written go out whole: a signal waits for the write to end.
    """

    def __init__(self, report: RunReport) -> None:
        super().__init__()
        self._sent = report.records_sent
        self._held = bytearray()  # RECORD lines not yet written
        self._held_per_stream: Counter[str] = Counter()

    @override
    def write_message(self, message: Message) -> None:
        line = self.format_message(message)  # the SDK reuses this buffer for the next message
        if isinstance(message, RecordMessage):
            if len(self._held) + len(line) > RECORD_BYTES_HELD:
                self._write_held()
            self._held += line
            self._held_per_stream[message.stream] += 1
            return
        self._write_held()
        with _signals_held():
            sys.stdout.buffer.write(line)
            sys.stdout.flush()

    def _write_held(self) -> None:
        if self._held:
            with _signals_held():  # counted before a held signal can interrupt the count
                sys.stdout.buffer.write(self._held)  # more than stdout buffers: one write, at once
                self._held.clear()
                self._sent.update(self._held_per_stream)
                self._held_per_stream.clear()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the lines being written are out whole.

    A handler that raises in the middle of a write to a slow reader would leave half a line on
    stdout, which the target cannot parse. Held, the signal interrupts the run right after.
    """
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks
        yield
        return
    signals = {signal.SIGINT, signal.SIGTERM}
    held_before = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held_before)
