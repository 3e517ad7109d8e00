"""A local simulator of Aphex's two HTTP APIs, for tests and demos of tap-aphex.

- The Data API task-event log (`/apiTaskEventsV2`, `/apiTaskEvents`, `/taskEvents`): cursor
  paging, 4,000-event pages, a daily organisation quota and switchable faults, faithful to the
  vendor's documentation (`data_api.py`, `event_log.py`, `task_changes.py`).
- The Published Plans API (`/power-bi/v1/<account_id>`): bearer tokens, `limit`, six months of
  history and a response-size limit. Its document shape is OUR assumption (`plans.py`).
- A variations mode serving what the documents allow but the happy path never shows
  (`variations.py`), and opt-in faults (`faults.py`, cursor cycles in `data_api.py`).

Everything is deterministic from a seed, the settings have one home (`settings.py`), and the
ground truth is available in-process (`Simulator.current_tasks()`, `Simulator.plan_document()`,
`Simulator.variations_served`).
"""

from .event_log import EventLog, current_tasks, generate_events
from .plans import PlanProject
from .server import RequestRecord
from .settings import DEFAULT_API_KEY, SimulatorSettings
from .simulator import Simulator
from .variations import VARIATION_KINDS, Variation

__all__ = [
    "DEFAULT_API_KEY",
    "VARIATION_KINDS",
    "EventLog",
    "PlanProject",
    "RequestRecord",
    "Simulator",
    "SimulatorSettings",
    "Variation",
    "current_tasks",
    "generate_events",
]
