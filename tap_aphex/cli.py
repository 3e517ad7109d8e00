"""The commands `tap-aphex` and `source-aphex`, and every signal they handle: every way a run can
end is one line, no traceback (`LOGLEVEL=DEBUG` adds one). In `tap-aphex` SIGTERM winds down as
SIGINT does, the exit status naming it (130, 143); `source-aphex` keeps SIGTERM's default action,
as Airbyte runners expect. Whatever a stop waits for, the process ends within `GIVE_UP_AFTER`."""

from __future__ import annotations

# Only modules loaded with the interpreter, so that the handlers are in place soon after start.
import importlib
import os
import signal
import sys
import threading
import time

from tap_aphex.signals import STOP_SIGNALS, for_worker_thread, held

TYPE_CHECKING = False  # typing takes a few milliseconds to import; mypy reads this as True
if TYPE_CHECKING:
    from types import FrameType

#: The stop signals each command handles; one left out keeps its default action.
HANDLED = {"tap-aphex": STOP_SIGNALS, "source-aphex": frozenset({signal.SIGINT})}
#: Seconds a stop may take (the last write and flush): a slower reader has stopped reading, and a
#: runner that sent SIGTERM kills the process soon after (`docker stop`: 10 s).
GIVE_UP_AFTER = 5.0
#: Seconds the line that says so may take on stderr, which may be a pipe nobody reads either.
STDERR_WAIT = 0.5


def tap_aphex() -> None:
    load_command("tap-aphex", "tap_aphex.tap")
    main()


def source_aphex() -> None:
    load_command("source-aphex", "tap_aphex.airbyte.cli")
    airbyte_main()


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


def main() -> None:
    interrupts = Interrupts("tap-aphex")
    code = run(sys.argv[1:], interrupts)
    interrupts.ignore_later()
    sys.exit(code)


def airbyte_main() -> None:
    from tap_aphex.airbyte.cli import run as airbyte_run  # loaded already (`load_command`)

    interrupts = Interrupts("source-aphex")
    args = sys.argv[1:]
    try:
        code = airbyte_run(args, sys.stdout.buffer, answered=interrupts.ignore_later)
        sys.stdout.flush()  # what stdout still buffers: a closed pipe shows here
    except BrokenPipeError:
        # No TRACE can reach a reader that is gone: stderr is the one place left to say why.
        sys.stderr.write(f"source-aphex: {output_closed(syncing=args[:1] == ['read'])}\n")
        code = 1
    sys.exit(code)


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


def run(args: list[str], interrupts: Interrupts) -> int:
    # Only a sync writes STATE: what an interrupted `--discover`, `--about` or `--test` says.
    options = {arg.split("=", 1)[0] for arg in args}
    syncing = not options & {"--discover", "--about", "--test", "--help", "--version"}
    code = _invoke(args, interrupts, syncing=syncing)
    try:
        sys.stdout.flush()  # what stdout still buffers (a catalog, say): a closed pipe shows here
    except BrokenPipeError:
        return _fail(output_closed(syncing=syncing))
    except KeyboardInterrupt:  # a signal just as the run ended: it has ended
        return interrupts.exit_code
    return code


def _invoke(args: list[str], interrupts: Interrupts, *, syncing: bool) -> int:
    # Loaded already (`load_command`); imported here so that this module loads without the SDK.
    import logging

    import click
    from singer_sdk.exceptions import ConfigValidationError

    from tap_aphex.inputs import joined
    from tap_aphex.logs import log_level_problem, printable, run_secrets
    from tap_aphex.report import AphexError, stream_map_problem
    from tap_aphex.tap import TapAphex

    if problem := log_level_problem(os.environ):
        return _fail(problem)
    try:
        # Also sets up the console logging: LOGLEVEL, and SINGER_SDK_LOG_CONFIG's file if set.
        command = TapAphex.cli
    except Exception as error:
        if "SINGER_SDK_LOG_CONFIG" not in os.environ:
            raise
        return _fail(_log_config_problem(error, os.environ["SINGER_SDK_LOG_CONFIG"]))
    try:
        with command.make_context(TapAphex.name, args) as context:
            command.invoke(context)
    except click.exceptions.Exit as done:  # --help, --version, --discover, --test
        return done.exit_code
    except click.ClickException as error:  # a usage error, worded by click
        return _fail(error.format_message(), code=error.exit_code)
    except KeyboardInterrupt:  # SIGINT, or SIGTERM (`Interrupts`)
        resume = " The last STATE written is where the next run resumes." if syncing else ""
        _fail(f"Interrupted ({interrupts.signame}): stopped.{resume}")
        interrupts.said.set()  # if the last flush then hangs, the process still ends: no 2nd line
        return interrupts.exit_code
    except BrokenPipeError:
        return _fail(output_closed(syncing=syncing))
    except ConfigValidationError as error:
        return _fail("Config: " + joined(error.errors or [str(error)]))
    except AphexError as error:
        return _fail(str(error))
    except Exception as error:  # the promise: one line, never a traceback
        # A stream map's expression failed to parse or to evaluate (e.g. "1/0": ZeroDivisionError).
        if problem := stream_map_problem(error):
            return _fail(problem)
        text = printable(str(error), run_secrets(), limit=300)  # escaped secrets removed too
        # Not one of ours, so possibly a bug: LOGLEVEL=DEBUG adds the traceback for a report.
        logging.getLogger("tap-aphex").debug("Traceback, for a bug report:", exc_info=error)
        return _fail(f"Unexpected {type(error).__name__}: {text}")
    return 0


def _log_config_problem(error: Exception, path: str) -> str:
    """The SDK's error names neither the variable nor the file's line (a missing file: WARNING)."""
    from tap_aphex.logs import printable

    shown = printable(path, limit=120)
    if not path:
        reason = "it is set but empty"
    elif isinstance(error, IsADirectoryError):
        reason = "it names a directory, not a file"
    elif isinstance(error, OSError):
        reason = f"the file cannot be read: {error.strerror or error}"
    elif type(error).__module__.startswith("yaml"):  # PyYAML's, the SDK's: not ours to import
        mark = getattr(error, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        said = getattr(error, "problem", None) or getattr(error, "context", None)
        reason = f"the file is not valid YAML ({said or printable(str(error), limit=120)}{line})"
    else:  # valid YAML, but not a dictConfig mapping: empty, a list, no `version`, a bad handler
        reason = (
            "the file is not a logging config Python's logging.config.dictConfig accepts "
            f"({type(error).__name__}: {printable(str(error), limit=160)})"
        )
    return (
        f"SINGER_SDK_LOG_CONFIG={shown!r}: {reason}. Point it at a YAML logging config file, or "
        "unset it."
    )


def output_closed(*, syncing: bool) -> str:
    """Its reader gone (`tap-aphex | head`), stdout's rest goes nowhere: the line that says so."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    resume = " The last STATE the reader received is where the next run resumes." if syncing else ""
    return f"Output closed by its reader (broken pipe): stopped.{resume}"


def _fail(message: str, code: int = 1) -> int:
    import logging

    logging.getLogger("tap-aphex").error("%s", message)
    return code
