"""The HTTP server and the `Simulator` that tests (in-process) and the CLI drive.

One `ThreadingHTTPServer` on 127.0.0.1 serves both vendor APIs plus the `/_sim/` control
endpoints. HTTP/1.0 (one request per connection) keeps shutdown simple: when `stop()` returns no
request thread is left waiting on an idle keep-alive socket.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

from .admin_api import ADMIN_PREFIX, handle_admin
from .data_api import DATA_PATHS, DEFAULT_DAILY_QUOTA, MAX_PAGE_SIZE, TaskEventsApi
from .event_log import DEFAULT_START_MS, Event, EventLog, Task
from .plans import DEFAULT_LIMIT, PlanProject, PublishedPlans
from .plans_api import DEFAULT_MAX_RESPONSE_BYTES, PLANS_PREFIX, PublishedPlansApi
from .projects import project_identities
from .responses import Response, error_response

# Fixed and non-secret on purpose: the simulator runs on localhost for tests and demos only.
DEFAULT_API_KEY = "simulator-key"
_MAX_DISCARDED_BODY = 1024 * 1024
_STOP_GRACE_SECONDS = 5.0


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


class Simulator:
    """Both Aphex APIs on a local port, with deterministic data and switchable faults.

    Use as a context manager (`with Simulator(...) as sim:`) or call `start()` / `stop()`.
    """

    def __init__(
        self,
        *,
        seed: int = 7,
        events: int = 10_000,
        page_size: int = MAX_PAGE_SIZE,
        daily_quota: int | None = DEFAULT_DAILY_QUOTA,
        api_key: str = DEFAULT_API_KEY,
        projects: int = 4,
        plan_projects: int = 3,
        plan_tasks: int = 40,
        history_weeks: int = 26,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        stall_seconds: float = 5.0,
        grow_per_start: int = 0,
        start_ms: int = DEFAULT_START_MS,
        port: int = 0,
        request_log: TextIO | None = None,
    ) -> None:
        if events < 0 or plan_projects < 0:
            raise ValueError("events and plan_projects must be >= 0")
        self.seed = seed
        self.api_key = api_key
        self._port = port
        self._request_log = request_log
        self._log_lock = threading.Lock()

        self._event_log = EventLog(seed, start_ms=start_ms, projects=projects)
        self._event_log.append(events)
        self._events_api = TaskEventsApi(
            self._event_log,
            api_key=api_key,
            page_size=page_size,
            daily_quota=daily_quota,
            stall_seconds=stall_seconds,
            grow_per_start=grow_per_start,
        )
        # Plan projects are the organisation's projects too: the first ones share their identity
        # (id, name) with the projects in the event log.
        identities = project_identities(seed, plan_projects)
        self._plans = PublishedPlans(
            seed, identities, tasks=plan_tasks, history_weeks=history_weeks
        )
        self._plans_api = PublishedPlansApi(
            self._plans, max_response_bytes=max_response_bytes, stall_seconds=stall_seconds
        )

        self._records: list[RequestRecord] = []
        self._records_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------- lifecycle

    def start(self) -> Simulator:
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        server = _Server(("127.0.0.1", self._port), self)
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="aphex-simulator",
            daemon=True,
        )
        self._server = server
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; returns once no request is being handled (stalls are cut short)."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()
        server.wait_idle(_STOP_GRACE_SECONDS)
        self._server = None
        self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    # ------------------------------------------------------------------------------------ URLs

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events_url(self) -> str:
        """The V2 endpoint, the one the vendor documents."""
        return self.base_url + "/apiTaskEventsV2"

    @property
    def events_v1_url(self) -> str:
        return self.base_url + "/apiTaskEvents"

    @property
    def task_events_url(self) -> str:
        """The newer endpoint (`pageSize` defaults to 2,000 there)."""
        return self.base_url + "/taskEvents"

    # ------------------------------------------------------------------------------ task events

    @property
    def event_log(self) -> EventLog:
        return self._event_log

    def current_tasks(self) -> dict[str, Task]:
        """Ground truth: the tasks after applying every event (an independent copy)."""
        return self._event_log.current_tasks()

    def append_events(self, n: int) -> list[Event]:
        """Continue the log with `n` more events (visible to clients at once)."""
        return self._event_log.append(n)

    def new_day(self) -> None:
        """Reset the daily quota, as the vendor does each day."""
        self._events_api.new_day()

    @property
    def served_today(self) -> int:
        """Events served (in non-fault 200 answers) since the start or the last new_day()."""
        return self._events_api.served_today

    @property
    def daily_quota(self) -> int | None:
        return self._events_api.daily_quota

    @property
    def page_size(self) -> int:
        return self._events_api.page_size

    def inject_fault(
        self,
        kind: str,
        count: int = 1,
        *,
        retry_after: int | None = None,
        stall_seconds: float | None = None,
    ) -> None:
        """Make the next `count` task-event requests (after any already queued) fail as `kind`.

        Kinds: "500", "502", "429" (Retry-After defaults to 1), "drop", "garbage", "stall",
        "missing_cursor", "same_cursor". Requests refused for method or key do not consume one.
        """
        self._events_api.faults.push(
            kind, count, retry_after=retry_after, stall_seconds=stall_seconds
        )

    def clear_faults(self) -> None:
        self._events_api.faults.clear()
        for project in self._plans.projects:
            self._plans_api.faults(project.account_id).clear()

    @property
    def pending_faults(self) -> int:
        """Task-event faults still queued."""
        return len(self._events_api.faults)

    # -------------------------------------------------------------------------- published plans

    @property
    def plans(self) -> PublishedPlans:
        return self._plans

    @property
    def plan_projects(self) -> list[PlanProject]:
        """Each plan project with its URL and newest token (the simulator must be running)."""
        return [
            PlanProject(
                account_id=project.account_id,
                token=project.token,
                name=project.identity.name,
                url=self.plan_url(project.account_id),
            )
            for project in self._plans.projects
        ]

    def plan_url(self, account_id: str) -> str:
        return f"{self.base_url}{PLANS_PREFIX}{account_id}"

    def plan_document(self, account_id: str, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
        """Ground truth: the document a request with `limit` gets (ignoring the size limit)."""
        return self._plans.document(account_id, limit)

    def publish_version(self, account_id: str) -> int:
        """Publish a new version, a week after the newest; returns its version number."""
        return self._plans.publish(account_id).version

    def expire_token(self, account_id: str) -> None:
        """Expire every token of the project issued so far (they answer 401)."""
        self._plans.expire_tokens(account_id)

    def issue_token(self, account_id: str) -> str:
        """Issue a new valid token for the project (it becomes `PlanProject.token`)."""
        return self._plans.issue_token(account_id)

    def set_plan_fault(
        self,
        account_id: str,
        kind: str,
        count: int = 1,
        *,
        retry_after: int | None = None,
        stall_seconds: float | None = None,
    ) -> None:
        """Make the project's next `count` authorised plan requests fail as `kind`.

        Kinds: "500", "502", "429", "drop", "garbage", "stall".
        """
        self._plans_api.faults(account_id).push(
            kind, count, retry_after=retry_after, stall_seconds=stall_seconds
        )

    # --------------------------------------------------------------------------------- records

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request to a vendor API path so far, oldest first (a snapshot)."""
        with self._records_lock:
            return list(self._records)

    def clear_requests(self) -> None:
        with self._records_lock:
            self._records.clear()

    def info(self) -> dict[str, Any]:
        """What the CLI prints on start (and GET /_sim/info answers)."""
        return {
            "base_url": self.base_url,
            "events_url": self.events_url,
            "api_key": self.api_key,
            "projects": [
                {
                    "name": project.name,
                    "url": project.url,
                    "token": project.token,
                    "account_id": project.account_id,
                }
                for project in self.plan_projects
            ],
            "event_count": len(self._event_log),
            "served_today": self.served_today,
        }

    # -------------------------------------------------------------------------------- dispatch

    def _dispatch(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]
    ) -> tuple[Response, bool]:
        """The answer, and whether the request is one to record (a vendor API path)."""
        if path in DATA_PATHS:
            return self._events_api.handle(method, path, query, headers), True
        if path.startswith(PLANS_PREFIX):
            return self._plans_api.handle(method, path, query, headers), True
        if path.startswith(ADMIN_PREFIX):
            return handle_admin(self, method, path, query), False
        return error_response(404, "Not Found"), False

    def _record(
        self, method: str, path: str, query: str, response: Response, arrived: float
    ) -> None:
        record = RequestRecord(
            method=method,
            path=path,
            query={
                name: values[0] for name, values in parse_qs(query, keep_blank_values=True).items()
            },
            status=response.status,
            fault=response.fault,
            events=response.events,
            at=arrived,
        )
        with self._records_lock:
            self._records.append(record)

    def _log(self, line: str) -> None:
        if self._request_log is None:
            return
        with self._log_lock:
            self._request_log.write(line + "\n")
            self._request_log.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], simulator: Simulator) -> None:
        self.simulator = simulator
        self.stopping = threading.Event()  # wakes stalled requests when the simulator stops
        self._active = 0
        self._idle = threading.Condition()
        super().__init__(address, _Handler)

    # Count requests from the serving thread, before their thread starts, so that stop() (which
    # first ends serve_forever) cannot miss one.
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

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request stderr line; the simulator logs its own."""

    def _handle(self) -> None:
        arrived = time.monotonic()
        self._discard_body()
        simulator = self.server.simulator
        split = urlsplit(self.path)
        query = parse_qs(split.query, keep_blank_values=True)
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            response, recorded = simulator._dispatch(self.command, split.path, query, headers)
        except Exception as exc:  # a simulator bug must show up as a 500, not a dead socket
            response, recorded = error_response(500, f"simulator error: {exc!r}"), True

        if response.delay_seconds and self.server.stopping.wait(response.delay_seconds):
            response = Response(status=0, drop=True, fault=response.fault)
        if recorded:
            simulator._record(self.command, split.path, split.query, response, arrived)
        simulator._log(self._log_line(split.path, split.query, response))
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
            self.wfile.write(response.body)

    def _log_line(self, path: str, query: str, response: Response) -> str:
        # The path and query carry no secret (the key and token travel in headers).
        target = f"{path}?{query}" if query else path
        status = "dropped" if response.drop else str(response.status)
        line = f"{self.command} {target} -> {status}"
        if response.events:
            line += f" ({response.events} events)"
        if response.fault:
            line += f" [fault: {response.fault}]"
        return line
