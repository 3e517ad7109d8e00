"""`python -m tap_aphex.simulator` / `aphex-simulator`: run the simulator until interrupted.

On start it prints ONE JSON line on stdout (base_url, events_url, api_key, projects with their
url and token, ...) so that a driving script can learn the port; request logs go to stderr.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .data_api import DEFAULT_DAILY_QUOTA, MAX_PAGE_SIZE
from .plans_api import DEFAULT_MAX_RESPONSE_BYTES
from .server import DEFAULT_API_KEY, Simulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aphex-simulator",
        description="Serve simulated Aphex Data API and Published Plans API on 127.0.0.1.",
    )
    parser.add_argument("--seed", type=int, default=7, help="data seed (default 7)")
    parser.add_argument("--events", type=int, default=10_000, help="events in the log at start")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")
    parser.add_argument(
        "--page-size", type=int, default=MAX_PAGE_SIZE, help="events per page (max 4000)"
    )
    parser.add_argument(
        "--daily-quota",
        type=int,
        default=DEFAULT_DAILY_QUOTA,
        help="events served per day before 503 (0: no quota)",
    )
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="the x-api-key to accept")
    parser.add_argument("--projects", type=int, default=4, help="projects in the event log")
    parser.add_argument("--plan-projects", type=int, default=3, help="published-plans projects")
    parser.add_argument("--plan-tasks", type=int, default=40, help="tasks per published version")
    parser.add_argument(
        "--history-weeks", type=int, default=26, help="weekly versions published at start"
    )
    parser.add_argument(
        "--max-response-bytes",
        type=int,
        default=DEFAULT_MAX_RESPONSE_BYTES,
        help="plans documents larger than this answer 500 (default 32 MiB)",
    )
    parser.add_argument(
        "--stall-seconds", type=float, default=5.0, help="how long a 'stall' fault waits"
    )
    parser.add_argument(
        "--grow-per-start",
        type=int,
        default=0,
        metavar="N",
        help="append N events each time a client reaches the end of the log (a 204), so every "
        "later sync run starts with N new events",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        simulator = Simulator(
            seed=args.seed,
            events=args.events,
            page_size=args.page_size,
            daily_quota=args.daily_quota or None,
            api_key=args.api_key,
            projects=args.projects,
            plan_projects=args.plan_projects,
            plan_tasks=args.plan_tasks,
            history_weeks=args.history_weeks,
            max_response_bytes=args.max_response_bytes,
            stall_seconds=args.stall_seconds,
            grow_per_start=args.grow_per_start,
            port=args.port,
            request_log=None if args.quiet else sys.stderr,
        )
    except ValueError as exc:
        print(f"aphex-simulator: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    with simulator:
        print(json.dumps(simulator.info()), flush=True)
        # wait() with a timeout, in a loop, so the main thread wakes up to run signal handlers.
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
