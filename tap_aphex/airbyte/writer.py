"""Airbyte messages, one JSON line each, on stdout only: plain dicts shaped as the
`airbyte-protocol-models` package defines them (the tests validate every line, the runtime does
without it), translated from the tap's by its `message_writer`: the streams speak Singer only.
The discovered catalog too: from the SCHEMA messages a read would write."""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import sys
import threading
import time
import typing as t
from collections import Counter

import msgspec
from singer_sdk.singerlib import Message, RecordMessage, SchemaMessage, StateMessage
from singer_sdk.singerlib.encoding import GenericSingerWriter
from typing_extensions import override

from tap_aphex.airbyte import protocol
from tap_aphex.decoding import REPLACEMENT, SURROGATE
from tap_aphex.inputs import START_AFRESH
from tap_aphex.logs import log_level, one_line, redacted
from tap_aphex.report import RecordCounting
from tap_aphex.sdk_seam import map_schemas
from tap_aphex.streams.log_position import CLEAR_STATE

if t.TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Iterator

    from tap_aphex.tap import TapAphex

AirbyteMessage = dict[str, t.Any]

# RFC 3339 times (msgspec's own) and Decimals as numbers, as the SDK's writer has them.
_ENCODER = msgspec.json.Encoder(decimal_format="number")

#: Python's levels in the protocol's words (AirbyteLogMessage.level), highest first; below, DEBUG.
_LEVELS = (
    (logging.CRITICAL, "FATAL"),
    (logging.ERROR, "ERROR"),
    (logging.WARNING, "WARN"),
    (logging.INFO, "INFO"),
)


class AirbyteOutput(logging.Handler):
    """Airbyte messages on one binary stream (the real stdout); as a logging handler, each log
    record as a LOG message, without traceback (it may quote keys; the type is enough)."""

    def __init__(self, stream: t.BinaryIO) -> None:
        super().__init__()
        self._stream = stream
        self._lock = threading.RLock()  # log lines come from other threads, or a signal handler
        self.states_written = 0  # an interrupted read says whether the next one resumes

    def write(self, message: AirbyteMessage, *, flush: bool = True) -> None:
        line = _ENCODER.encode(message) + b"\n"
        with self._lock:
            # Counted first: a signal can interrupt a write once part of it is out, and what
            # is left in the buffer goes out with the next message, the TRACE included.
            self.states_written += message["type"] == "STATE"
            self._stream.write(line)
            if flush:
                self._stream.flush()

    @override
    def flush(self) -> None:
        with self._lock:
            self._stream.flush()

    @override
    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info and record.exc_info[0] is not None:
                text += f" ({record.exc_info[0].__name__})"
            level = next((name for floor, name in _LEVELS if record.levelno >= floor), "DEBUG")
            self.write({"type": "LOG", "log": {"level": level, "message": _safe(text)}})
        except OSError:
            return  # stdout is gone (its reader stopped): there is nowhere left to log to
        except Exception:  # a failing log line must not end the sync
            self.handleError(record)


def _next_tick(last: int) -> int:
    """Microseconds since the epoch, strictly above `last`: increasing across syncs too."""
    return max(time.time_ns() // 1000, last + 1)


def _now_ms() -> int:
    return int(time.time() * 1000)


#: The tap's advice on starting afresh from a state, in Airbyte's words: the state is the
#: connection's, not a file passed with `--state` nor Meltano's. Capitalised too (a sentence's).
_AIRBYTE_ADVICE = {
    CLEAR_STATE: "reset the state of those streams in the connection (Airbyte: Settings > Clear "
    "data, for each stream)",
    START_AFRESH: "reset that stream's state in the connection (Airbyte: Settings > Clear data "
    "for the stream) to start afresh",
}


def _safe(text: str) -> str:
    """The last defence for every message a person reads, whoever worded it: one line, no secret,
    no lone surrogate (UTF-8 cannot carry one: the message could not be written at all), no
    advice for the tap's own command."""
    for singer, airbyte in _AIRBYTE_ADVICE.items():
        text = text.replace(singer, airbyte).replace(_capital(singer), _capital(airbyte))
    return SURROGATE.sub(REPLACEMENT, one_line(redacted(text)))


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def error_trace(message: str, failure_type: str) -> AirbyteMessage:
    error = {"message": _safe(message), "failure_type": failure_type}
    return {"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": _now_ms(), "error": error}}


def connection_status(*, succeeded: bool, message: str) -> AirbyteMessage:
    status = {"status": "SUCCEEDED" if succeeded else "FAILED", "message": _safe(message)}
    return {"type": "CONNECTION_STATUS", "connectionStatus": status}


def airbyte_catalog(tap: TapAphex) -> dict[str, t.Any]:
    """Each stream as `read` sends it: its SCHEMA message as the SDK writes it (its maps'
    transformed schema and key properties; none if they remove every record), with the columns
    `write_message` adds; its cursor, unless a map removes it (then the platform asks for one)."""
    streams = []
    for name, sent in map_schemas(tap).items():
        for message in sent:  # one: `source-aphex` refuses renames, and copies under one name
            stream, schema = tap.streams[name], copy.deepcopy(message.schema)
            properties = schema.setdefault("properties", {})
            if protocol.SINGER_DELETED_AT in properties:
                properties[protocol.AIRBYTE_DELETED_AT] = properties[protocol.SINGER_DELETED_AT]
            cursor, modes = stream.replication_key, list(protocol.SYNC_MODES)
            if name in protocol.LOG_STREAMS:
                properties[protocol.LOG_SEQUENCE] = {
                    "type": "integer",
                    "description": "Increases in log order, across syncs: what to deduplicate by.",
                }
                cursor = protocol.LOG_SEQUENCE
                modes = ["incremental"]  # one position for the three: see `select`'s refusal
            streams.append(
                {
                    "name": name,
                    "json_schema": schema,
                    "supported_sync_modes": modes,
                    # Not one a map removes: with none named, the platform asks the user for one.
                    "source_defined_cursor": cursor in properties,
                    "default_cursor_field": [cursor] if cursor in properties else [],
                    "source_defined_primary_key": [[key] for key in message.key_properties or []],
                    "is_resumable": True,
                }
            )
    return {"streams": streams}


@contextlib.contextmanager
def logs_as_airbyte_messages(output: AirbyteOutput) -> Iterator[None]:
    """Log lines and Python warnings as LOG messages; stray prints go to stderr, not stdout."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers = [output]
    # The tap's own command's LOGLEVEL; INFO when unset, or naming no level (refused later).
    _, level = log_level(os.environ)
    root.setLevel(logging.INFO if level is None else level)
    logging.captureWarnings(True)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        logging.captureWarnings(False)
        root.handlers = saved_handlers
        root.setLevel(saved_level)


class AirbyteMessageWriter(RecordCounting, GenericSingerWriter[bytes, Message]):
    """RECORD -> RECORD, STATE -> the per-stream STATEs that moved, SCHEMA -> the stream's STARTED
    status, in order, as they are written; RECORDs counted as Singer's writer counts them."""

    def __init__(
        self,
        output: AirbyteOutput,
        streams: Iterable[str],
        ahead: Collection[str] = (),
        newest: int = 0,
    ) -> None:
        """``ahead``, ``newest``: `protocol.Resume`'s."""
        super().__init__()
        self._output = output
        self._configured = tuple(streams)  # in the configured catalog's order
        self._statuses: dict[str, str] = {}  # stream -> its last status sent
        self._records_since_state: Counter[str] = Counter()  # per stream
        self._states_sent: dict[str, str] = {}  # stream -> its bookmark as last sent (JSON)
        self._ahead = set(ahead)  # positions given still ahead of this read: no checkpoint yet
        self._checkpoint = newest  # the last CHECKPOINT given
        self._position = ""  # task_events' position at it (JSON)
        self._sequence = 0  # the last LOG_SEQUENCE given

    @override
    def write_message(self, message: Message) -> None:
        if isinstance(message, RecordMessage):
            # Only configured streams write records: the catalog selects them; renames are refused.
            stream, data = message.stream, message.record
            if self._statuses.get(stream) != "RUNNING":
                self._status(stream, "RUNNING")
            if protocol.SINGER_DELETED_AT in data:
                data = {**data, protocol.AIRBYTE_DELETED_AT: data[protocol.SINGER_DELETED_AT]}
            if self._ahead and stream == protocol.LOG_STREAMS[0]:  # task_events: the log itself
                self._ahead.discard(data.get(protocol.EVENT_ID))
            if stream in protocol.LOG_STREAMS:
                self._sequence = _next_tick(self._sequence)
                data = {**data, protocol.LOG_SEQUENCE: self._sequence}
            # Flushed by the STATE after them: a kill may lose a record, no STATE runs ahead.
            record = {"stream": stream, "data": data, "emitted_at": _now_ms()}
            self._output.write({"type": "RECORD", "record": record}, flush=False)
            self._records_since_state[stream] += 1
            self._sent[stream] += 1
        elif isinstance(message, StateMessage):
            self._write_states(message.value.get("bookmarks") or {})
        elif isinstance(message, SchemaMessage) and message.stream not in self._statuses:
            self._status(message.stream, "STARTED")
        # ACTIVATE_VERSION: Airbyte's full_refresh replaces tables itself. BATCH: `read` refuses it.

    def _write_states(self, bookmarks: dict[str, t.Any]) -> None:
        """A STATE per bookmark of the read's streams that moved (the log streams' together).
        Not GLOBAL: PyAirbyte's caches (0.71) keep per-stream state only: reads would start over."""
        # A checkpoint per log position: the sync's closing STATE restates the last one (the SDK
        # tidies its bookmark), and two checkpoints of one position would tell no order apart.
        position = json.dumps(bookmarks.get(protocol.LOG_STREAMS[0], {}).get(protocol.POSITION))
        if position != self._position:
            self._checkpoint, self._position = _next_tick(self._checkpoint), position
        as_sent = {
            name: json.dumps(b, sort_keys=True, default=str) for name, b in bookmarks.items()
        }
        moved = {
            n for n in bookmarks if n in self._configured and self._states_sent.get(n) != as_sent[n]
        }
        log = set(protocol.LOG_STREAMS)
        if moved & log:
            moved |= log & set(self._configured)
        # A checkpoint orders positions only between log streams always read together (`protocol`
        # resumes them from the oldest): a read of some of them writes none, and its states read
        # back follow the tap's rule for bookmarks that differ.
        together = log <= set(self._configured) and not self._ahead
        for name in [name for name in bookmarks if name in moved]:
            self._states_sent[name] = as_sent[name]
            blob = bookmarks[name]
            if name in log and together:
                blob = {**blob, protocol.CHECKPOINT: self._checkpoint}
            # `sourceStats` lets the platform check that the records before it all arrived.
            records = float(self._records_since_state.pop(name, 0))
            state = {
                "type": "STREAM",
                "stream": {"stream_descriptor": {"name": name}, "stream_state": blob},
                "sourceStats": {"recordCount": records},
            }
            self._output.write({"type": "STATE", "state": state}, flush=False)
        self._output.flush()

    @override
    def serialize_message(self, message: Message) -> bytes:
        raise NotImplementedError  # `write_message` translates: one message may become two

    def finish(self, incomplete: Collection[str]) -> None:
        """Each selected stream's closing status: INCOMPLETE for those a failure ended."""
        for stream in self._configured:
            self._status(stream, "INCOMPLETE" if stream in incomplete else "COMPLETE")

    def _status(self, stream: str, status: str) -> None:
        if stream not in self._statuses and status != "STARTED":
            self._status(stream, "STARTED")  # first, once
        self._statuses[stream] = status
        descriptor = {"stream_descriptor": {"name": stream}, "status": status}
        trace = {"type": "STREAM_STATUS", "emitted_at": _now_ms(), "stream_status": descriptor}
        self._output.write({"type": "TRACE", "trace": trace})
