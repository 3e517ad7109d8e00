"""Every signal the tap handles. In `tap-aphex` SIGTERM winds down as SIGINT does, the exit status
naming it (130, 143); `source-aphex` keeps SIGTERM's default action, as Airbyte runners expect.
Whatever a stop waits for, the process ends within `GIVE_UP_AFTER`. Below every module but the
commands', which install the handlers (`cli`)."""

from __future__ import annotations

# Only modules loaded with the interpreter, so that the handlers are in place soon after start.
import importlib
import os
import signal
import sys
import threading
import time

TYPE_CHECKING = False  # typing takes a few milliseconds to import; mypy reads this as True
if TYPE_CHECKING:
    from types import FrameType

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})
#: The stop signals each command handles; one left out keeps its default action.
HANDLED = {"tap-aphex": STOP_SIGNALS, "source-aphex": frozenset({signal.SIGINT})}
#: Seconds a stop may take (the last write and flush): a slower reader has stopped reading, and a
#: runner that sent SIGTERM kills the process soon after (`docker stop`: 10 s).
GIVE_UP_AFTER = 5.0
#: Seconds the line that says so may take on stderr, which may be a pipe nobody reads either.
STDERR_WAIT = 0.5


def load_command(name: str, preload: str) -> None:
    """Import ``preload`` (and so the SDK) with a handler that ends the process at once: nothing
    was read, and Python may ignore or wrap an exception raised while modules load."""

    def stop(signum: int, frame: FrameType | None) -> None:
        signame = signal.Signals(signum).name
        line = f"{name}: interrupted ({signame}) while starting: nothing was read.\n"
        os.write(sys.stderr.fileno(), line.encode())
        os._exit(128 + signum)

    for signum in HANDLED[name]:
        signal.signal(signum, stop)
    # Threads started while loading (OpenBLAS's, for numpy) inherit the blocked signals: handled in
    # one of them, a signal would end the process by itself while Python shuts down.
    before = for_worker_thread()
    try:
        importlib.import_module(preload)
    finally:
        if before is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, before)


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


class Interrupts:
    """From now on, the first stop signal ``command`` handles raises `KeyboardInterrupt`; later
    ones change nothing (`ignore_later`)."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.received: int | None = None
        self.said = threading.Event()  # the run's last line, "Interrupted (...)", is logged
        for signum in HANDLED[command]:
            signal.signal(signum, self.handle)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:  # a later one, run inside this handler before it swaps them
            return
        self.received = signum
        self.ignore_later()  # before the thread starts: it inherits the blocked signals
        threading.Thread(target=self._end_if_still_running, daemon=True).start()
        if held.writing:
            held.pending = KeyboardInterrupt()  # raised when the line is out (`Held`)
            return
        raise KeyboardInterrupt

    def ignore_later(self) -> None:
        """From now on a stop signal changes nothing: a no-op handler (with SIG_IGN, one pending
        has Python print "Signal 15 ignored due to race condition"), then blocked until the exit
        discards it (Python's shutdown puts back the default handlers: the status would change)."""
        for signum in HANDLED[self.command]:
            signal.signal(signum, lambda signum, frame: None)
        for_worker_thread(HANDLED[self.command])

    @property
    def signame(self) -> str:
        return signal.Signals(self.received or signal.SIGINT).name

    @property
    def exit_code(self) -> int:
        return 128 + (self.received or signal.SIGINT)

    def _end_if_still_running(self) -> None:
        """End the process as the signal asks if the run has not ended `GIVE_UP_AFTER` after it (a
        write stalls with its reader), saying so if not said yet (a thread: stderr may be full)."""
        time.sleep(GIVE_UP_AFTER)  # a run that ends in time ends this daemon thread with it
        if not self.said.is_set():
            message = (
                f"Interrupted ({self.signame}): stopped. The output was not being read, so its "
                "last line may be cut; the last STATE the reader received is where the next run "
                "resumes."
            )
            writer = threading.Thread(target=self._say, args=(message,), daemon=True)
            writer.start()
            writer.join(STDERR_WAIT)
        os._exit(self.exit_code)

    def _say(self, message: str) -> None:
        """Logged as a run's end is; on stderr for `source-aphex`, which logs on stdout."""
        import contextlib  # loaded long before a run writes anything
        import logging

        # stderr closed or gone: the exit status still says how the run ended.
        with contextlib.suppress(OSError, ValueError):
            if self.command == "source-aphex":
                os.write(sys.stderr.fileno(), f"{self.command}: {message}\n".encode())
            else:
                logging.getLogger(self.command).error("%s", message)
