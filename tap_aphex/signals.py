"""Every signal the tap handles, in one place (standard library only: it is loaded first).

- While a command loads (`load_command`, a few tenths of a second for the SDK), SIGINT (and for
  `tap-aphex` SIGTERM) ends the process at once with one line: nothing has been read yet.
- During a `tap-aphex` run (`Interrupts`), SIGTERM takes the same path as SIGINT (a
  `KeyboardInterrupt`), further signals are ignored while the run winds down, and the exit status
  says which one it was (130, 143).
- `source-aphex` (`for_airbyte`): Airbyte runners stop a connector with SIGTERM and expect it gone
  at once, so SIGTERM keeps its default action there.
- A message line being written goes out whole: the interrupt waits for the write (`held`).
"""

from __future__ import annotations

# Only modules loaded with the interpreter: a signal before a command installs its handlers
# would be a traceback, so the way there is kept short.
import importlib
import os
import signal
import sys
import threading

TYPE_CHECKING = False  # typing takes a few milliseconds to import; mypy reads this as True
if TYPE_CHECKING:
    from types import FrameType

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


def load_command(name: str, preload: str, *, stop_on_sigterm: bool) -> None:
    """Load what the command needs (``preload`` and all it imports: the SDK) with a handler that
    ends the process at once; the command's `main` then installs its own handlers.

    Not an exception while loading: one raised while modules load can land where Python ignores
    it (an import lock's callback) or wraps it (`__set_name__`), and the command would go on.
    Nothing has been read or written yet, so there is nothing to wind down.
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        signame = signal.Signals(signum).name
        line = f"{name}: interrupted ({signame}) while starting: nothing was read.\n"
        os.write(sys.stderr.fileno(), line.encode())
        os._exit(128 + signum)

    signal.signal(signal.SIGINT, stop)
    if stop_on_sigterm:
        signal.signal(signal.SIGTERM, stop)
    # Threads started while loading (OpenBLAS starts some when the SDK's joblib imports numpy)
    # are made with the stop signals blocked, as every thread of ours is (`for_worker_thread`):
    # a signal for the process then always reaches the main thread, whose handler decides; in
    # another thread, while Python shuts down, it would end the process by the signal itself.
    # A signal meanwhile waits, and ends the process right after the import.
    before = _block_stop_signals()
    try:
        importlib.import_module(preload)
    finally:
        if before is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, before)


def for_worker_thread() -> None:
    """Call first thing in a thread of ours: the stop signals are the main thread's to handle."""
    _block_stop_signals()


def _block_stop_signals() -> set[int | signal.Signals] | None:
    """Block SIGINT and SIGTERM in the calling thread; the mask before (None: no masks here)."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def for_airbyte() -> None:
    """Airbyte's signals: SIGTERM ends the process at once (every STATE already out covers only
    records already out), SIGINT raises KeyboardInterrupt. Also after the SDK set its own."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)


class Held:
    """``with held:`` around a write: a SIGINT or SIGTERM that `Interrupts` receives meanwhile
    interrupts the run right after it, so a line being written goes out whole.

    A handler that raised in the middle of a write to a slow reader would leave half a line on
    stdout, which the target cannot parse. A flag rather than a signal mask: it costs no system
    call for each of the many lines a run writes.
    """

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


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where SIGINT would raise `KeyboardInterrupt`, so both wind down alike."""


class Interrupts:
    """The first SIGINT or SIGTERM interrupts the run; later ones are ignored while it ends."""

    def __init__(self) -> None:
        self.received: int | None = None

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self.handle)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            return
        self.received = signum
        for other in (signal.SIGINT, signal.SIGTERM):
            # A no-op handler rather than SIG_IGN: a second signal already pending when this
            # runs would otherwise make Python print "Signal 15 ignored due to race condition".
            signal.signal(other, _ignore)
        interrupt = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        if held.writing:
            held.pending = interrupt  # raised when the line is out (`Held`)
            return
        raise interrupt

    def hold_further(self) -> None:
        """Keep later signals pending until the process has exited, which discards them.

        Python puts back the default handlers as it shuts down, and a second signal then would
        end the process by that signal instead of the status the first one set.
        """
        _block_stop_signals()

    @property
    def exit_code(self) -> int:
        return 128 + (self.received or signal.SIGINT)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """Further signals while the run winds down: it is already ending."""
