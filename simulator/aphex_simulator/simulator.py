"""`Simulator`: both Aphex APIs on a loopback port, what tests (in-process) and the CLI drive.

It builds the data (event log, published plans) and the two APIs from one `SimulatorSettings`,
routes their paths through a `LoopbackServer` (which records and logs requests), and offers the
controls and ground truth tests need.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from types import TracebackType
from typing import Any, TextIO

from .admin_api import ADMIN_PREFIX, handle_admin
from .data_api import DATA_PATHS, TaskEventsApi
from .event_log import Event, EventLog, Task
from .faults import Fault
from .plans import DEFAULT_LIMIT, PlanProject, ProjectPlans, PublishedPlans
from .plans_api import PLANS_PREFIX, PublishedPlansApi
from .projects import project_identities
from .server import LoopbackServer, RequestRecord, Route
from .settings import SimulatorSettings
from .variations import ServedVariations, Variation


class Simulator:
    """Both Aphex APIs on a local port, with deterministic data and switchable faults.

    `Simulator(seed=3, events=500, ...)` takes any `SimulatorSettings` field as a keyword (or a
    whole `settings=`). Use as a context manager (`with Simulator(...) as sim:`) or call
    `start()` / `stop()`.
    """

    def __init__(
        self,
        settings: SimulatorSettings | None = None,
        *,
        request_log: TextIO | None = None,
        **overrides: Any,
    ) -> None:
        if settings is None:
            settings = SimulatorSettings(**overrides)
        elif overrides:
            settings = dataclasses.replace(settings, **overrides)
        self.settings = settings
        self._served = ServedVariations()
        self._event_log = EventLog(
            settings.seed,
            start_ms=settings.start_ms,
            projects=settings.projects,
            variations=settings.variations,
        )
        self._event_log.append(settings.events)
        self._events_api = TaskEventsApi(self._event_log, settings, self._served)
        # Plan projects are the organisation's projects too: the first ones share their identity
        # (id, name) with the projects in the event log.
        self._plans = PublishedPlans(
            settings.seed,
            project_identities(settings.seed, settings.plan_projects),
            tasks=settings.plan_tasks,
            history_weeks=settings.history_weeks,
            variations=settings.variations,
        )
        self._plans_api = PublishedPlansApi(self._plans, settings, self._served)
        routes = [
            Route(tuple(DATA_PATHS), self._events_api.handle),
            Route((PLANS_PREFIX,), self._plans_api.handle),
            Route((ADMIN_PREFIX,), partial(handle_admin, self), recorded=False),
        ]
        self._server = LoopbackServer(routes, settings.port, request_log)

    # ------------------------------------------------------------------------------- lifecycle

    def start(self) -> Simulator:
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving; returns once no request is being handled (stalls are cut short)."""
        self._server.stop()

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
        return self._server.running

    # ------------------------------------------------------------------------------------ URLs

    @property
    def seed(self) -> int:
        return self.settings.seed

    @property
    def api_key(self) -> str:
        return self.settings.api_key

    @property
    def port(self) -> int:
        return self._server.port

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
        """Ground truth: the tasks after applying every event, values as served (a copy)."""
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
        return self.settings.daily_quota

    @property
    def page_size(self) -> int:
        return self.settings.page_size

    def inject_fault(
        self,
        kind: str,
        count: int = 1,
        *,
        retry_after: int | None = None,
        stall_seconds: float | None = None,
    ) -> None:
        """Make the next `count` task-event requests (after any already queued) fail as `kind`.

        Kinds: "404", "500", "502", "503" (a passing one: same body as the quota's), "429"
        (Retry-After defaults to 1), "drop", "garbage", "stall", "truncate", "missing_cursor",
        "same_cursor".
        Requests refused for method or key do not consume one.
        """
        self._events_api.faults.push(Fault(kind, retry_after, stall_seconds), count)

    def set_cursor_cycle(self, pages: int, after_pages: int = 1) -> None:
        """From now on `nextStartAfter` leads back `pages` pages (0: no cycle); see data_api."""
        self._events_api.set_cycle(pages, after_pages)

    def clear_faults(self) -> None:
        """Drop every queued fault, and any cursor cycle."""
        self._events_api.faults.clear()
        self._events_api.set_cycle(0)
        for project in self._plans.projects:
            self._plans_api.faults(project.account_id).clear()

    @property
    def pending_faults(self) -> int:
        """Task-event faults still queued."""
        return len(self._events_api.faults)

    @property
    def variations_served(self) -> list[Variation]:
        """Each variation sent over HTTP so far, in first-served order (see variations.py)."""
        return self._served.snapshot()

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

    def publish_version(
        self,
        account_id: str,
        *,
        same_time: bool = False,
        at_ms: int | None = None,
        numbered: bool = True,
    ) -> int:
        """Publish a new version, a week after the newest (``same_time``: at the newest's very
        `publishedAt`; ``at_ms``: at that epoch time; ``numbered`` False: its `version` null);
        returns its version number."""
        return self._plans.act(
            account_id,
            lambda project: project.publish(same_time=same_time, at_ms=at_ms, numbered=numbered),
        ).version

    def expire_token(self, account_id: str) -> None:
        """Expire every token of the project issued so far (they answer 401)."""
        self._plans.act(account_id, ProjectPlans.expire_tokens)

    def issue_token(self, account_id: str) -> str:
        """Issue a new valid token for the project (it becomes `PlanProject.token`)."""
        return self._plans.act(account_id, ProjectPlans.issue_token)

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

        Kinds: "404", "500", "502", "503", "429", "drop", "garbage", "stall", "truncate".
        """
        self._plans_api.faults(account_id).push(Fault(kind, retry_after, stall_seconds), count)

    # --------------------------------------------------------------------------------- records

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request to a vendor API path so far, oldest first (a snapshot)."""
        return self._server.records

    def clear_requests(self) -> None:
        self._server.clear_records()

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
            "variations": sorted(self.settings.variations),
        }
