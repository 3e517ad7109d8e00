"""The Airbyte side of the wire: protocol messages, one JSON line each, on stdout and nowhere else.

Messages are plain dicts shaped as the Airbyte protocol's models (`airbyte-protocol-models`, which
the tests validate every line against); the runtime does not need that package.
"""

from __future__ import annotations

import datetime as dt
import decimal
import threading
import time
import typing as t

import msgspec

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


def log_message(level: str, message: str) -> AirbyteMessage:
    return {"type": "LOG", "log": {"level": level, "message": message}}


def error_trace(
    message: str, failure_type: str, *, internal_message: str | None = None
) -> AirbyteMessage:
    """A TRACE error: `config_error` when the user must fix a setting, else `system_error`."""
    error: dict[str, t.Any] = {"message": message, "failure_type": failure_type}
    if internal_message:
        error["internal_message"] = internal_message
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
    return {"type": "CONNECTION_STATUS", "connectionStatus": {"status": status, "message": message}}
