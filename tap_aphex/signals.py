"""What stops a run from outside: every signal the tap handles, and a stdout that takes no more
(SIGPIPE, which Python turns into a broken pipe, or a full disk). In `tap-aphex` SIGTERM winds down
as SIGINT does, the exit status naming it (130, 143); `source-aphex` keeps SIGTERM's default action,
as Airbyte runners expect. Whatever a stop waits for, the process ends within `GIVE_UP_AFTER`.
Below every module but the commands', which install the handlers and guard stdout (`cli`)."""

from __future__ import annotations

# Only modules loaded with the interpreter, so that the handlers are in place soon after start.
import errno
import importlib
import io
import os
import signal
import sys
import threading
import time
from stat import S_ISCHR

TYPE_CHECKING = False  # typing takes a few milliseconds to import; mypy reads this as True
if TYPE_CHECKING:
    import typing as t
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
    """``with held:`` around a write (half a line is more than the target can parse), or a
    `threading.Condition.wait` (raised in its own code, an interrupt can leave the lock released,
    and the `with` around it then fails): an interrupt meanwhile is raised after it. A flag, not a
    signal mask: no system call per line."""

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


def interrupt() -> None:
    """Raise `KeyboardInterrupt` now, or where ``with held:`` ends (a line half out, a wait)."""
    if held.writing:
        held.pending = KeyboardInterrupt()
        return
    raise KeyboardInterrupt


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
        interrupt()

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


def is_stdout(stream: t.Any) -> bool:
    """``stream`` writes where stdout goes, a pipe or a file a target reads: `sys.stdout`, or a
    file opened on it (``/dev/stdout``, ``/proc/self/fd/1``). Not where stderr goes too (``2>&1``:
    the user's choice), nor a terminal or ``/dev/null``."""
    try:  # `sys.stdout` too: Python's own, on descriptor 1
        place, out, err = (os.fstat(fd) for fd in (stream.fileno(), 1, 2))
    except (AttributeError, OSError, ValueError):
        return False
    where = [(stat.st_dev, stat.st_ino) for stat in (place, out, err)]
    return where[0] == where[1] != where[2] and not S_ISCHR(out.st_mode)


class OutputUnwritable(BrokenPipeError):
    """stdout refused a write (a full disk...): a broken pipe, whatever the cause, as every part of
    the run stops at one (`except BrokenPipeError`) claiming nothing more landed."""


class _GuardedStdout(io.FileIO):
    """stdout's file, failing to write with `OutputUnwritable`: the SDK's writers, `print` and ours
    write there, and none can tell stdout's error from another's (a BATCH file's full disk)."""

    def write(self, data: t.Any) -> int:  # a bytes-like object
        try:
            # A non-blocking stdout answers None when full: waited for as a blocking one waits
            # (returned, the BufferedWriter above would drop what did not fit).
            while (written := super().write(data)) is None:
                import select  # only then: no module loads before the signal handlers

                select.select([], [self], [])
            return written
        except BrokenPipeError:
            raise
        except OSError as error:
            raise OutputUnwritable(error.errno, error.strerror) from None


def guard_stdout() -> str | None:
    """Why nothing can be written on stdout at all (then nothing is read), or None once
    `sys.stdout` writes through `_GuardedStdout`, buffered as before (`PYTHONUNBUFFERED`: not)."""
    out = sys.stdout
    if out is None:  # fd 1 was closed as Python started (and another file may take it later)
        return _unwritable_from_start("stdout is closed (as `>&-` leaves it)")
    if not isinstance(out, io.TextIOWrapper):  # replaced (a test's capture): left as it is
        return None
    raw = getattr(out.buffer, "raw", out.buffer)  # no `raw`: unbuffered (`PYTHONUNBUFFERED`)
    if not isinstance(raw, io.FileIO):  # not a file (a capture), or a Windows console: as it is
        return None
    try:
        import fcntl  # POSIX only; loaded long after the signal handlers are in place

        flags = fcntl.fcntl(raw.fileno(), fcntl.F_GETFL)
    except ImportError:
        flags = os.O_WRONLY  # not known here: a write says it
    if flags & os.O_ACCMODE == os.O_RDONLY:
        return _unwritable_from_start("stdout is open for reading only (as `1<file` leaves it)")
    out.flush()
    guarded = _GuardedStdout(raw.fileno(), "w", closefd=False)
    size = getattr(raw, "_blksize", io.DEFAULT_BUFFER_SIZE)  # as `open` sizes it
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(guarded, size) if raw is not out.buffer else guarded,
        encoding=out.encoding,
        errors=out.errors,
        newline="\n",  # as Python's own stdout: no translation
        line_buffering=out.line_buffering,
        write_through=out.write_through,
    )
    return None


#: Why a write to stdout failed, by errno; another: its system's words.
_WHY_UNWRITABLE = {
    errno.ENOSPC: "no space is left on the device stdout writes to (the disk is full)",
    errno.EDQUOT: "the disk quota of the file system stdout writes to is spent",
    errno.EFBIG: "the file stdout writes to has reached the largest size allowed",
    errno.EBADF: "stdout is not open for writing",
    errno.EIO: "the device stdout writes to failed (an I/O error)",
}


def output_lost(error: BrokenPipeError, *, syncing: bool) -> str:
    """The line for a stdout that takes no more (`tap-aphex | head`, a full disk); its rest goes
    nowhere. A sync's: where it resumes; it claims nothing landed."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's last flush, too
    if not isinstance(error, OutputUnwritable):
        resume = " The last STATE the reader received is where the next run resumes."
        return f"Output closed by its reader (broken pipe): stopped.{resume * syncing}"
    why = _WHY_UNWRITABLE.get(error.errno or 0) or f"stdout: {error.strerror or error}"
    resume = " The last STATE written in full is where the next run resumes."
    return f"Output cannot be written: {why}: stopped.{resume * syncing}"


def _unwritable_from_start(why: str) -> str:
    return f"Output cannot be written: {why}: stopped before reading anything."
