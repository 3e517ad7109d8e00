"""What the stdout writer and the worker threads need of the stop signals `tap_aphex.cli` handles:
below every module, so that none imports the command module (an import circle)."""

from __future__ import annotations

import signal

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


def for_worker_thread(signals: frozenset[int] = STOP_SIGNALS) -> set[int | signal.Signals] | None:
    """Block ``signals`` in this thread and those it starts; the mask before (None on Windows)."""
    if not hasattr(signal, "pthread_sigmask"):
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, signals)


class Held:
    """``with held:`` around a write: an interrupt meanwhile is raised after it, as half a line
    is more than the target can parse. A flag, not a signal mask: no system call per line."""

    def __init__(self) -> None:
        self.writing = False
        self.pending: BaseException | None = None

    def __enter__(self) -> None:
        self.writing = True

    def __exit__(self, *exc_info: object) -> None:
        self.writing = False
        if self.pending is not None and exc_info[0] is None:
            pending, self.pending = self.pending, None
            raise pending


held = Held()
