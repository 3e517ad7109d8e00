"""A local simulator of Aphex's two HTTP APIs, for tests and demos of tap-aphex.

- The Data API task-event log (`/apiTaskEventsV2`, `/apiTaskEvents`, `/taskEvents`): cursor
  paging, 4,000-event pages, a daily organisation quota and switchable faults, faithful to the
  vendor's documentation.
- The Published Plans API (`/power-bi/v1/<account_id>`): bearer tokens, `limit`, six months of
  history and a response-size limit. Its document shape is OUR assumption (see `plans.py`).

Everything is deterministic from a seed, and the ground truth is available in-process
(`Simulator.current_tasks()`, `Simulator.plan_document()`).
"""

from .event_log import EventLog, current_tasks, generate_events
from .plans import PlanProject
from .server import DEFAULT_API_KEY, RequestRecord, Simulator

__all__ = [
    "DEFAULT_API_KEY",
    "EventLog",
    "PlanProject",
    "RequestRecord",
    "Simulator",
    "current_tasks",
    "generate_events",
]
