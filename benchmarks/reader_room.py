"""What the speed guard leaves the reader: per event of one page, the tap's reader against the
least any reader that looks at every value costs (a visit of each, typing nothing), and the
floor's own JSON work. Prints figures; asserts nothing.

uv run --locked python -m benchmarks.reader_room
"""

from __future__ import annotations

import json
import logging
import time
import typing as t

import msgspec
import requests

from benchmarks.common import simulator_process
from tap_aphex.reader import Reader, fields_of
from tap_aphex.schemas import TASK_EVENT

PAGE = 4_000


def _visit(value: object) -> None:
    """Every value once, by its class, as a reader must at the least."""
    if value.__class__ is dict:
        for item in t.cast("dict[str, object]", value).values():
            _visit(item)
    elif value.__class__ is list:
        for item in t.cast("list[object]", value):
            _visit(item)


def _per_event(work: t.Callable[[t.Any], object], events: list[t.Any], runs: int = 5) -> float:
    """The best of ``runs`` passes over ``events``, in µs an event."""
    best = min(_timed(work, events) for _ in range(runs))
    return best / len(events) * 1e6


def _timed(work: t.Callable[[t.Any], object], events: list[t.Any]) -> float:
    started = time.perf_counter()
    for event in events:
        work(event)
    return time.perf_counter() - started


def main() -> None:
    args = ["--events", str(PAGE), "--page-size", str(PAGE), "--daily-quota", "0"]
    with simulator_process(*args, "--plan-projects", "0") as sim:
        body = requests.get(sim["events_url"], headers={"x-api-key": sim["api_key"]}, timeout=60)
    events = msgspec.json.decode(body.content)["data"]
    fields, reader = fields_of(TASK_EVENT), Reader(logging.getLogger("reader_room"))
    print(f"one page of {len(events):,} events, {len(body.content) / len(events):,.0f} bytes each")
    figures: dict[str, t.Callable[[t.Any], object]] = {
        "the tap's reader (Reader.record)": lambda e: reader.record(e, fields, "event"),
        "a visit of every value, typing nothing": _visit,
        "json.dumps (the floor writes each event so)": json.dumps,
    }
    for what, work in figures.items():
        print(f"  {_per_event(work, events):6.1f} µs an event: {what}")


if __name__ == "__main__":
    main()
