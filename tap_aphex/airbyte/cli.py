"""The `source-aphex` command. Every command writes Airbyte messages on stdout, the tap's logging
as LOG messages; errors end as a TRACE (`config_error` when a setting or credential must be fixed,
`system_error` otherwise) and exit code 1, never as a traceback."""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import logging
import os
import sys
import typing as t
from pathlib import Path

from singer_sdk.exceptions import ConfigValidationError

from tap_aphex.airbyte import protocol, writer
from tap_aphex.client import AphexStream
from tap_aphex.inputs import joined, read_json, read_json_object
from tap_aphex.logs import log_level_problem
from tap_aphex.map_checks import map_outputs
from tap_aphex.report import (
    AphexError,
    AuthenticationError,
    ConfigError,
    RunFailedError,
    StopReason,
    describe,
    stream_map_problem,
)
from tap_aphex.settings import remember_config_secrets
from tap_aphex.signals import Interrupts, guard_stdout, output_lost
from tap_aphex.tap import TapAphex

if t.TYPE_CHECKING:
    from collections.abc import Callable, Collection, Sequence


def main() -> None:
    """`source-aphex`'s process, once `tap_aphex.cli.source_aphex` has loaded this module."""
    interrupts = Interrupts("source-aphex")
    args = sys.argv[1:]
    # No TRACE can be written where stdout fails: stderr is the one place left to say why.
    if problem := guard_stdout():
        sys.stderr.write(f"source-aphex: {problem}\n")
        sys.exit(1)
    try:
        try:
            code = run(args, sys.stdout.buffer, answered=interrupts.ignore_later)
        except SystemExit as done:  # argparse's `--help`, `--version` and usage errors
            code = int(done.code or 0)
        sys.stdout.flush()  # what stdout still buffers: a closed pipe shows here
    except BrokenPipeError as error:  # also `OutputUnwritable`
        sys.stderr.write(f"source-aphex: {output_lost(error, syncing=args[:1] == ['read'])}\n")
        code = 1
    sys.exit(code)


def run(
    argv: Sequence[str] | None, stdout: t.BinaryIO, answered: Callable[[], None] = lambda: None
) -> int:
    parser = argparse.ArgumentParser("source-aphex", description="tap-aphex as an Airbyte source.")
    version: list[str] = []
    TapAphex.print_version(print_fn=version.append)  # `tap-aphex --version`'s line: one source
    parser.add_argument("--version", action="version", version=version[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("spec", help="the settings, as a ConnectorSpecification")
    for name in ("check", "discover", "read"):
        command = commands.add_parser(name)
        command.add_argument("--config", required=True, type=Path)
        if name == "read":
            command.add_argument("--catalog", required=True, type=Path)
            command.add_argument("--state", type=Path)
    printed = io.StringIO()  # argparse drops an error writing `--help` or `--version`: ours says it
    try:
        with contextlib.redirect_stdout(printed):
            args = parser.parse_args(argv)
    finally:
        if text := printed.getvalue():
            stdout.write(text.encode())
    output = writer.AirbyteOutput(stdout)

    def settled() -> None:
        """From here a SIGINT changes nothing: what is left to write is the answer. A read whose
        streams all ran exits as without it, not 130 with a TRACE after its statuses: the platform
        would count a failure and retry, spending quota on data that landed. Python runs a handler
        at the next call, so one that came just before is raised here, and dropped."""
        try:  # noqa: SIM105 (`contextlib.suppress` would be such a call, before its `with`)
            answered()
        except KeyboardInterrupt:
            pass

    with writer.logs_as_airbyte_messages(output):
        try:
            return _command(args, output, settled)
        except (ConfigValidationError, AphexError) as error:
            output.write(_trace(error))
        except BrokenPipeError:
            raise  # whoever read stdout is gone: nothing more can be said there
        except KeyboardInterrupt:
            said = _where_the_next_read_starts(output) if args.command == "read" else "no answer"
            output.write(writer.error_trace(f"Interrupted; {said}.", "transient_error"))
            return 130
        except Exception as error:  # the protocol's way to fail: a TRACE, not a traceback
            output.write(_trace(error, f"source-aphex failed: {failure_text(error)}"))
        finally:
            settled()  # every message is out
        return 1


def _where_the_next_read_starts(output: writer.AirbyteOutput) -> str:
    if output.states_written:
        return "the last STATE holds what landed, and the next read resumes there"
    return "no STATE was sent yet, so the next read starts where this one did"


def _command(
    args: argparse.Namespace, output: writer.AirbyteOutput, settled: Callable[[], None]
) -> int:
    if args.command == "spec":
        output.write({"type": "SPEC", "spec": protocol.connector_specification()})
        return 0
    if "SINGER_SDK_LOG_CONFIG" in os.environ:  # the SDK reads it only in its own command
        logging.getLogger("source-aphex").warning(
            "SINGER_SDK_LOG_CONFIG is not read by source-aphex (its logs are Airbyte LOG "
            "messages): unset it, or use tap-aphex for that logging config."
        )
    if args.command == "check":
        try:
            config = _config(args.config)
            _refuse_what_a_read_would(config)
            tap = TapAphex(config={**config, "published_plans_limit": 1})
            _refuse_renames(tap)
        except (ConfigValidationError, ConfigError) as error:
            # A check answers whatever is wrong with the config: a `read`'s TRACE, then its answer.
            output.write(_trace(error))
            output.write(writer.connection_status(succeeded=False, message=failure_text(error)))
        else:
            _check(tap, output)
        return 0  # a failed check is an answer, not an error
    config = _config(args.config)
    if args.command == "discover":
        _refuse_what_a_read_would(config)  # as `check` and `read` do: the same config
        tap = TapAphex(config=config)
        _refuse_renames(tap)
        catalog = writer.airbyte_catalog(tap)
        output.write({"type": "CATALOG", "catalog": catalog})
        return 0
    return _read(args, config, output, settled)


def _config(path: Path) -> dict[str, t.Any]:
    # The tap reads the log level: one naming no level is a config problem, before any request.
    if problem := log_level_problem(os.environ):
        raise ConfigError(problem)
    config = read_json_object(path, "config")
    remember_config_secrets(config)  # the catalog and state are read before the tap is made
    return config


def _refuse_what_a_read_would(config: t.Mapping[str, t.Any]) -> None:
    """Settings a `read` under Airbyte refuses, refused by `check` too: before any request, so no
    quota is spent on a sync that cannot land."""
    problems = []
    # BATCH messages have no Airbyte counterpart: records would be held back for files nobody reads.
    if config.get("batch_config") is not None:
        problems.append(
            "`batch_config` is for Singer targets (BATCH messages), which Airbyte has no "
            "counterpart for; remove it from the source's config"
        )
    # Records would go out flattened, against the nested json_schema `discover` offered.
    if config.get("flattening_enabled"):
        problems.append(
            "`flattening_enabled` would send records shaped unlike the json_schema `discover` "
            "offers; under Airbyte leave it out (destinations flatten or normalise themselves)"
        )
    if problems:
        raise ConfigValidationError("Config validation failed", errors=problems)


def _refuse_renames(tap: TapAphex) -> None:
    """A map may change or drop a stream's records, but they must go out under the name
    `discover` offered: judged by what the SDK's mapper makes of every stream the config enables
    (an `__alias__` to the stream's own name is no rename), the same in `check`, `discover` and
    `read`: a platform runs the first two before any read, with no catalog."""
    maps = tap.config.get("stream_maps") or {}  # each an object, null or "__NULL__" (validated)
    objects = {key: stream_map for key, stream_map in maps.items() if isinstance(stream_map, dict)}
    problems = []
    for stream, names in map_outputs(tap).items():
        for name in names:
            if name != stream:  # a new stream's key is its name; an alias is on its stream's key
                new_stream = "__source__" in objects.get(name, {})
                aliased = "__alias__" in objects.get(stream, {})
                key = name if new_stream else stream if aliased else None
                where = f"`stream_maps.{key:.60}`" if key else f"`stream_maps` (on `{stream}`)"
                problems.append(
                    f"{where} would send the records of `{stream}` as `{name:.60}`; under Airbyte "
                    "a stream's records go out under its own name only (a stream map may change "
                    "its properties, not its name). Rename in the destination instead (its stream "
                    "prefix or namespace)"
                )
    if problems:
        raise ConfigValidationError("Config validation failed", errors=problems)


def _check(tap: TapAphex, output: writer.AirbyteOutput) -> None:
    """One authenticated request per configured API, through the tap's own streams: the Data
    API's first page (of the daily event quota); each project's published plans with `limit=1`."""
    events = tap.streams.get("task_events")
    outcomes = [("Data API", events.first_error(None))] if isinstance(events, AphexStream) else []
    outcomes += tap.project_checks()
    tap.close_sessions()
    failed = [f"{what}: {failure_text(error)}" for what, error in outcomes if error is not None]
    accepted = "Credentials accepted by " + ", ".join(what for what, _ in outcomes)
    message = " | ".join(failed) if failed else accepted
    output.write(writer.connection_status(succeeded=not failed, message=message))


def _read(
    args: argparse.Namespace,
    config: dict[str, t.Any],
    output: writer.AirbyteOutput,
    settled: Callable[[], None],
) -> int:
    """The config (as `check` does), the configured catalog and the state refused before any
    request; then the tap on the selected streams, its messages translated as written."""
    configured = read_json(args.catalog, "catalog")
    passed = read_json(args.state, "state", lines_hint=protocol.RECIPE) if args.state else []
    _refuse_what_a_read_would(config)
    # Every stream the config enables, with its maps, as `check` and `discover` judge them; not a
    # word said: the tap that reads says it all again. A copy: the SDK's mapper edits its maps.
    output.addFilter(unsaid := lambda _: False)
    try:
        offered = TapAphex(config=copy.deepcopy(config), setup_mapper=False)
        offered.setup_mapper()  # all of them: its catalog is the discovered one
    finally:
        output.removeFilter(unsaid)
    _refuse_renames(offered)
    singer_catalog, modes = protocol.select(offered, configured)
    full_refresh = [name for name, mode in modes.items() if mode == "full_refresh"]
    resume = protocol.singer_state(passed, selected=modes, full_refresh=full_refresh)
    translator = writer.AirbyteMessageWriter(output, modes, resume.ahead, resume.newest)
    tap = TapAphex(
        config=config, state=resume.state, catalog=singer_catalog, message_writer=translator
    )
    translator.count_into(tap.report)  # the summary's "records sent", counted as Singer's are
    try:
        tap.run()
    except BrokenPipeError:
        raise
    except BaseException as error:
        if isinstance(error, RunFailedError):
            settled()  # every stream ran: what is left is to say how each ended
        # A TRACE for each failure that ended a stream or project, also when something then ended
        # the whole run (its own TRACE follows); none says anything else landed: it may not have.
        for message, failure in zip(tap.report.failures, tap.report.errors, strict=True):
            output.write(_trace(failure, message))
        if isinstance(error, RunFailedError):  # every stream ran: each ended as its stop says
            translator.finish(incomplete=ended_by_failures(tap, modes))
            return 1
        translator.finish(incomplete=set(modes))  # the whole run ended: no stream read to its end
        raise
    settled()  # every record and STATE is out: the statuses are the answer
    translator.finish(incomplete=set())
    return 0


def ended_by_failures(tap: TapAphex, selected: Collection[str]) -> set[str]:
    """The selected streams a failure (not a daily-limit stop) ended, with every stream they feed:
    one project of several failing leaves them INCOMPLETE, as part of their data did not land."""
    ended: set[str] = set()
    for stop in tap.report.stops.values():
        if stop.reason is StopReason.FAILURE:
            stream = tap.streams.get(stop.stream)  # a parent feeds its children (one level)
            fed = [stream, *stream.child_streams] if stream is not None else []
            ended |= {each.name for each in fed} if fed else set(selected)
    ended &= set(selected)
    if tap.report.failures and not ended:
        # A failure no stop names (none is known): no stream can be said to have read it all.
        return set(selected)
    return ended


def _trace(error: Exception, message: str | None = None) -> writer.AirbyteMessage:
    # A config_error is the user's to fix: a setting, a credential, the catalog, state or file.
    fix = isinstance(error, (AuthenticationError, ConfigError, ConfigValidationError))
    kind = "config_error" if fix or stream_map_problem(error) is not None else "system_error"
    return writer.error_trace(message or failure_text(error), kind)


def failure_text(error: Exception) -> str:
    if isinstance(error, ConfigValidationError):
        return "Config is not valid: " + joined(error.errors or [str(error)])
    return describe(error)
