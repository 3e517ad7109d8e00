"""The commands `tap-aphex` and `source-aphex`, and every signal the tap handles.

Every way a run can end is one line, no traceback (`LOGLEVEL=DEBUG` adds one). A signal while the
SDK loads ends the process at once (`load_command`). In a `tap-aphex` run SIGTERM winds down as
SIGINT does (`Interrupts`) and the exit status names it (130, 143); `source-aphex` keeps SIGTERM's
default action, as Airbyte runners expect (`for_airbyte`). A line being written goes out whole
(`held`), and threads of ours leave the signals to the main thread (`for_worker_thread`).
"""

from __future__ import annotations

# Only modules loaded with the interpreter, so that the handlers are in place soon after start;
# the SDK and the rest of the tap are imported inside functions, once `load_command` loaded them.
import importlib
import os
import signal
import sys
import threading

TYPE_CHECKING = False  # typing takes a few milliseconds to import; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


def tap_aphex() -> None:
    load_command("tap-aphex", "tap_aphex.tap", stop_on_sigterm=True)
    main()


def source_aphex() -> None:
    load_command("source-aphex", "tap_aphex.airbyte.cli", stop_on_sigterm=False)
    importlib.import_module("tap_aphex.airbyte.cli").main()


def load_command(name: str, preload: str, *, stop_on_sigterm: bool) -> None:
    """Import ``preload`` (and so the SDK) with a handler that ends the process at once: an
    exception raised while modules load can be ignored (an import lock's callback) or wrapped
    (`__set_name__`) by Python, and nothing has been read yet: there is nothing to wind down."""

    def stop(signum: int, frame: FrameType | None) -> None:
        signame = signal.Signals(signum).name
        line = f"{name}: interrupted ({signame}) while starting: nothing was read.\n"
        os.write(sys.stderr.fileno(), line.encode())
        os._exit(128 + signum)

    signal.signal(signal.SIGINT, stop)
    if stop_on_sigterm:
        signal.signal(signal.SIGTERM, stop)
    # Threads started while loading (OpenBLAS's, when joblib imports numpy) inherit the blocked
    # signals, so the main thread's handler gets them: in another thread, while Python shuts
    # down, a signal would end the process by itself. One meanwhile waits for the import.
    before = for_worker_thread()
    try:
        importlib.import_module(preload)
    finally:
        if before is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, before)


def for_worker_thread() -> set[int | signal.Signals] | None:
    """Block the stop signals in this thread, first thing in a thread of ours: the main thread
    handles them. The mask before, or None on Windows (no signal masks)."""
    if not hasattr(signal, "pthread_sigmask"):
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def for_airbyte() -> None:
    """Airbyte's signals: SIGTERM ends the process at once (every STATE already out covers only
    records already out), SIGINT raises KeyboardInterrupt. Also after the SDK set its own."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)


class Held:
    """``with held:`` around a write: an interrupt meanwhile is raised after it, since half a
    line on stdout is more than the target can parse. A flag, not a signal mask: no system call
    for each of the many lines a run writes."""

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

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            return
        self.received = signum
        for other in STOP_SIGNALS:
            # A no-op handler rather than SIG_IGN: a second signal already pending when this
            # runs would otherwise make Python print "Signal 15 ignored due to race condition".
            signal.signal(other, lambda signum, frame: None)
        interrupt = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        if held.writing:
            held.pending = interrupt  # raised when the line is out (`Held`)
            return
        raise interrupt

    @property
    def exit_code(self) -> int:
        return 128 + (self.received or signal.SIGINT)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the tap's command line; exit with one line on stderr for anything but success."""
    interrupts = Interrupts()
    for signum in STOP_SIGNALS:
        signal.signal(signum, interrupts.handle)
    code = run(list(sys.argv[1:] if argv is None else argv), interrupts)
    if interrupts.received is not None:
        # Later signals stay pending until the exit discards them: Python puts back the default
        # handlers as it shuts down, and a second signal would then override the exit status.
        for_worker_thread()
    sys.exit(code)


def run(args: list[str], interrupts: Interrupts) -> int:
    """The command's exit status; what went wrong is logged as one line."""
    # Only a sync writes STATE: what an interrupted `--discover`, `--about` or `--test` says.
    options = {arg.split("=", 1)[0] for arg in args}
    syncing = not options & {"--discover", "--about", "--test", "--help", "--version"}
    code = _invoke(args, interrupts, syncing=syncing)
    try:
        sys.stdout.flush()  # what stdout still buffers (a catalog, say): a closed pipe shows here
    except BrokenPipeError:
        return _output_closed(syncing=syncing)
    except KeyboardInterrupt:  # a signal just as the run ended: it has ended
        return interrupts.exit_code
    return code


def _invoke(args: list[str], interrupts: Interrupts, *, syncing: bool) -> int:
    # Loaded already (`load_command`); imported here so that this module loads without the SDK.
    import logging

    import click
    from singer_sdk.exceptions import ConfigValidationError, MappingError

    from tap_aphex.logs import printable
    from tap_aphex.redaction import run_secrets
    from tap_aphex.report import AphexError
    from tap_aphex.sdk_seam import raised_by_stream_maps
    from tap_aphex.tap import TapAphex

    try:
        command = TapAphex.cli  # also sets up the console logging (LOGLEVEL)
        with command.make_context(TapAphex.name, args) as context:
            command.invoke(context)
    except click.exceptions.Exit as done:  # --help, --version, --discover, --test
        return done.exit_code
    except click.ClickException as error:  # a usage error, worded by click
        return _fail(error.format_message(), code=error.exit_code)
    except KeyboardInterrupt as interrupt:  # SIGINT, or SIGTERM (`Terminated`)
        name = "SIGTERM" if isinstance(interrupt, Terminated) else "SIGINT"
        resume = " The last STATE written is where the next run resumes." if syncing else ""
        _fail(f"Interrupted ({name}): stopped.{resume}")
        return interrupts.exit_code
    except BrokenPipeError:
        return _output_closed(syncing=syncing)
    except ConfigValidationError as error:
        return _fail("Config: " + "; ".join(error.errors or [str(error)]))
    except AphexError as error:
        return _fail(str(error))
    except Exception as error:  # the promise: one line, never a traceback
        text = printable(str(error), run_secrets(), limit=300)  # escaped secrets removed too
        # A stream map's expression failed to parse or to evaluate (e.g. "1/0": ZeroDivisionError).
        if isinstance(error, MappingError) or raised_by_stream_maps(error):
            return _fail(
                f"`stream_maps`: an expression failed ({type(error).__name__}: "
                f"{text.rstrip('.')}). Fix it in the `stream_maps` setting."
            )
        # Not one of ours, so possibly a bug: LOGLEVEL=DEBUG adds the traceback for a report.
        logging.getLogger("tap-aphex").debug("Traceback, for a bug report:", exc_info=error)
        return _fail(f"Unexpected {type(error).__name__}: {text}")
    return 0


def _output_closed(*, syncing: bool) -> int:
    # Whoever read our output stopped (`tap-aphex | head`); nothing more can reach them.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    resume = " The last STATE the reader received is where the next run resumes." if syncing else ""
    return _fail(f"Output closed by its reader (broken pipe): stopped.{resume}")


def _fail(message: str, code: int = 1) -> int:
    import logging

    logging.getLogger("tap-aphex").error("%s", message)
    return code
