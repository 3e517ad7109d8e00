"""The commands `tap-aphex` and `source-aphex`: every way a run can end is one line, no traceback
(`LOGLEVEL=DEBUG` adds one); the signals they handle and the stdout they guard are `signals`'."""

from __future__ import annotations

# Only modules loaded with the interpreter, so that the handlers are in place soon after start.
import os
import sys

from tap_aphex.signals import Interrupts, guard_stdout, is_stdout, load_command, output_lost

#: Where the next run resumes after an interrupt (a STATE follows each page, each project).
RESUMES_AT_LAST_STATE = (
    "The last STATE written is where the next run resumes (none written: where this one started)."
)


def tap_aphex() -> None:
    load_command("tap-aphex", "tap_aphex.tap")
    main()


def source_aphex() -> None:
    load_command("source-aphex", "tap_aphex.airbyte.cli")
    from tap_aphex.airbyte.cli import main as airbyte_main  # loaded just now

    airbyte_main()


def main() -> None:
    interrupts = Interrupts("tap-aphex")
    args = sys.argv[1:]
    try:
        commands = commands_given(args)  # none: a sync, whose STATE alone is one to resume from
        code = _invoke(args, commands, interrupts)
        try:
            if sys.stdout is not None:  # None: closed from the start (`guard_stdout`)
                sys.stdout.flush()  # what it still buffers (a catalog): a closed pipe shows here
        except BrokenPipeError as error:
            code = _fail(output_lost(error, syncing=not commands))
    except KeyboardInterrupt:  # a signal just as the run ended (its own handling): it has ended
        code = interrupts.exit_code
    interrupts.ignore_later()
    sys.exit(code)


def _invoke(args: list[str], commands: list[str], interrupts: Interrupts) -> int:
    # Loaded already (`load_command`); imported here so that this module loads without the SDK.
    import logging

    import click
    from singer_sdk.exceptions import ConfigValidationError

    from tap_aphex.decoding import listed
    from tap_aphex.inputs import joined
    from tap_aphex.logs import log_level_problem, printable
    from tap_aphex.report import AphexError, stream_map_problem
    from tap_aphex.tap import TapAphex

    if problem := log_level_problem(os.environ):
        return _fail(f"Config: {problem}")
    log_config = os.environ.get("SINGER_SDK_LOG_CONFIG")
    try:
        # Also sets up the console logging: LOGLEVEL, and SINGER_SDK_LOG_CONFIG's file if set.
        command = TapAphex.cli
    except Exception as error:
        if log_config is None:
            raise
        problem = _log_config_problem(error, log_config)
    else:  # before anything is read: a log that cannot be written, then an output that cannot be
        problem = None if log_config is None else _log_handlers_problem()
    if problem:
        return _fail(f"SINGER_SDK_LOG_CONFIG={printable(log_config or '', limit=120)!r}{problem}")
    if problem := guard_stdout():
        return _fail(problem)
    if len(commands) > 1:
        named = listed([f"`{name}`" for name in commands])
        return _fail(f"{named} are separate commands: give one of them.")
    if problem := _value_left_out(args):
        return _fail(problem, code=2)  # as click's usage errors
    args, said = _unread(commands[0] if commands else "", args)  # before click opens them
    for level, words in said:
        logging.getLogger("tap-aphex").log(level, "%s", words)
    try:
        # click refuses an argument (the tap has none) after the eager options ran, as `--discover`
        # does: its own parser, which runs nothing, finds them first; `--help` answers anyway.
        extra = command.make_parser(click.Context(command)).parse_args(list(args))[1]
        if extra and commands[:1] not in (["--help"], ["--version"]):
            plural = "s" if len(extra) > 1 else ""
            raise click.UsageError(f"Got unexpected extra argument{plural} ({' '.join(extra)})")
        with command.make_context(TapAphex.name, args) as context:
            command.invoke(context)
    except click.exceptions.Exit as done:  # --help, --version, --discover, --test
        return done.exit_code
    except SystemExit as done:  # `--about`'s (the SDK's `sys.exit(0)`): its text is flushed next
        return int(done.code or 0)
    except click.ClickException as error:  # a usage error, worded by click
        return _fail(error.format_message(), code=error.exit_code)
    except KeyboardInterrupt:  # SIGINT, or SIGTERM (`Interrupts`)
        resume = "" if commands else f" {RESUMES_AT_LAST_STATE}"
        _fail(f"Interrupted ({interrupts.signame}): stopped.{resume}")
        interrupts.said.set()  # if the last flush then hangs, the process still ends: no 2nd line
        return interrupts.exit_code
    except BrokenPipeError as error:  # also `OutputUnwritable`
        return _fail(output_lost(error, syncing=not commands))
    except ConfigValidationError as error:
        return _fail("Config: " + joined(error.errors or [str(error)]))
    except AphexError as error:
        return _fail(str(error))
    except Exception as error:  # the promise: one line, never a traceback
        # A stream map's expression failed to parse or to evaluate (e.g. "1/0": ZeroDivisionError).
        if problem := stream_map_problem(error):
            return _fail(problem)
        text = printable(str(error), limit=300)  # escaped secrets removed too
        # Not one of ours, so possibly a bug: LOGLEVEL=DEBUG adds the traceback for a report.
        logging.getLogger("tap-aphex").debug("Traceback, for a bug report:", exc_info=error)
        return _fail(f"Unexpected {type(error).__name__}: {text}")
    return 0


def _log_config_problem(error: Exception, path: str) -> str:
    """The SDK's error names neither the variable nor the file's line (a missing file: WARNING)."""
    from tap_aphex.logs import printable

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
    return f": {reason}. Point it at a YAML logging config file, or unset it."


def _log_handlers_problem() -> str | None:
    """A handler that would spoil the run, removed so that the line saying so reaches stderr: one
    writing to stdout (a target would read log lines as messages), or a delayed file handler whose
    file cannot be opened (logging would print a traceback at its first line)."""
    import logging

    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in (log for log in loggers if isinstance(log, logging.Logger)):
        for attached in logger.handlers:
            handler: logging.Handler | None = attached
            while handler is not None:  # a MemoryHandler hands its lines to its target
                problem = None
                if isinstance(handler, logging.FileHandler) and handler.stream is None:
                    try:  # delay: true; opened now, as the handler would at its first line
                        handler.stream = handler._open()
                    except OSError as error:
                        problem = (
                            f" names a log file that cannot be opened, {handler.baseFilename} "
                            f"({error.strerror}): give one the tap can write, or unset it."
                        )
                if problem is None and is_stdout(getattr(handler, "stream", None)):
                    problem = (
                        f" sends the {logger.name} logger's lines to stdout, where the tap writes "
                        "its messages: send them to stderr (ext://sys.stderr) or a file."
                    )
                if problem is not None:
                    logger.removeHandler(attached)
                    return problem
                handler = getattr(handler, "target", None)
    return None


_VALUED = ("--config", "--state", "--catalog", "--format")  # the next argument is their value
#: What each command does, and which of `_VALUED` it reads; "": a sync.
_COMMANDS = {
    "": ("syncs", ("--config", "--state", "--catalog")),
    "--discover": ("describes every stream", ("--config",)),
    "--about": ("describes the tap", ("--format",)),  # the SDK's: the class's settings, no config
    "--test": ("tests every stream", ("--config", "--state")),  # `--state`: as a sync would
    "--test=schema": ("writes every stream's SCHEMA", ("--config",)),
    "--help": ("", ()),
    "--version": ("", ()),
}
#: Unread, but no word of it: Meltano passes its config to every command and its state to every
#: discovery; `--help` and `--version` answer whatever else is given.
_UNSAID = {
    "--discover": ("--state",),
    "--about": ("--config",),
    "--help": _VALUED,
    "--version": _VALUED,
}


def commands_given(args: list[str]) -> list[str]:
    """The commands ``args`` give other than a sync, distinct, in order, up to `--`: `--test` in
    one spelling a value (`--test schema` is `--test=schema`, `--test=all` is `--test`), `disabled`
    (a sync) only beside another, as click keeps the last; `--help` or `--version` alone, as click
    answers it whatever else is given. Two or more: click would run one, the others unsaid."""
    given, index = [], 0
    while index < len(args) and args[index] != "--":
        name, equals, value = args[index].partition("=")
        index += 1
        if name in ("--help", "--version"):
            return [name]
        if name in _VALUED and not equals:
            index += 1  # `--config --test`: a file's name, not a command
        elif name == "--test":
            if not equals and index < len(args) and args[index] in ("all", "schema", "disabled"):
                value, index = args[index], index + 1
            # Another value is click's to refuse (`cb_test`): here, a test like any other.
            given.append(f"--test={value}" if value in ("schema", "disabled") else "--test")
        elif name in _COMMANDS and name:  # "": a sync's entry, no option
            given.append(name)
    tests = {command for command in given if command.startswith("--test")}
    return [c for c in dict.fromkeys(given) if c != "--test=disabled" or len(tests) > 1]


def _value_left_out(args: list[str]) -> str | None:
    """An option whose value, as click reads it, is another option, or none (the line's end): its
    value was left out, and dropping it unread (`_unread`) would have turned `--format --discover`
    into a sync, or let `--discover --format` run with a warning only."""
    from tap_aphex.decoding import readable

    index = 0
    while index < len(args) and args[index] != "--":
        name, equals, _ = args[index].partition("=")
        if name in _VALUED and not equals and index == len(args) - 1:
            return f"`{name}` has no value (it ends the line): give its value, or leave it out."
        if name in _VALUED and not equals and args[index + 1].startswith("--"):
            after = readable(args[index + 1], 40)
            return (
                f"`{name}` has no value (`{after}` follows it): give its value, or leave it out "
                f"(a value that starts with `--`: `{name}={after}`)."
            )
        index += 2 if name in _VALUED and not equals else 1
    return None


def _unread(command: str, args: list[str]) -> tuple[list[str], list[tuple[int, str]]]:
    """``args`` without the options ``command`` does not read, and the lines that say so: click
    would still check them (open a file, match a `--format`) as it reaches them, before the
    command or after it, so an unread option would fail a run by where it stands. A file is said
    at INFO (`meltano invoke` passes the files it has to every command; nothing is lost), a
    `--format` at WARNING (no command but `--about` has one)."""
    import logging

    from tap_aphex.decoding import listed

    does, reads = _COMMANDS[command]
    kept, dropped, index = [], [], 0
    while index < len(args) and args[index] != "--":  # after `--`: arguments, click's to refuse
        name, equals, _ = args[index].partition("=")
        valued = name in _VALUED
        end = index + (2 if valued and not equals else 1)  # click's value, whatever follows
        if valued and name not in reads:
            dropped.append(name)
        else:
            kept += args[index:end]
        index = end
    kept += args[index:]
    said = [name for name in _VALUED if name in dropped and name not in _UNSAID.get(command, ())]
    files = [name for name in said if name != "--format"]
    lines = (
        [(logging.WARNING, "`--format` is read only by `--about`.")] if "--format" in said else []
    )
    if files:
        named, verb = listed([f"`{name}`" for name in files]), "is" if len(files) == 1 else "are"
        lines.insert(0, (logging.INFO, f"{named} {verb} not read by `{command}`, which {does}."))
    return kept, lines


_LONGEST_LINE = 2_000


def _fail(message: str, code: int = 1) -> int:
    """The run's last line: one line, no secret, whatever it quotes (a file's name, too)."""
    import logging

    from tap_aphex.logs import one_line, redacted

    said = one_line(redacted(message))
    if len(said) > _LONGEST_LINE:  # a file's name of thousands of characters, say
        said = said[: _LONGEST_LINE - 1] + "…"
    logging.getLogger("tap-aphex").error("%s", said)
    return code
