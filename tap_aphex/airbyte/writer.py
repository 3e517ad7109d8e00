"""The SDK's message-writer seam: the tap's Singer messages in, Airbyte messages out.

`TapAphex` is given an `AirbyteMessageWriter` (`message_writer=`, the instance form of
`Tap.message_writer_class`), so every message of a run passes through `write_message` here:
RECORD -> RECORD, STATE -> the per-stream STATEs that moved, SCHEMA -> the stream's STARTED
status. Nothing in the streams knows which protocol they speak.
"""

from __future__ import annotations

import logging
import time
import typing as t
from collections import Counter

from singer_sdk.singerlib import (
    Message,
    RecordMessage,
    SchemaMessage,
    SingerMessageType,
    StateMessage,
)
from singer_sdk.singerlib.encoding import GenericSingerWriter
from typing_extensions import override

from tap_aphex.airbyte.catalog import (
    AIRBYTE_DELETED_AT,
    LOG_ORDERED_STREAMS,
    LOG_SEQUENCE,
    SINGER_DELETED_AT,
)
from tap_aphex.airbyte.output import (
    AirbyteOutput,
    record_message,
    state_message,
    stream_status_trace,
)
from tap_aphex.airbyte.state import StreamStates
from tap_aphex.report import AphexError, RecordCounting

if t.TYPE_CHECKING:
    from collections.abc import Iterable

LOGGER = logging.getLogger("tap-aphex")


class BatchNotSupportedError(AphexError):
    """BATCH messages have no Airbyte counterpart."""


class AirbyteMessageWriter(RecordCounting, GenericSingerWriter[bytes, Message]):
    """Translates the tap's messages as they are written, in order, onto an `AirbyteOutput`.

    Each RECORD written counts for its stream in the run's report (`count_into`), by the same
    rule as Singer's writer, so the closing summary says what went out under either protocol.
    Only the configured catalog's streams get records: any other (a parent stream read for its
    children but not selected, say) is dropped, with one WARNING.
    """

    def __init__(self, output: AirbyteOutput, streams: Iterable[str] | None = None) -> None:
        super().__init__()
        self._output = output
        self._configured = frozenset(streams) if streams is not None else None
        self._dropped: set[str] = set()  # unconfigured streams already warned about
        self._started: list[str] = []  # streams whose STARTED status went out, in order
        self._running: set[str] = set()
        self._records_since_state: Counter[str] = Counter()  # per stream
        self._states = StreamStates()
        self._sequence = 0  # the last LOG_SEQUENCE given

    @override
    def write_message(self, message: Message) -> None:
        if isinstance(message, RecordMessage):
            stream, data = message.stream, message.record
            if self._configured is not None and stream not in self._configured:
                self._drop(stream)
                return
            self._stream_is_running(stream)
            if SINGER_DELETED_AT in data:
                data = {**data, AIRBYTE_DELETED_AT: data[SINGER_DELETED_AT]}
            if stream in LOG_ORDERED_STREAMS:
                self._sequence = max(time.time_ns() // 1000, self._sequence + 1)
                data = {**data, LOG_SEQUENCE: self._sequence}
            # Records are flushed by the STATE after them: a record may be lost with a killed
            # process, a STATE never runs ahead of what was written.
            self._output.write(record_message(stream, data), flush=False)
            self._records_since_state[stream] += 1
            self._sent[stream] += 1
        elif isinstance(message, StateMessage):
            for stream, state in self._states.moved(message.value):
                records = self._records_since_state.pop(stream, 0)
                self._output.write(state_message(state, records), flush=False)
            self._output.flush()
        elif isinstance(message, SchemaMessage):
            self._stream_started(message.stream)
        elif message.type is SingerMessageType.BATCH:
            msg = (
                "`batch_config` is for Singer targets; remove it from the Airbyte source's config."
            )
            raise BatchNotSupportedError(msg)
        # ACTIVATE_VERSION: Airbyte's full_refresh modes replace tables themselves.

    def _drop(self, stream: str) -> None:
        if stream not in self._dropped:
            self._dropped.add(stream)
            LOGGER.warning(
                "Records for stream %s, which the configured catalog does not have, are not sent.",
                stream[:60],
            )

    @override
    def serialize_message(self, message: Message) -> bytes:
        """Not used: `write_message` translates first, and one Singer message may become two."""
        raise NotImplementedError

    def finish(self, streams: Iterable[str], *, complete: bool) -> None:
        """The closing status of each selected stream (COMPLETE, or INCOMPLETE after a failure)."""
        for stream in streams:
            self._stream_started(stream)
            self._output.write(
                stream_status_trace(stream, "COMPLETE" if complete else "INCOMPLETE")
            )
        self._output.flush()

    def _stream_started(self, stream: str) -> None:
        if stream not in self._started:
            self._started.append(stream)
            self._output.write(stream_status_trace(stream, "STARTED"))

    def _stream_is_running(self, stream: str) -> None:
        if stream not in self._running:
            self._stream_started(stream)
            self._running.add(stream)
            self._output.write(stream_status_trace(stream, "RUNNING"))
