"""The simulator's settings: one dataclass, the one home of every default.

`Simulator(**settings)` and the command line (`python -m aphex_simulator --help`) are both
built from `SimulatorSettings`: a field's default and help text live on the field, and argparse
options are derived from the fields, so a default is never written twice.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from .variations import VARIATION_KINDS

# The vendor's documented limits (Data API V2, "API Limits"; Published Plans, "Limits").
MAX_PAGE_SIZE = 4000  # "Responses have a page limit of 4000 events"
DEFAULT_DAILY_QUOTA = 20_000  # "Organisations have a daily limit of 20,000 task events per day"
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024  # "a response limit of 32Mb exists"
# 2025-06-02T06:00:00Z: a fixed default so that the same seed gives the same log on any day.
DEFAULT_START_MS = 1_748_844_000_000
# Fixed and non-secret on purpose: the simulator runs on localhost for tests and demos only.
DEFAULT_API_KEY = "simulator-key"


def _opt(value: Any, help: str, **cli: Any) -> Any:
    """A field, its help text, and argparse details beyond its default (cli=False: no option)."""
    return field(default=value, metadata={"help": help, **cli})


@dataclass(frozen=True)
class SimulatorSettings:
    """Everything a `Simulator` is built from. Frozen: a running simulator's data never drifts."""

    seed: int = _opt(7, "data seed: the same seed gives the same log, documents and variations")
    events: int = _opt(10_000, "events in the log at start")
    page_size: int = _opt(MAX_PAGE_SIZE, f"events per page (1..{MAX_PAGE_SIZE})")
    daily_quota: int | None = _opt(
        DEFAULT_DAILY_QUOTA, "events served per day before 503 (0 on the command line: no quota)"
    )
    api_key: str = _opt(DEFAULT_API_KEY, "the x-api-key to accept")
    projects: int = _opt(4, "projects in the event log")
    plan_projects: int = _opt(3, "published-plans projects")
    plan_tasks: int = _opt(40, "tasks per published version")
    history_weeks: int = _opt(26, "weekly versions published at start")
    max_response_bytes: int = _opt(
        DEFAULT_MAX_RESPONSE_BYTES, "plans documents larger than this many bytes answer 500"
    )
    stall_seconds: float = _opt(5.0, "how long a 'stall' fault waits")
    plans_latency_seconds: float = _opt(
        0.0,
        "every Published Plans request waits this long before its answer (a slow upstream; "
        "requests wait side by side, so N clients at once take about this long, not N times it)",
        metavar="SECONDS",
    )
    plans_max_limit: int = _opt(
        0,
        "answer at most N published versions whatever `limit` asks (a server that caps it "
        "silently; 0: no cap)",
        metavar="N",
    )
    grow_per_start: int = _opt(
        0,
        "append N events each time a client reaches the end of the log (a 204), so every later "
        "sync run starts with N new events",
        metavar="N",
    )
    variations: frozenset[str] = _opt(
        frozenset(),
        "serve what the vendor's documents allow but the happy path never shows (see "
        "variations.py): bare, every kind, or a comma-separated list of kinds: "
        + ", ".join(sorted(VARIATION_KINDS)),
        # On the command line: a bare --variations, or --variations=a,b (see from_args).
        type=str,
        nargs="?",
        const="all",
        default="",
        metavar="KINDS",
    )
    cursor_cycle_pages: int = _opt(
        0,
        "make nextStartAfter lead back N pages after the first page: a cursor cycle a client "
        "must stop on (0: none)",
        metavar="N",
    )
    start_ms: int = _opt(DEFAULT_START_MS, "epoch ms of the first event", cli=False)
    port: int = _opt(0, "port (0: a free one)")

    def __post_init__(self) -> None:
        # Accept True/False/any collection for `variations`; store a frozenset.
        object.__setattr__(self, "variations", variation_kinds(self.variations))
        problems = [
            f"{name} must be >= 0"
            for name in (
                "events",
                "plan_projects",
                "grow_per_start",
                "cursor_cycle_pages",
                "plans_max_limit",
            )
            if getattr(self, name) < 0
        ]
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            problems.append(f"page_size must be 1..{MAX_PAGE_SIZE}")
        if self.daily_quota is not None and self.daily_quota < 0:
            problems.append("daily_quota must be >= 0 or None")
        if not self.plans_latency_seconds >= 0:  # `not >=`: NaN is refused too
            problems.append("plans_latency_seconds must be >= 0")
        if self.max_response_bytes < 1:
            problems.append("max_response_bytes must be >= 1")
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        """The command line, one option per field (`--page-size` for `page_size`)."""
        parser = argparse.ArgumentParser(
            prog="aphex-simulator",
            description="Serve simulated Aphex Data API and Published Plans API on 127.0.0.1.",
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        for item in dataclasses.fields(cls):
            options = dict(item.metadata)  # help, and any argparse detail beyond the default
            if options.pop("cli", True):
                options.setdefault("type", type(item.default))
                options.setdefault("default", item.default)
                parser.add_argument("--" + item.name.replace("_", "-"), **options)
        parser.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
        return parser

    @classmethod
    def from_args(cls, argv: Sequence[str] | None = None) -> tuple[SimulatorSettings, bool]:
        """Settings from a command line, and whether `--quiet` was given (ValueError if bad)."""
        args = vars(cls.parser().parse_args(argv))
        quiet = bool(args.pop("quiet"))
        wanted = str(args.pop("variations"))
        kinds: Collection[str] = (
            VARIATION_KINDS if wanted == "all" else [k for k in wanted.split(",") if k]
        )
        if args["daily_quota"] == 0:
            args["daily_quota"] = None
        return cls(variations=frozenset(kinds), **args), quiet


def variation_kinds(wanted: bool | Collection[str]) -> frozenset[str]:
    """True: every kind; False: none; else the kinds named (ValueError for an unknown one)."""
    if isinstance(wanted, bool):
        return VARIATION_KINDS if wanted else frozenset()
    unknown = set(wanted) - VARIATION_KINDS
    if unknown:
        raise ValueError(
            f"unknown variation kind(s) {sorted(unknown)}; known: {sorted(VARIATION_KINDS)}"
        )
    return frozenset(wanted)
