"""The commands `tap-aphex` and `source-aphex`, and every signal the tap handles.

Each command ends every way a run can end with one clear line and no traceback (`LOGLEVEL=DEBUG`
adds one); a closed stdout exits 1. Signals:

- While a command loads (`load_command`, a few tenths of a second for the SDK), SIGINT (and for
  `tap-aphex` SIGTERM) ends the process at once with one line: nothing has been read yet.
- During a `tap-aphex` run (`Interrupts`), SIGTERM takes the same path as SIGINT (a
  `KeyboardInterrupt`), further signals are ignored while the run winds down, and the exit status
  says which one it was (130, 143).
- `source-aphex` (`for_airbyte`): Airbyte runners stop a connector with SIGTERM and expect it gone
  at once, so SIGTERM keeps its default action there.
- A message line being written goes out whole: the interrupt waits for the write (`held`).
- Threads of ours leave both signals to the main thread (`for_worker_thread`).
"""

from __future__ import annotations

# Only modules loaded with the interpreter: the commands start here, and a signal before they
# install their handlers would be a traceback, so the way there is kept short. The SDK and the
# rest of the tap are imported inside functions, once `load_command` has loaded them.
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
    """The `tap-aphex` command."""
    load_command("tap-aphex", "tap_aphex.tap", stop_on_sigterm=True)
    main()


def source_aphex() -> None:
    """The `source-aphex` command."""
    load_command("source-aphex", "tap_aphex.airbyte.cli", stop_on_sigterm=False)
    importlib.import_module("tap_aphex.airbyte.cli").main()


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
    before = for_worker_thread()
    try:
        importlib.import_module(preload)
    finally:
        if before is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, before)


def for_worker_thread() -> set[int | signal.Signals] | None:
    """Call first thing in a thread of ours: the stop signals are the main thread's to handle.

    Blocks SIGINT and SIGTERM in the calling thread; returns the mask before (None: Windows has
    no signal masks)."""
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
        interrupt = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        if held.writing:
            held.pending = interrupt  # raised when the line is out (`Held`)
            return
        raise interrupt

    @property
    def exit_code(self) -> int:
        return 128 + (self.received or signal.SIGINT)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the tap's command line; exit with one line on stderr for anything but success.

    The command starts in `tap_aphex`, above.
    """
    interrupts = Interrupts()
    interrupts.install()
    code = run(list(sys.argv[1:] if argv is None else argv), interrupts)
    if interrupts.received is not None:
        # Keep later signals pending until the process has exited, which discards them: Python
        # puts back the default handlers as it shuts down, and a second signal then would end
        # the process by that signal instead of the status the first one set.
        for_worker_thread()
    sys.exit(code)


def run(args: list[str], interrupts: Interrupts) -> int:
    """The command's exit status; what went wrong is logged as one line."""
    # Only a sync writes STATE: what an interrupted `--discover`, `--about` or `--test` says.
    syncing = not any(
        arg.split("=", 1)[0] in ("--discover", "--about", "--test", "--help", "--version")
        for arg in args
    )
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
    import click
    from singer_sdk.exceptions import ConfigValidationError, MappingError

    from tap_aphex.logs import printable, run_secrets
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
        import logging

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
