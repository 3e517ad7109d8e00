"""How the commands start (`tap_aphex.startup`): the garbage collector set for a sync, and a signal
while the command loads ending in one line.

Each case loads a small module of its own in a fresh Python, as the console scripts load the CLI.
"""

from __future__ import annotations

import gc
import importlib.metadata
import json
import signal
import subprocess
import sys
import textwrap
import typing as t

import pytest

from tap_aphex import startup

if t.TYPE_CHECKING:
    from pathlib import Path


def start(
    tmp_path: Path, module_source: str, command: str = "TAP_APHEX"
) -> subprocess.CompletedProcess[str]:
    """Start ``command`` (its settings in `startup`) on a module written from ``module_source``."""
    (tmp_path / "loaded_command.py").write_text(textwrap.dedent(module_source))
    code = (
        "import dataclasses; from tap_aphex import startup; "
        f"startup._start(dataclasses.replace(startup.{command}, module='loaded_command'))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=None,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_both_commands_start_through_startup() -> None:
    scripts = {e.name: e.value for e in importlib.metadata.entry_points(group="console_scripts")}
    assert scripts["tap-aphex"] == "tap_aphex.startup:tap_aphex"
    assert scripts["source-aphex"] == "tap_aphex.startup:source_aphex"


def test_the_command_runs_with_what_it_loaded_frozen_and_the_collector_on_but_rarer(
    tmp_path: Path,
) -> None:
    done = start(
        tmp_path,
        """
        import gc, json, signal

        LOADED = [[] for _ in range(20_000)]  # objects the collector tracks

        def main():
            print(json.dumps({
                "enabled": gc.isenabled(),
                "threshold": gc.get_threshold()[0],
                "frozen": gc.get_freeze_count(),
                "sigterm_default": signal.getsignal(signal.SIGTERM) == signal.SIG_DFL,
            }))
        """,
    )

    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    assert state["enabled"]
    assert state["threshold"] == startup.YOUNG_OBJECTS_BEFORE_COLLECTION > gc.get_threshold()[0]
    assert state["frozen"] > 20_000  # what loaded is out of the collector's walks
    assert state["sigterm_default"]  # the command installs its own handler, if it wants one


SIGINT = "raise KeyboardInterrupt"  # what Python's handler raises
SIGTERM = "import os, signal, time; os.kill(os.getpid(), signal.SIGTERM); time.sleep(30)"
MAIN = "\ndef main(): print('ran')\n"


@pytest.mark.parametrize(
    ("command", "signal_while_loading", "code", "line"),
    [
        ("TAP_APHEX", SIGINT, 130, "tap-aphex: interrupted (SIGINT) while starting"),
        ("TAP_APHEX", SIGTERM, 143, "tap-aphex: interrupted (SIGTERM) while starting"),
        ("SOURCE_APHEX", SIGINT, 130, "source-aphex: interrupted (SIGINT) while starting"),
    ],
)
def test_a_signal_while_the_command_loads_is_one_line(
    tmp_path: Path, command: str, signal_while_loading: str, code: int, line: str
) -> None:
    done = start(tmp_path, signal_while_loading + MAIN, command)

    assert done.returncode == code
    assert done.stdout == ""
    assert done.stderr == f"{line}: nothing was read.\n"


def test_sigterm_ends_source_aphex_at_once_even_while_it_loads(tmp_path: Path) -> None:
    # How Airbyte runners stop a connector: gone, by the signal, with nothing written.
    done = start(tmp_path, SIGTERM + MAIN, "SOURCE_APHEX")

    assert done.returncode == -signal.SIGTERM
    assert (done.stdout, done.stderr) == ("", "")
