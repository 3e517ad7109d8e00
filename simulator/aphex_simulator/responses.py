"""What the APIs answer, as plain values the HTTP layer writes (or withholds) verbatim."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Response:
    """One HTTP answer. `drop` closes the socket without answering at all."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    delay_seconds: float = 0.0  # wait this long before answering (a stalled upstream)
    truncated: bool = False  # the body breaks off half-way, short of its Content-Length
    fault: str | None = None  # the injected fault that shaped this answer, for records and logs
    events: int = 0  # events served in the body (task-events API)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status=status, body=body, headers=dict(headers or {}))


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """A small JSON error body; the real services' error bodies are not documented."""
    return json_response(status, {"error": message}, headers)
