"""The HTTP side: one loopback server that routes requests, records them and logs them.

One `ThreadingHTTPServer` on 127.0.0.1 serves both vendor APIs plus the `/_sim/` control
endpoints. HTTP/1.0 (one request per connection) keeps shutdown simple: when `stop()` returns no
request thread is left waiting on an idle keep-alive socket.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

from .responses import Response, error_response

_MAX_DISCARDED_BODY = 1024 * 1024
_STOP_GRACE_SECONDS = 5.0

Query = Mapping[str, list[str]]
Answer = Callable[[str, str, Query, Mapping[str, str]], Response]  # method, path, query, headers


@dataclass(frozen=True)
class RequestRecord:
    """One request to a vendor API path (never its key or token). status 0: connection dropped."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    status: int = 0
    fault: str | None = None
    events: int = 0  # task events in the answer
    at: float = 0.0  # time.monotonic() when the request arrived (for Retry-After/back-off checks)


@dataclass(frozen=True)
class Route:
    """Paths (exact, or a prefix ending in "/") and who answers them; `recorded`: a vendor API."""

    paths: tuple[str, ...]
    answer: Answer
    recorded: bool = True

    def matches(self, path: str) -> bool:
        return any(path == p or (p.endswith("/") and path.startswith(p)) for p in self.paths)


class LoopbackServer:
    """Serves `routes` on 127.0.0.1:`port` in a thread; keeps the records and the request log."""

    def __init__(self, routes: list[Route], port: int, request_log: TextIO | None) -> None:
        self._routes = routes
        self._port = port
        self._request_log = request_log
        self._log_lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._records_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        server = _Server(("127.0.0.1", self._port), self)
        self._thread = threading.Thread(
            target=server.serve_until_stopped, name="aphex-simulator", daemon=True
        )
        self._server = server
        self._thread.start()

    def stop(self) -> None:
        """Stop serving; returns once no request is being handled (stalls are cut short)."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.stop_serving()
        thread.join()
        server.server_close()
        server.wait_idle(_STOP_GRACE_SECONDS)
        self._server = None
        self._thread = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        return int(self._server.server_address[1])

    @property
    def records(self) -> list[RequestRecord]:
        with self._records_lock:
            return list(self._records)

    def clear_records(self) -> None:
        with self._records_lock:
            self._records.clear()

    def serve(self, method: str, target: str, headers: Mapping[str, str]) -> Response:
        """Answer one request (from a request thread): route, record, log."""
        arrived = time.monotonic()
        split = urlsplit(target)
        query = parse_qs(split.query, keep_blank_values=True)
        route = next((r for r in self._routes if r.matches(split.path)), None)
        try:
            if route is None:
                response = error_response(404, "Not Found")
            else:
                response = route.answer(method, split.path, query, headers)
        except Exception as exc:  # a simulator bug must show up as a 500, not a dead socket
            response = error_response(500, f"simulator error: {exc!r}")
        stopping = self._server.stopping if self._server is not None else threading.Event()
        if response.delay_seconds and stopping.wait(response.delay_seconds):
            response = Response(status=0, drop=True, fault=response.fault)
        if route is not None and route.recorded:
            record = RequestRecord(
                method=method,
                path=split.path,
                query={name: values[0] for name, values in query.items()},
                status=response.status,
                fault=response.fault,
                events=response.events,
                at=arrived,
            )
            with self._records_lock:
                self._records.append(record)
        self._log(method, split.path, split.query, response)
        return response

    def _log(self, method: str, path: str, query: str, response: Response) -> None:
        if self._request_log is None:
            return
        # The path and query carry no secret (the key and token travel in headers).
        target = f"{path}?{query}" if query else path
        status = "dropped" if response.drop else str(response.status)
        line = f"{method} {target} -> {status}"
        if response.events:
            line += f" ({response.events} events)"
        if response.fault:
            line += f" [fault: {response.fault}]"
        with self._log_lock:
            self._request_log.write(line + "\n")
            self._request_log.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # One thread per request, so requests waiting on latency or a stall overlap. The listen
    # backlog (socketserver's default is 5) must hold a burst of clients connecting at once: a
    # refused SYN is retried by the client's kernel a second later, which would pass for latency.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], owner: LoopbackServer) -> None:
        self.owner = owner
        self.stopping = threading.Event()  # wakes stalled requests when the simulator stops
        self._active = 0
        self._idle = threading.Condition()
        self._wake, self._waker = socket.socketpair()  # ends the serving loop's wait at once
        super().__init__(address, _Handler)

    def serve_until_stopped(self) -> None:
        """socketserver's `serve_forever` loop, ended by `stop_serving` as soon as it is called:
        `shutdown()` is only seen at the loop's next poll (up to its interval later), which a
        simulator started and stopped for each of hundreds of tests paid every time."""
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(self._wake, selectors.EVENT_READ)
            while not self.stopping.is_set():
                ready = {key.fileobj for key, _ in selector.select()}
                if self in ready and not self.stopping.is_set():
                    self._handle_request_noblock()  # type: ignore[attr-defined]  # as serve_forever
                self.service_actions()

    def stop_serving(self) -> None:
        """Ends the serving loop: at once if it waits, else after the request it is taking
        (stalled requests wake: `stopping`)."""
        self.stopping.set()
        self._waker.send(b"x")

    def server_close(self) -> None:
        super().server_close()
        self._wake.close()
        self._waker.close()

    # Count requests from the serving thread, before their thread starts, so that stop() (which
    # first ends the serving loop) cannot miss one.
    def process_request(self, request: Any, client_address: Any) -> None:
        with self._idle:
            self._active += 1
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._done()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._done()

    def _done(self) -> None:
        with self._idle:
            self._active -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "AphexSimulator/1.0"
    timeout = 30  # a client that connects and says nothing must not hold a thread forever

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request stderr line; the server logs its own."""

    def _handle(self) -> None:
        self._discard_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        response = self.server.owner.serve(self.command, self.path, headers)
        # The client may have given up (e.g. it timed out during a stall): nothing to answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, TimeoutError):
            self._write(response)

    def _discard_body(self) -> None:
        # Read any request body: closing a socket with unread input sends a TCP reset, which
        # could reach the client before our answer does.
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if 0 < length <= _MAX_DISCARDED_BODY:
            self.rfile.read(length)

    def _write(self, response: Response) -> None:
        if response.drop:
            # Close without a single byte: the client sees the connection end with no answer.
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.status != 204:
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.status != 204:
            if response.truncated:
                self.wfile.write(response.body[: len(response.body) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(response.body)
