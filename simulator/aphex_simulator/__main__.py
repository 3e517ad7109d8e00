"""`python -m aphex_simulator` / `aphex-simulator`: run the simulator until interrupted.

On start it prints ONE JSON line on stdout (base_url, events_url, api_key, projects with their
url and token, ...) so that a driving script can learn the port; request logs go to stderr.
Every option comes from `SimulatorSettings` (see `--help`).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .settings import SimulatorSettings
from .simulator import Simulator


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings, quiet = SimulatorSettings.from_args(argv)
        simulator = Simulator(settings, request_log=None if quiet else sys.stderr)
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
