"""How the commands start (`tap_aphex.startup`): the garbage collector set for a sync, and a signal
while the command loads ending in one line.

Each case loads a small module of its own in a fresh Python, as the console scripts load the CLI.
"""

from __future__ import annotations

import gc
import importlib.metadata
import json
import subprocess
import sys
import textwrap
import typing as t

import pytest

from tap_aphex import startup

if t.TYPE_CHECKING:
    from pathlib import Path


def start(
    tmp_path: Path, module_source: str, command: str = "tap-aphex"
) -> subprocess.CompletedProcess[str]:
    """Run `startup` on a module written from ``module_source``, as the console scripts do."""
    (tmp_path / "loaded_command.py").write_text(textwrap.dedent(module_source))
    code = f"from tap_aphex import startup; startup._start('loaded_command', {command!r})"
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

        LOADED = [{"made": "while loading"}]

        def main():
            print(json.dumps({
                "enabled": gc.isenabled(),
                "threshold": gc.get_threshold()[0],
                # Frozen objects are in no generation: the collector never walks them.
                "loaded_frozen": gc.is_tracked(LOADED)
                and not any(o is LOADED for o in gc.get_objects()),
                "sigterm_default": signal.getsignal(signal.SIGTERM) == signal.SIG_DFL,
            }))
        """,
    )

    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    assert state["enabled"]
    assert state["threshold"] == startup.YOUNG_OBJECTS_BEFORE_COLLECTION > gc.get_threshold()[0]
    assert state["loaded_frozen"]
    assert state["sigterm_default"]  # the command installs its own handler, if it wants one


@pytest.mark.parametrize(
    ("raise_while_loading", "code", "name"),
    [
        ("raise KeyboardInterrupt", 130, "SIGINT"),
        (
            "import os, signal, time; os.kill(os.getpid(), signal.SIGTERM); time.sleep(30)",
            143,
            "SIGTERM",
        ),
    ],
    ids=["SIGINT", "SIGTERM"],
)
@pytest.mark.parametrize("command", ["tap-aphex", "source-aphex"])
def test_a_signal_while_the_command_loads_is_one_line(
    tmp_path: Path, raise_while_loading: str, code: int, name: str, command: str
) -> None:
    done = start(tmp_path, raise_while_loading + "\ndef main(): print('ran')\n", command)

    assert done.returncode == code
    assert done.stdout == ""
    assert done.stderr == f"{command}: interrupted ({name}) while starting: nothing was read.\n"
