"""Switchable faults: queued, each consumed by one request, then normal service resumes.

Faults model the infrastructure in front of the vendor's functions (a proxy, an overloaded
instance): none of them is documented by the vendor; they are what any HTTP client may meet.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from .responses import Response, error_response

# Faults that replace the whole answer, whatever the request would otherwise have got.
# A "404" is a proxy's, or an API that lost a cursor it handed out (queued after a "stall" with
# no delay, it answers a later page).
REPLACING_FAULTS = frozenset({"404", "500", "502", "503", "429", "drop", "garbage"})
# "stall" delays a normal answer, "truncate" breaks its body off half-way (the connection closes
# short of its Content-Length); the cursor faults damage a normal 200 answer.
EVENT_FAULTS = REPLACING_FAULTS | {"stall", "truncate", "missing_cursor", "same_cursor"}
PLAN_FAULTS = REPLACING_FAULTS | {"stall", "truncate"}

DEFAULT_429_RETRY_AFTER = 1

# Data API V2, "503 Service Unavailable - Likely you've breached the daily organisation limit":
# "likely", so a passing 503 says the same thing; only retrying tells the two apart.
SERVICE_UNAVAILABLE = "Service Unavailable: daily organisation limit reached"
_MESSAGES = {
    "404": "Not Found",
    "500": "Internal Server Error",
    "502": "Bad Gateway",
    "503": SERVICE_UNAVAILABLE,
    "429": "Too Many Requests",
}

# What a proxy or crashed function might send instead of JSON: an HTML page with status 200.
_GARBAGE_BODY = (
    b"<html><head><title>Error</title></head><body><h1>Error: Server Error</h1>"
    b"<p>The server encountered a temporary error and could not complete your request."
    b"<p>Please try again in 30 seconds.</p></body></html>"
)


@dataclass(frozen=True)
class Fault:
    """One fault for one request. Checked on creation (ValueError)."""

    kind: str
    retry_after: int | None = None  # seconds, sent as Retry-After
    stall_seconds: float | None = None  # for "stall"; None: the simulator's default

    def __post_init__(self) -> None:
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("retry_after must be >= 0")
        if self.stall_seconds is not None and self.stall_seconds < 0:
            raise ValueError("stall_seconds must be >= 0")
        if self.kind == "429" and self.retry_after is None:
            object.__setattr__(self, "retry_after", DEFAULT_429_RETRY_AFTER)


class FaultQueue:
    """A FIFO of faults for the next requests. Thread-safe."""

    def __init__(self, allowed: frozenset[str]) -> None:
        self._allowed = allowed
        self._queue: deque[Fault] = deque()
        self._lock = threading.Lock()

    def push(self, fault: Fault, count: int = 1) -> None:
        if fault.kind not in self._allowed:
            raise ValueError(
                f"unknown fault {fault.kind!r}; expected one of {sorted(self._allowed)}"
            )
        if count < 1:
            raise ValueError("count must be >= 1")
        with self._lock:
            self._queue.extend([fault] * count)

    def pop(self) -> Fault | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._queue)


def replacing_response(fault: Fault) -> Response | None:
    """The answer for a fault that replaces the response, or None if the fault is not one."""
    headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    if fault.kind in _MESSAGES:
        response = error_response(int(fault.kind), _MESSAGES[fault.kind], headers)
    elif fault.kind == "drop":
        response = Response(status=0, drop=True)
    elif fault.kind == "garbage":
        response = Response(status=200, body=_GARBAGE_BODY, content_type="text/html")
    else:
        return None
    response.fault = fault.kind
    return response


def stalled(response: Response, fault: Fault | None, default_seconds: float) -> Response:
    """`response`, marked with the fault that let it through (a "stall" delays it, a "truncate"
    breaks its body off)."""
    if fault is not None:
        response.fault = fault.kind
        response.truncated = fault.kind == "truncate"
        if fault.kind == "stall":
            stall = fault.stall_seconds
            response.delay_seconds = default_seconds if stall is None else stall
    return response
