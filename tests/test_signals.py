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
        "from tap_aphex import startup; "
        f"startup._start(startup.{command}.loading_from('loaded_command'))"
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
        import gc, json

        LOADED = [[] for _ in range(20_000)]  # objects the collector tracks

        def main():
            print(json.dumps({
                "enabled": gc.isenabled(),
                "threshold": gc.get_threshold()[0],
                "frozen": gc.get_freeze_count(),
            }))
        """,
    )

    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    assert state["enabled"]
    assert state["threshold"] == startup.YOUNG_OBJECTS_BEFORE_COLLECTION > gc.get_threshold()[0]
    assert state["frozen"] > 20_000  # what loaded is out of the collector's walks


def sending(name: str) -> str:
    """Module source that sends the process ``name``, as a user or a runner would."""
    return f"import os, signal, time; os.kill(os.getpid(), signal.{name}); time.sleep(30)\n"


MAIN = "\ndef main(): print('ran')\n"
# The signal arrives in a module the command's module imports: deep in the import machinery.
NESTED = "import nested_module\n"
# The command has loaded and runs, but has not installed its own handlers yet.
IN_MAIN_FIRST_THING = "def main():\n    {}    print('ran')\n"


@pytest.mark.parametrize(
    ("command", "signal_name", "where", "code"),
    [
        ("TAP_APHEX", "SIGINT", "loading", 130),
        ("TAP_APHEX", "SIGTERM", "loading", 143),
        ("TAP_APHEX", "SIGINT", "nested", 130),
        ("TAP_APHEX", "SIGTERM", "nested", 143),
        ("TAP_APHEX", "SIGTERM", "main", 143),
        ("SOURCE_APHEX", "SIGINT", "loading", 130),
        ("SOURCE_APHEX", "SIGINT", "nested", 130),
        ("SOURCE_APHEX", "SIGINT", "main", 130),
    ],
)
def test_a_signal_while_the_command_starts_is_one_line_and_nothing_runs(
    tmp_path: Path, command: str, signal_name: str, where: str, code: int
) -> None:
    if where == "nested":
        (tmp_path / "nested_module.py").write_text(sending(signal_name))
        source = NESTED + MAIN
    elif where == "main":
        source = IN_MAIN_FIRST_THING.format(sending(signal_name).replace("; ", "\n    "))
    else:
        source = sending(signal_name) + MAIN

    done = start(tmp_path, source, command)

    assert done.returncode == code
    assert done.stdout == ""  # main never printed "ran"
    name = "tap-aphex" if command == "TAP_APHEX" else "source-aphex"
    assert done.stderr == f"{name}: interrupted ({signal_name}) while starting: nothing was read.\n"


def test_sigterm_ends_source_aphex_at_once_even_while_it_loads(tmp_path: Path) -> None:
    # How Airbyte runners stop a connector: gone, by the signal, with nothing written.
    done = start(tmp_path, sending("SIGTERM") + MAIN, "SOURCE_APHEX")

    assert done.returncode == -signal.SIGTERM
    assert (done.stdout, done.stderr) == ("", "")
