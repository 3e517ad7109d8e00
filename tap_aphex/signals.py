"""Every signal the tap handles. In `tap-aphex` SIGTERM winds down as SIGINT does, the exit
status naming it (130, 143); `source-aphex` keeps SIGTERM's default action, as Airbyte runners
expect. Whatever a stop waits for, the process ends within `GIVE_UP_AFTER`."""

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

#: Seconds a stop may take (the last write and flush): a slower reader has stopped reading, and a
#: runner that sent SIGTERM kills the process soon after (`docker stop`: 10 s).
GIVE_UP_AFTER = 5.0
#: Seconds the line that says so may take on stderr, which may be a pipe nobody reads either.
STDERR_WAIT = 0.5


def load_command(name: str, preload: str, *, stop_on_sigterm: bool) -> None:
    """Import ``preload`` (and so the SDK) with a handler that ends the process at once: nothing
    was read, and Python may ignore or wrap an exception raised while modules load."""

    def stop(signum: int, frame: FrameType | None) -> None:
        signame = signal.Signals(signum).name
        line = f"{name}: interrupted ({signame}) while starting: nothing was read.\n"
        os.write(sys.stderr.fileno(), line.encode())
        os._exit(128 + signum)

    signal.signal(signal.SIGINT, stop)
    if stop_on_sigterm:
        signal.signal(signal.SIGTERM, stop)
    # Threads started while loading (OpenBLAS's, for numpy) inherit the blocked signals: handled in
    # one of them, a signal would end the process by itself while Python shuts down.
    before = for_worker_thread()
    try:
        importlib.import_module(preload)
    finally:
        if before is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, before)


def for_worker_thread() -> set[int | signal.Signals] | None:
    """Block the stop signals in a thread of ours; the mask before (None on Windows: no masks)."""
    if not hasattr(signal, "pthread_sigmask"):
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def for_airbyte() -> None:
    """SIGTERM ends the process at once (each STATE out covers records out); SIGINT interrupts."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, _airbyte_interrupt)


def _airbyte_interrupt(signum: int, frame: FrameType | None) -> None:
    threading.Thread(target=_end_if_still_running, args=(None, signum), daemon=True).start()
    raise KeyboardInterrupt


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
    """The first SIGINT or SIGTERM raises `KeyboardInterrupt` (alike); later ones are ignored."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.said = threading.Event()  # the run's last line, "Interrupted (...)", is logged

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self.handle)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            return
        self.received = signum
        for other in STOP_SIGNALS:
            # A no-op handler rather than SIG_IGN: a second signal already pending when this
            # runs would otherwise make Python print "Signal 15 ignored due to race condition".
            signal.signal(other, lambda signum, frame: None)
        threading.Thread(target=_end_if_still_running, args=(self, signum), daemon=True).start()
        if held.writing:
            held.pending = KeyboardInterrupt()  # raised when the line is out (`Held`)
            return
        raise KeyboardInterrupt

    @property
    def exit_code(self) -> int:
        return 128 + (self.received or signal.SIGINT)


def _end_if_still_running(interrupts: Interrupts | None, signum: int) -> None:
    """End the process as the signal asks if the run has not ended `GIVE_UP_AFTER` after it (a
    write stalls with its reader), saying so if not said yet, from a thread: stderr may be full."""
    for_worker_thread()
    time.sleep(GIVE_UP_AFTER)  # a run that ends in time ends this daemon thread with it
    if interrupts is None or not interrupts.said.is_set():
        message = (
            f"Interrupted ({signal.Signals(signum).name}): stopped. The output was not being "
            "read, so its last line may be cut; the last STATE the reader received is where the "
            "next run resumes."
        )
        writer = threading.Thread(target=_say, args=(message, interrupts is None), daemon=True)
        writer.start()
        writer.join(STDERR_WAIT)
    os._exit(128 + signum)


def _say(message: str, airbyte: bool) -> None:
    """Logged as `cli` logs a run's end; on stderr for `source-aphex`, which logs on stdout."""
    import contextlib  # loaded long before a run writes anything
    import logging

    for_worker_thread()
    # stderr closed or gone: the exit status still says how the run ended.
    with contextlib.suppress(OSError, ValueError):
        if airbyte:
            os.write(sys.stderr.fileno(), f"source-aphex: {message}\n".encode())
        else:
            logging.getLogger("tap-aphex").error("%s", message)
