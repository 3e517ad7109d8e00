"""How the commands start (`tap_aphex.cli`): a signal while a command loads ends it with one
line, and SIGTERM ends `source-aphex` at once, as Airbyte runners expect.

Each case loads a small module of its own in a fresh Python, as the console scripts load the
command: `signals.load_command` with the module as what to preload, then the module's `main`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import signal
import subprocess
import sys
import textwrap
import typing as t

import pytest
from harness import signalled

from tap_aphex import cli, signals
from tap_aphex.airbyte import cli as airbyte_cli

if t.TYPE_CHECKING:
    from pathlib import Path


def start(
    tmp_path: Path, module_source: str, command: str = "tap-aphex"
) -> subprocess.CompletedProcess[str]:
    """Start ``command`` on a module written from ``module_source``, then run its ``main``."""
    (tmp_path / "loaded_command.py").write_text(textwrap.dedent(module_source))
    code = (
        "import importlib; from tap_aphex import signals; "
        f"signals.load_command({command!r}, 'loaded_command'); "
        "importlib.import_module('loaded_command').main()"
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


def test_both_commands_start_through_cli() -> None:
    scripts = {e.name: e.value for e in importlib.metadata.entry_points(group="console_scripts")}
    assert scripts["tap-aphex"] == "tap_aphex.cli:tap_aphex"
    assert scripts["source-aphex"] == "tap_aphex.cli:source_aphex"


def test_each_command_loads_with_the_handler_for_its_signals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[tuple[str, str]] = []
    ran: list[str] = []

    def recording(name: str, preload: str) -> None:
        started.append((name, preload))

    monkeypatch.setattr(cli, "load_command", recording)
    monkeypatch.setattr(cli, "main", lambda: ran.append("tap-aphex"))
    monkeypatch.setattr(airbyte_cli, "main", lambda: ran.append("source-aphex"))

    cli.tap_aphex()
    cli.source_aphex()

    assert started == [("tap-aphex", "tap_aphex.tap"), ("source-aphex", "tap_aphex.airbyte.cli")]
    assert ran == ["tap-aphex", "source-aphex"]  # each after its loading


def sending(name: str) -> str:
    """Module source that sends the process ``name``, as a user or a runner would, then goes on
    loading a moment. A short moment: the stop signals are blocked while the command loads, so the
    signal ends the process only once the import is over, and a long sleep would only be waited out.
    """
    return f"import os, signal, time; os.kill(os.getpid(), signal.{name}); time.sleep(0.2)\n"


MAIN = "\ndef main(): print('ran')\n"
# The signal arrives in a module the command's module imports: deep in the import machinery.
NESTED = "import nested_module\n"
# The command has loaded and runs, but has not installed its own handlers yet.
IN_MAIN_FIRST_THING = "def main():\n    {}    print('ran')\n"


@pytest.mark.parametrize(
    ("command", "signal_name", "where", "code"),
    [
        ("tap-aphex", "SIGINT", "loading", 130),
        ("tap-aphex", "SIGTERM", "loading", 143),
        ("tap-aphex", "SIGINT", "nested", 130),
        ("tap-aphex", "SIGTERM", "nested", 143),
        ("tap-aphex", "SIGTERM", "main", 143),
        ("source-aphex", "SIGINT", "loading", 130),
        ("source-aphex", "SIGINT", "nested", 130),
        ("source-aphex", "SIGINT", "main", 130),
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
    assert (
        done.stderr == f"{command}: interrupted ({signal_name}) while starting: nothing was read.\n"
    )


def test_sigterm_ends_source_aphex_at_once_even_while_it_loads(tmp_path: Path) -> None:
    # How Airbyte runners stop a connector: gone, by the signal, with nothing written.
    done = start(tmp_path, sending("SIGTERM") + MAIN, "source-aphex")

    assert done.returncode == -signal.SIGTERM
    assert (done.stdout, done.stderr) == ("", "")


def test_a_command_that_loads_without_a_signal_runs(tmp_path: Path) -> None:
    done = start(tmp_path, MAIN)

    assert (done.returncode, done.stdout, done.stderr) == (0, "ran\n", "")


@pytest.mark.parametrize("signum", [signal.SIGINT])  # SIGTERM's way: test_cli.py
def test_a_stop_ends_the_process_in_time_even_when_a_later_write_blocks(
    tmp_path: Path, signum: signal.Signals
) -> None:
    # The interrupt came between two writes; what the wind-down writes next (the last flush of
    # stdout) then blocks on a reader that stopped reading: the process still ends, as asked.
    script = tmp_path / "stalled.py"
    script.write_text(
        "import os, sys, time\n"
        "from tap_aphex.signals import Interrupts\n"
        "interrupts = Interrupts('tap-aphex')\n"
        "unread, full = os.pipe()\n"
        "try:\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
        "except KeyboardInterrupt:\n"
        "    os.write(full, b'x' * 1_000_000)  # blocks: nobody reads `unread`\n"
    )
    process = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"

    waited, stderr = signalled(process, signum, within=signals.GIVE_UP_AFTER + 10)

    assert process.returncode == 128 + signum
    assert signals.GIVE_UP_AFTER - 0.5 <= waited <= signals.GIVE_UP_AFTER + 5
    assert f"Interrupted ({signum.name}): stopped. The output was not being read" in stderr


def test_a_signal_that_comes_while_the_first_is_being_handled_leaves_the_first_ones_status(
    tmp_path: Path,
) -> None:
    # Python runs a handler for a signal that arrives while the first one's handler runs, inside
    # it: here a SIGTERM comes just before the SIGINT handler swaps the handlers out.
    script = tmp_path / "nested.py"
    script.write_text(
        textwrap.dedent(
            """\
            import os, signal, time
            from tap_aphex import signals

            swap = signals.Interrupts.ignore_later
            def ignore_later(self):
                if self.received == signal.SIGINT and not hasattr(self, "sent"):
                    self.sent = True
                    os.kill(os.getpid(), signal.SIGTERM)
                    for _ in range(10_000):  # Python runs a pending handler between these
                        pass
                swap(self)
            signals.Interrupts.ignore_later = ignore_later
            interrupts = signals.Interrupts("tap-aphex")
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(10)
            except KeyboardInterrupt:
                print(interrupts.signame, interrupts.exit_code)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )

    assert (done.stdout, done.stderr) == ("SIGINT 130\n", "")
