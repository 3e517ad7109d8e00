"""The tap's log lines as Airbyte LOG messages, and a stdout that carries protocol messages only."""

from __future__ import annotations

import contextlib
import logging
import sys
import typing as t

from typing_extensions import override

from tap_aphex.airbyte.output import AirbyteOutput, log_message

if t.TYPE_CHECKING:
    from collections.abc import Iterator

#: Python's levels in the protocol's words (AirbyteLogMessage.level).
_LEVELS = ((logging.CRITICAL, "FATAL"), (logging.ERROR, "ERROR"), (logging.WARNING, "WARN"))


def airbyte_level(levelno: int) -> str:
    for threshold, name in _LEVELS:
        if levelno >= threshold:
            return name
    return "INFO" if levelno >= logging.INFO else "DEBUG"


class AirbyteLogHandler(logging.Handler):
    """Writes each log record as a LOG message.

    Without traceback: a traceback can quote values (keys, tokens) and says nothing a user can act
    on; the exception's type is enough for a bug report.
    """

    def __init__(self, output: AirbyteOutput) -> None:
        super().__init__()
        self._output = output

    @override
    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info and record.exc_info[0] is not None:
                text += f" ({record.exc_info[0].__name__})"
            self._output.write(log_message(airbyte_level(record.levelno), text))
        except OSError:
            return  # stdout is gone (its reader stopped): there is nowhere left to log to
        except Exception:  # a failing log line must not end the sync
            self.handleError(record)


@contextlib.contextmanager
def logs_as_airbyte_messages(output: AirbyteOutput, level: int = logging.INFO) -> Iterator[None]:
    """Route every log line (and Python warnings) to LOG messages while the command runs.

    Anything else printed to stdout goes to stderr instead: a stray line there would break the
    protocol for the platform reading it.
    """
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    handler = AirbyteLogHandler(output)
    root.handlers = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        logging.captureWarnings(False)
        root.handlers = saved_handlers
        root.setLevel(saved_level)
