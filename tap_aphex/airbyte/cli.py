"""The `source-aphex` command: the Airbyte protocol's CLI (spec, check, discover, read).

Every command writes Airbyte messages, one JSON line each, on stdout; the tap's logging goes there
as LOG messages. Errors end as a TRACE message (`config_error` when a setting or credential must be
fixed, `system_error` otherwise) and exit code 1, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import typing as t
from pathlib import Path

from singer_sdk.exceptions import ConfigValidationError

from tap_aphex.airbyte import catalog
from tap_aphex.airbyte.check import check_connection, config_error_text, failure_text
from tap_aphex.airbyte.logs import logs_as_airbyte_messages
from tap_aphex.airbyte.output import AirbyteOutput, connection_status, error_trace
from tap_aphex.airbyte.running import new_tap
from tap_aphex.airbyte.state import singer_state
from tap_aphex.airbyte.writer import AirbyteMessageWriter
from tap_aphex.errors import AphexError, AuthenticationError, RunFailedError

if t.TYPE_CHECKING:
    from collections.abc import Sequence


class InputFileError(AphexError):
    """A --config, --catalog or --state file that cannot be read as JSON."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="source-aphex", description="tap-aphex as an Airbyte source."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("spec", help="the settings, as a ConnectorSpecification")
    for name in ("check", "discover", "read"):
        command = commands.add_parser(name)
        command.add_argument("--config", required=True, type=Path)
        if name == "read":
            command.add_argument("--catalog", required=True, type=Path)
            command.add_argument("--state", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """The command, started by `tap_aphex.startup`."""
    # SIGINT is a KeyboardInterrupt from here (startup's handler ended the process outright);
    # SIGTERM keeps its default, as Airbyte runners expect.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = run(argv, sys.stdout.buffer)
    except BrokenPipeError:
        # Python would report the unflushed stdout again at exit; send what is left nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    sys.exit(code)


def run(argv: Sequence[str] | None, stdout: t.BinaryIO) -> int:
    """Run one command, writing its messages to `stdout`; the process's exit code."""
    args = _parser().parse_args(argv)
    output = AirbyteOutput(stdout)
    with logs_as_airbyte_messages(output):
        try:
            return _command(args, output)
        except ConfigValidationError as error:
            output.write(error_trace(config_error_text(error), "config_error"))
        except AphexError as error:
            failure_type = "config_error" if _is_config_error(error) else "system_error"
            output.write(error_trace(failure_text(error), failure_type))
        except BrokenPipeError:
            raise  # whoever read stdout is gone: nothing more can be said there
        except KeyboardInterrupt:
            output.write(
                error_trace("Interrupted; the last STATE holds what landed.", "transient_error")
            )
            return 130
        except Exception as error:  # the protocol's way to fail: a TRACE, not a traceback
            output.write(error_trace(f"source-aphex failed: {failure_text(error)}", "system_error"))
        return 1


def _is_config_error(error: Exception | None) -> bool:
    return isinstance(error, (AuthenticationError, InputFileError, catalog.CatalogMismatchError))


def _command(args: argparse.Namespace, output: AirbyteOutput) -> int:
    if args.command == "spec":
        output.write({"type": "SPEC", "spec": catalog.connector_specification()})
        return 0
    config = _read_json(args.config, "--config")
    if not isinstance(config, dict):
        raise InputFileError(f"--config {args.config} holds no JSON object.")
    if args.command == "check":
        result = check_connection(config)
        output.write(connection_status(succeeded=result.succeeded, message=result.message))
        return 0  # a failed check is an answer, not an error
    if args.command == "discover":
        output.write(
            {"type": "CATALOG", "catalog": catalog.airbyte_catalog(new_tap(config=config))}
        )
        return 0
    configured = _read_json(args.catalog, "--catalog")
    passed_state = _read_json(args.state, "--state") if args.state else []
    return _read(config, configured, passed_state, output)


def _read(
    config: dict[str, t.Any], configured: object, passed: object, output: AirbyteOutput
) -> int:
    """Run the tap on the selected streams, its messages translated as they are written."""
    selection = catalog.select(new_tap(config=config), configured)
    state = singer_state(passed, selected=selection.streams, full_refresh=selection.full_refresh)
    writer = AirbyteMessageWriter(output)
    tap = new_tap(
        config=config, state=state, catalog=selection.singer_catalog, message_writer=writer
    )
    try:
        tap.run()
    except RunFailedError:
        # Each failure ended its own stream or project; everything else landed, with its state.
        errors: list[Exception | None] = [*tap.report.errors]
        for index, message in enumerate(tap.report.failures):
            error = errors[index] if index < len(errors) else None
            failure_type = "config_error" if _is_config_error(error) else "system_error"
            output.write(error_trace(message, failure_type))
        writer.finish(selection.streams, complete=False)
        return 1
    except BrokenPipeError:
        raise
    except BaseException:
        writer.finish(selection.streams, complete=False)
        raise
    writer.finish(selection.streams, complete=True)
    return 0


def _read_json(path: Path, option: str) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        msg = f"{option} {path}: cannot read it as JSON ({type(error).__name__}: {error})"
        raise InputFileError(msg) from None
