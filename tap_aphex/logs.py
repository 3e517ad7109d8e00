"""What reaches the log: the SDK's chatter demoted to DEBUG, URLs without query values.

The one place the tap shapes its logs. A single filter, attached to the console handlers and to the
loggers that speak during a run (the tap's, its streams', the SDK's, urllib3's), so that it applies
whether the tap runs as a command or in-process:

- the SDK's misleading or per-page lines (`sdk_seam.SDK_CHATTER`) become DEBUG lines;
- METRIC lines are logged at `metrics_log_level` (DEBUG by default: `LOGLEVEL=DEBUG` shows them);
- every URL in every line, at any level, loses its query values and any ``user:password@``;
- no line, at any level, holds the run's keys or tokens, in any form (`redact.secret_forms`).
"""

from __future__ import annotations

import logging
import typing as t

from tap_aphex.redact import run_secrets, without_query_values, without_secrets
from tap_aphex.sdk_seam import (
    METRICS_LOGGER_NAME,
    SDK_CHATTER,
    SDK_METRIC_TEMPLATE,
    plain_logger,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterable

#: Loggers that speak during a run besides the tap's own: the SDK's, and urllib3's DEBUG request
#: lines (which carry the query string).
OTHER_LOGGERS = ("singer_sdk", METRICS_LOGGER_NAME, "urllib3.connectionpool", "urllib3.util.retry")
_CHATTER = frozenset(SDK_CHATTER)
_METRIC = SDK_METRIC_TEMPLATE


class TapLogFilter(logging.Filter):
    """Demotes the SDK's chatter (and, unless asked for, METRIC lines) and redacts URLs."""

    def __init__(self, gate: logging.Logger, *, metrics_level: int = logging.DEBUG) -> None:
        super().__init__()
        self.gate = gate  # the tap's logger: whether DEBUG lines are wanted in this run
        self.metrics_level = metrics_level

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg
        if record.levelno > logging.DEBUG and (
            message in _CHATTER or (message == _METRIC and self.metrics_level == logging.DEBUG)
        ):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            if not self.gate.isEnabledFor(logging.DEBUG):
                return False
        text = record.getMessage()
        safe = without_secrets(without_query_values(text), run_secrets())
        if safe != text:
            record.msg, record.args = safe, ()
        return True


def install(tap_logger: logging.Logger) -> TapLogFilter:
    """Put the filter on the tap's logger, the SDK's and urllib3's, and the console handlers."""
    log_filter = TapLogFilter(tap_logger)
    targets: list[logging.Logger | logging.Handler] = [tap_logger]
    targets += [logging.getLogger(name) for name in OTHER_LOGGERS]
    targets += logging.getLogger().handlers
    for target in targets:
        attach(log_filter, [target])
    return log_filter


def attach(
    log_filter: TapLogFilter,
    targets: Iterable[logging.Logger | logging.LoggerAdapter[t.Any] | logging.Handler],
) -> None:
    """Attach ``log_filter`` (e.g. to each stream's logger), replacing an earlier tap's filter."""
    for given in targets:
        # A stream's logger may be an adapter (SDK 0.55): the filter goes on the logger inside.
        target = given if isinstance(given, logging.Handler) else plain_logger(given)
        for old in [f for f in target.filters if isinstance(f, TapLogFilter)]:
            target.removeFilter(old)
        target.addFilter(log_filter)
