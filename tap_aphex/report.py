"""What one run did, collected as it goes: failures, why each stream stopped, where it resumes.

Streams are given the run's `RunReport` when they are made and tell it what happened; the tap
turns it into the closing summary and, when something failed, the exit status. Nothing here holds
a secret: callers pass only text that is safe to print.
"""

from __future__ import annotations

import enum
import logging
import sys
import typing as t
from collections import Counter
from dataclasses import dataclass, field

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib import RecordMessage
from typing_extensions import override

from tap_aphex.cli import held
from tap_aphex.errors import describe

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.encoding.simple import Message


class StopReason(str, enum.Enum):
    """Why a stream (or a project) stopped reading; the closing summary says it in these words."""

    END_OF_LOG = "end of the log"
    DAILY_LIMIT = "daily limit (HTTP 503)"
    MAX_EVENTS = "max_events_per_run reached"
    UP_TO_DATE = "up to date"
    VERSIONS_MISSING = "versions missing (see its WARNING)"
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
    notes: list[str] = field(default_factory=list)  # more closing lines (e.g. the slowest projects)

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
        self.notes.clear()

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
        lines += self.notes
        if self.failures:
            lines.append(f"{len(self.failures)} failure(s): " + " | ".join(self.failures))
        return lines or ["nothing was selected, or nothing was new"]


class RecordCounting:
    """The one counting rule of both protocols' writers: a RECORD counts for its stream once its
    line is written, in the run's `RunReport.records_sent` (the summary's "records sent").

    Singer's writer is given the report when the tap makes it; Airbyte's is made before the tap
    (the tap takes it as an argument), so it is handed the tap's report right after.
    """

    def __init__(self) -> None:
        super().__init__()
        self._sent: Counter[str] = Counter()  # until `count_into`: counted, but reported nowhere

    def count_into(self, report: RunReport) -> None:
        """Count into ``report`` (its Counter, which `RunReport.clear` empties in place)."""
        self._sent = report.records_sent


class CountingWriter(RecordCounting, MsgSpecWriter):
    """The SDK's msgspec writer, counting the RECORD messages written per stream (the summary's
    "records sent"); each line is written whole even when a signal comes (`signals.held`).

    By hand because the SDK's flushes stdout after every message, one system call per record:
    here RECORD lines wait in stdout's buffer, and every other message (a STATE, a SCHEMA) is
    flushed together with the records before it, so no STATE reaches the target ahead of them.
    """

    def __init__(self, report: RunReport) -> None:
        super().__init__()
        self.count_into(report)

    @override
    def write_message(self, message: Message) -> None:
        line = self.format_message(message)
        with held:
            sys.stdout.buffer.write(line)
            if isinstance(message, RecordMessage):
                self._sent[message.stream] += 1
            else:
                sys.stdout.flush()
