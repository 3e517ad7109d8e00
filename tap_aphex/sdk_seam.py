"""The one place tap-aphex touches the Singer SDK's internals (singer-sdk 0.54).

Everything else uses the SDK's public, documented API. Each function here says which 0.54 behaviour
it relies on, and `tests/test_sdk_seam.py` fails loudly when an SDK upgrade moves one of them. Keep
it that way: a new reach into the SDK goes here, with its one line of why, and a check in that test.
"""

from __future__ import annotations

import typing as t

from singer_sdk import Tap
from singer_sdk.plugin_base import _ConfigInput
from typing_extensions import override

# --- runtime helper: CLI, signals, logs -------------------------------------------------------


def config_input(config: dict[str, t.Any], *, parse_env: bool) -> t.Any:
    """What the CLI's ``--config`` option hands to ``invoke``.

    0.54: `cb_config` returns a private `_ConfigInput(config, parse_env)`, which `invoke` and the
    `--test`/`--discover` callbacks read; we build it after reading the files ourselves.
    """
    return _ConfigInput(config=config, parse_env=parse_env)


class SeamTap(Tap):
    """A `Tap` with the SDK's internal hooks we replace, so `TapAphex` itself overrides none."""

    @override
    def _setup_signal_handlers(self) -> None:
        """Leave SIGINT and SIGTERM to the CLI (`tap_aphex.cli`).

        0.54: `PluginBase.__init__` calls this to install `_handle_termination`, which writes a
        STATE (possibly `tasks: {}` mid-page) and exits 0 as if the run had finished.
        """


#: The SDK's own INFO/WARNING/ERROR lines that mislead or repeat per page, demoted to DEBUG by
#: `tap_aphex.logs`. 0.54 logs them with these format strings (the record's `msg`, before its args).
SDK_CHATTER: tuple[str, ...] = (
    # helpers/_state.py: said of published_plans, whose bookmark is only moved when a project is
    # read in full (progress markers are dropped on failure), so the warning is false here.
    "Stream is assumed to be unsorted, progress is not resumable if interrupted",
    # streams/core.py: once per page for `tasks` and per version for the plan tables.
    "Beginning sync of '%s' in %s mode",
    "Beginning sync of '%s' in %s mode with context keys: %s",
    # streams/_state.py: as often, and the streams say where they start themselves.
    "Starting incremental sync of '%s' with bookmark value: %s",
    # streams/core.py: also logged for the connection test's deliberate stop after one record;
    # a real failure reaches the user as the tap's own one-line error.
    "An unhandled error occurred while syncing '%s'",
    # streams/rest.py: the end of the log, which the streams' own lines report.
    "Pagination stopped after %d pages because no records were found in the last response",
    # tap_base.py / plugin_base.py: set-up details.
    "Added '%s' as child stream to '%s'",
    "Skipping parse of env var settings...",
    "Parsing env var for settings config...",
    "Parsing '%s' config from env variable '%s'.",
    # plugin_base.py: closes the list of config problems (each already an ERROR line of its own),
    # and is logged when `validate_config=False`, where the tap then checks the config itself.
    "Config validation failed",
    # backoff (the SDK's retry decorator is given the stream's logger): `backoff_handler` says it.
    "Backing off %s(...) for %.1fs (%s)",
    "Giving up %s(...) after %d tries (%s)",
)
