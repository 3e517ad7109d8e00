"""The commands `tap-aphex` and `source-aphex`: every way a run can end is one line, no traceback
(`LOGLEVEL=DEBUG` adds one); the signals they handle are `signals`'."""

from __future__ import annotations

# Only modules loaded with the interpreter, so that the handlers are in place soon after start.
import os
import sys

from tap_aphex.signals import Interrupts, load_command


def tap_aphex() -> None:
    load_command("tap-aphex", "tap_aphex.tap")
    main()


def source_aphex() -> None:
    load_command("source-aphex", "tap_aphex.airbyte.cli")
    airbyte_main()


def main() -> None:
    interrupts = Interrupts("tap-aphex")
    try:
        code = run(sys.argv[1:], interrupts)
    except KeyboardInterrupt:  # a signal just as the run ended (its own handling): it has ended
        code = interrupts.exit_code
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


def run(args: list[str], interrupts: Interrupts) -> int:
    # Only a sync writes STATE: what an interrupted `--discover`, `--about` or `--test` says.
    options = {arg.split("=", 1)[0] for arg in args}
    syncing = not options & {"--discover", "--about", "--test", "--help", "--version"}
    code = _invoke(args, interrupts, syncing=syncing)
    try:
        sys.stdout.flush()  # what stdout still buffers (a catalog, say): a closed pipe shows here
    except BrokenPipeError:
        return _fail(output_closed(syncing=syncing))
    return code


def _invoke(args: list[str], interrupts: Interrupts, *, syncing: bool) -> int:
    # Loaded already (`load_command`); imported here so that this module loads without the SDK.
    import logging

    import click
    from singer_sdk.exceptions import ConfigValidationError

    from tap_aphex.inputs import joined
    from tap_aphex.logs import log_level_problem, off_stdout, printable, run_secrets
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
    if (logger := off_stdout()) is not None:
        shown = printable(os.environ.get("SINGER_SDK_LOG_CONFIG", ""), limit=120)
        return _fail(
            f"SINGER_SDK_LOG_CONFIG={shown!r} sends the {logger} logger's lines to stdout, where "
            "the tap writes its messages: send them to stderr (ext://sys.stderr) or a file."
        )
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
