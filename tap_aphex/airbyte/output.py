"""The Airbyte side of the wire: protocol messages, one JSON line each, on stdout and nowhere else;
the tap's log lines among them as LOG messages.

Messages are plain dicts shaped as the Airbyte protocol's models (`airbyte-protocol-models`, which
the tests validate every line against); the runtime does not need that package.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import logging
import sys
import threading
import time
import typing as t

import msgspec
from typing_extensions import override

from tap_aphex.logs import run_secrets, without_secrets

if t.TYPE_CHECKING:
    from collections.abc import Iterator

AirbyteMessage = dict[str, t.Any]


def _json_default(value: t.Any) -> t.Any:
    """What msgspec cannot encode by itself: times as RFC 3339, decimals as numbers."""
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    msg = f"cannot encode {type(value).__name__} as JSON"
    raise TypeError(msg)


_ENCODER = msgspec.json.Encoder(enc_hook=_json_default)


class AirbyteOutput:
    """Writes Airbyte messages to one binary stream (the process's real stdout)."""

    def __init__(self, stream: t.BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.RLock()  # log lines come from other threads, or a signal handler

    def write(self, message: AirbyteMessage, *, flush: bool = True) -> None:
        line = _ENCODER.encode(message) + b"\n"
        with self._lock:
            self._stream.write(line)
            if flush:
                self._stream.flush()

    def flush(self) -> None:
        with self._lock:
            self._stream.flush()


def now_ms() -> int:
    return int(time.time() * 1000)


def record_message(stream: str, data: t.Mapping[str, t.Any]) -> AirbyteMessage:
    return {"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": now_ms()}}


def state_message(state: dict[str, t.Any], records_since_last: int) -> AirbyteMessage:
    """A STATE; `sourceStats` lets the platform check that the records before it all arrived."""
    return {
        "type": "STATE",
        "state": {**state, "sourceStats": {"recordCount": float(records_since_last)}},
    }


def _safe(text: str) -> str:
    """Every message a person reads (LOG, TRACE, CONNECTION_STATUS) without the run's keys and
    tokens in any form (`redact.without_secrets`), whoever worded it: the last line of defence,
    after the log filter and the errors' own redaction."""
    return without_secrets(text, run_secrets())


def log_message(level: str, message: str) -> AirbyteMessage:
    return {"type": "LOG", "log": {"level": level, "message": _safe(message)}}


def error_trace(
    message: str, failure_type: str, *, internal_message: str | None = None
) -> AirbyteMessage:
    """A TRACE error: `config_error` when the user must fix a setting, else `system_error`."""
    error: dict[str, t.Any] = {"message": _safe(message), "failure_type": failure_type}
    if internal_message:
        error["internal_message"] = _safe(internal_message)
    return {"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": now_ms(), "error": error}}


def stream_status_trace(stream: str, status: str) -> AirbyteMessage:
    """A stream status TRACE: STARTED, RUNNING, COMPLETE or INCOMPLETE."""
    return {
        "type": "TRACE",
        "trace": {
            "type": "STREAM_STATUS",
            "emitted_at": now_ms(),
            "stream_status": {"stream_descriptor": {"name": stream}, "status": status},
        },
    }


def connection_status(*, succeeded: bool, message: str) -> AirbyteMessage:
    status = "SUCCEEDED" if succeeded else "FAILED"
    return {
        "type": "CONNECTION_STATUS",
        "connectionStatus": {"status": status, "message": _safe(message)},
    }


#: Python's levels in the protocol's words (AirbyteLogMessage.level).
_LEVELS = ((logging.CRITICAL, "FATAL"), (logging.ERROR, "ERROR"), (logging.WARNING, "WARN"))


def airbyte_level(levelno: int) -> str:
    for threshold, name in _LEVELS:
        if levelno >= threshold:
            return name
    return "INFO" if levelno >= logging.INFO else "DEBUG"


class AirbyteLogHandler(logging.Handler):
    """Writes each log record as a LOG message.

    Without traceback: a traceback can quote values (keys, tokens) and says nothing a user can act
    on; the exception's type is enough for a bug report.
    """

    def __init__(self, output: AirbyteOutput) -> None:
        super().__init__()
        self._output = output

    @override
    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info and record.exc_info[0] is not None:
                text += f" ({record.exc_info[0].__name__})"
            self._output.write(log_message(airbyte_level(record.levelno), text))
        except OSError:
            return  # stdout is gone (its reader stopped): there is nowhere left to log to
        except Exception:  # a failing log line must not end the sync
            self.handleError(record)


@contextlib.contextmanager
def logs_as_airbyte_messages(output: AirbyteOutput, level: int = logging.INFO) -> Iterator[None]:
    """Route every log line (and Python warnings) to LOG messages while the command runs.

    Anything else printed to stdout goes to stderr instead: a stray line there would break the
    protocol for the platform reading it.
    """
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    handler = AirbyteLogHandler(output)
    root.handlers = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        logging.captureWarnings(False)
        root.handlers = saved_handlers
        root.setLevel(saved_level)
