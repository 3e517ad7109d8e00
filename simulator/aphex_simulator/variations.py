"""Variations mode: what the vendor's documents allow but the happy path never shows.

`Simulator(variations=True)` (or `--variations`) serves, deterministically from the seed:

- in task events (`EventVariations`): absent keys, nulls, a non-delay status without `category`
  and a negative `onSchedule` value (both as in the vendor's own V2 sample), status times in
  epoch seconds (10 digits) and the sample's 11-digit `createdAt: 23423423523`, floats (a
  `duration` of 1.5, times as floats), numbers as strings (`"start": "1748..."`);
- on pages (`data_api.py`): `"nextStartAfter": null` on the page that reaches the end of the log,
  and passing 503s (one, then later two in a row) that clear on the next request;
- in published plans (`plan_variations.py`, first plan project only): `keyTask` as "Yes"/"No",
  a version with `publishedAt: null`, a task row without `taskId`, a version repeating another's
  id, tasks under `Tasks` instead of `tasks`, and some of the value kinds above in rows.

Any subset can be chosen: `variations={"string_number", ...}` or `--variations=a,b`. A cursor
cycle is not a variation but an opt-in fault (`cursor_cycle_pages`), since a cycle must stop a
correct client with an error, while a run with variations (and without a cycle) must succeed.

Ground truth. Varied values are stored as served: `Simulator.event_log.events`,
`current_tasks()` and `plan_document()` hold the raw value (a task whose `start` came as
"1748844000000" has that string there). A variation is one event's: the next event of the same
task carries the usual value again. `Simulator.variations_served` lists each `Variation` sent over
HTTP, with its `path` in the vendor's JSON (relative to the event, or to the published version:
"task.statuses[2].createdAt", "tasks[3].keyTask") and what a correct tolerant reader does
(`expect`):

- "typed": the value fits its documented type (a number for a number, an epoch number for a time,
  read by magnitude): the typed field holds it (times: `epoch_to_rfc3339(value)`);
- "raw": it does not fit (a string for a number, "Yes" for a boolean): the typed field is null and
  `record["undocumented"][path] == value`;
- "null": absent or null: the typed field is null;
- "warn": a structural surprise (null `publishedAt`, a row without its key, a repeated version id,
  a renamed table, a passing 503, a null cursor): the tap warns or retries, and loses nothing;
- "error": the cursor cycle (`kind="cursor_cycle"`): the stream stops with a clear error.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, Literal

Expect = Literal["typed", "raw", "null", "warn", "error"]

# Vendor sample (Data API V2, "Task Created"): `createdAt: 23423423523` on both statuses.
SAMPLE_STATUS_CREATED_AT = 23423423523

# kind -> (where it is served, what a correct tolerant reader does with it).
_KINDS: dict[str, tuple[str, Expect]] = {
    # Any key may be missing: the documents never say a field is required.
    "absent_key": ("event", "null"),
    "null_value": ("event", "null"),
    "category_absent": ("event", "null"),  # the sample's onSchedule status has no `category`
    "negative_on_schedule": ("event", "typed"),  # the sample's onSchedule has `value: -2`
    "seconds_time": ("event", "typed"),  # "in Unix Epoch time format" does not say ms
    "sample_time": ("event", "typed"),  # the sample's 11-digit createdAt
    "float_number": ("event", "typed"),  # durations and values are numbers, not said whole
    "float_time": ("event", "typed"),
    "string_number": ("event", "raw"),
    "null_next_start_after": ("page", "warn"),  # what the last page carries is not documented
    "passing_503": ("page", "warn"),  # "Likely you've breached the daily organisation limit"
    "key_task_string": ("plan", "raw"),
    "published_at_null": ("plan", "warn"),
    "row_without_task_id": ("plan", "warn"),
    "duplicate_version_id": ("plan", "warn"),
    "renamed_table": ("plan", "warn"),  # the beta's first table was "Tasks"
}
EVENT_KINDS = frozenset(kind for kind, (where, _) in _KINDS.items() if where == "event")
VARIATION_KINDS = frozenset(_KINDS)

_SHARE = 0.12  # of events that carry a variation (at most one each)
_ABSENT_FIELDS = ("location", "externalId", "successors", "wbsPath", "calendar")
_NULL_FIELDS = ("end", "subcontractor", "labourResources", "ownerEmail", "parentId")


@dataclass(frozen=True)
class Variation:
    """One surprise served: its kind, where it is and the value as served (None if absent).

    For a page or a request (`path` ""), `value` says which: the request's ordinal for
    "passing_503", the page's last event id for "null_next_start_after", the index of the page's
    first event for "cursor_cycle".
    """

    kind: str
    path: str  # in the event, or in the published version; "" for a page or a request
    value: Any = None
    event_id: str | None = None
    account_id: str | None = None  # published plans: the project
    version: int | None = None  # published plans: the version number (not its id)

    @property
    def expect(self) -> Expect:
        """What a correct tolerant reader does with it (see the module's docstring)."""
        if self.kind == "cursor_cycle":  # an opt-in fault, not a variation
            return "error"
        return _KINDS[self.kind][1]


class ServedVariations:
    """The variations sent over HTTP so far, first-served order, each once. Thread-safe."""

    def __init__(self) -> None:
        self._seen: dict[Variation, None] = {}
        self._lock = threading.Lock()

    def mark(self, variations: Iterable[Variation]) -> None:
        with self._lock:
            for item in variations:
                self._seen.setdefault(item, None)

    def snapshot(self) -> list[Variation]:
        with self._lock:
            return list(self._seen)


# ------------------------------------------------------------------------------ value changes


def vary_value(kind: str, value: Any, rng: random.Random) -> Any:
    """The value as the variation `kind` serves it (absent_key: never called)."""
    if kind == "null_value":
        return None
    if kind == "seconds_time":
        return value // 1000
    if kind == "sample_time":
        return SAMPLE_STATUS_CREATED_AT
    if kind == "float_number":
        return value + 0.5  # e.g. a duration of 1.5
    if kind == "float_time":
        return value + 0.25  # still the same millisecond once rounded
    if kind == "string_number":
        return str(value)
    if kind == "negative_on_schedule":
        return -rng.randint(1, 3)
    raise ValueError(f"not a value variation: {kind}")


class EventVariations:
    """Alters some events as they are appended, from its own RNG (so the log stays the same)."""

    def __init__(self, seed: int, kinds: Collection[str]) -> None:
        self._kinds = [kind for kind in sorted(EVENT_KINDS) if kind in kinds]
        self._rng = random.Random(f"aphex-variations:{seed}")
        self._next = 0  # round robin: every kind shows up within the first few hundred events

    def vary(self, event: dict[str, Any]) -> tuple[dict[str, Any], list[Variation]]:
        """The event as served (a copy where altered) and its variations."""
        if not self._kinds or self._rng.random() >= _SHARE:
            return event, []
        for offset in range(len(self._kinds)):
            kind = self._kinds[(self._next + offset) % len(self._kinds)]
            target = self._target(kind, event)
            if target is not None:
                self._next = (self._next + offset + 1) % len(self._kinds)
                return self._apply(kind, event, target)
        return event, []

    def _target(self, kind: str, event: dict[str, Any]) -> tuple[str, ...] | None:
        """Where `kind` can go in this event: a key path, or None if nowhere."""
        rng = self._rng
        task = event["task"]
        full = event["type"] != "TaskDeleted"
        statuses = task.get("statuses", []) if full else []
        if kind in ("float_time", "string_number") and not full:
            return ("createdAt",)
        if not full:
            return None
        if kind == "absent_key":
            return ("task", rng.choice(_ABSENT_FIELDS))
        if kind == "null_value":
            return ("task", rng.choice(_NULL_FIELDS))
        if kind == "float_number":
            return ("task", "duration")
        if kind == "float_time":
            return rng.choice((("createdAt",), ("task", "start"), ("task", "end")))
        if kind == "string_number":
            return ("task", rng.choice(("start", "duration", "end")))
        if kind == "negative_on_schedule":
            field, candidates = (
                "value",
                [i for i, status in enumerate(statuses) if status["type"] == "onSchedule"],
            )
        elif kind == "category_absent":
            field, candidates = (
                "category",
                [i for i, status in enumerate(statuses) if status["type"] != "delay"],
            )
        else:  # the status times
            field = rng.choice(("createdAt", "date")) if kind == "seconds_time" else "createdAt"
            candidates = list(range(len(statuses)))
        if not candidates:
            return None
        return ("task", "statuses", str(rng.choice(candidates)), field)

    def _apply(
        self, kind: str, event: dict[str, Any], target: tuple[str, ...]
    ) -> tuple[dict[str, Any], list[Variation]]:
        served = dict(event)  # copy-on-write along the path: the originals are shared
        parent: Any = served
        for key in target[:-1]:
            child = parent[int(key)] if isinstance(parent, list) else parent[key]
            child = list(child) if isinstance(child, list) else dict(child)
            if isinstance(parent, list):
                parent[int(key)] = child
            else:
                parent[key] = child
            parent = child
        last = target[-1]
        if kind in ("absent_key", "category_absent"):
            parent.pop(last, None)
            value = None
        else:
            value = vary_value(kind, parent[last], self._rng)
            parent[last] = value
        return served, [Variation(kind, _json_path(target), value, event_id=event["eventId"])]


def _json_path(keys: Iterable[str]) -> str:
    """("task", "statuses", "2", "date") -> "task.statuses[2].date" (the tolerant reader's key)."""
    path = ""
    for key in keys:
        path += f"[{key}]" if key.isdigit() else (f".{key}" if path else key)
    return path
