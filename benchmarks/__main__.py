"""Benchmarks of the real tap-aphex command against the simulator, each in a process of its own.

    uv run --locked python -m benchmarks            # the README's figures (a few minutes)
    uv run --locked python -m benchmarks --quick    # a quick look: small log, one run each

Prints figures; asserts nothing about time (see README, "Performance").
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Sequence

from benchmarks import events, plans, portfolio
from benchmarks.common import CONDITIONS


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line)
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, {sys.platform}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="2,000 events, one run, small plans")
    parser.add_argument("--events", type=int, nargs="+", help="log sizes (default 10000 100000)")
    parser.add_argument("--repeats", type=int, help="runs per figure, median taken (default 3)")
    parser.add_argument("--plan-tasks", type=int, help="tasks per plan version (default 12000)")
    parser.add_argument("--no-plans", action="store_true", help="skip the published-plans figures")
    parser.add_argument("--no-events", action="store_true", help="skip the task-event figures")
    parser.add_argument(
        "--portfolio", type=int, nargs="+", help="portfolio sizes, projects (default 40 200)"
    )
    parser.add_argument(
        "--latency", type=float, help="seconds the server takes per plans request (default 0.4)"
    )
    parser.add_argument("--no-portfolio", action="store_true", help="skip the portfolio figures")
    args = parser.parse_args(argv)
    sizes = args.events or ([2000] if args.quick else [10_000, 100_000])
    repeats = args.repeats or (1 if args.quick else 3)
    plan_tasks = args.plan_tasks or (200 if args.quick else plans.LARGE_PLAN_TASKS)

    print(f"machine: {machine()}", flush=True)
    print(CONDITIONS, flush=True)
    if not args.no_events:
        print(f"\ntask events, pages of {events.PAGE_SIZE}, median of {repeats}:", flush=True)
        print(events.table(events.measure(sizes, repeats)), flush=True)
    if not args.no_plans:
        print(file=sys.stdout)
        print(plans.table(plans.measure(plan_tasks, repeats)), flush=True)
    if not args.no_portfolio:
        sizes = args.portfolio or ([8] if args.quick else [40, 200])
        latency = args.latency if args.latency is not None else 0.4
        rows = portfolio.measure_time(sizes, latency, repeats)
        memory = None if args.quick else portfolio.measure_memory()
        print(file=sys.stdout)
        print(portfolio.table(rows, memory), flush=True)


if __name__ == "__main__":
    main()
