"""Where our commands start: the cyclic garbage collector set for a sync, signals while loading.

Nothing here imports the SDK: this runs first, so it can shape how the rest is loaded.

The collector (issue 8): loading the SDK makes some 200,000 objects that live as long as the
process, and a page of events makes tens of thousands of dicts and lists that live until the next
page. Neither forms reference cycles (a 100,000-event sync leaves about 20 objects for the
collector), yet with Python's default settings it walks them all again and again: about 35 ms of
the start-up and a sixth of a sync's CPU. So it is off while the commands load, what they loaded is
frozen out of its sight (`gc.freeze`), and it runs only once far more objects are alive than a
page holds. It stays on: anything that does form cycles is still collected.
"""

from __future__ import annotations

import gc
import importlib
import signal
import sys
import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from types import FrameType

#: Container objects allocated (net of those freed) before the young generation is collected.
#: Python's default is 700; a page of 4,000 events holds 50,000 to 100,000 while it is handed on.
YOUNG_OBJECTS_BEFORE_COLLECTION = 500_000


@dataclass(frozen=True)
class Command:
    """A command of ours: its name, the module whose ``main`` runs it, how SIGTERM ends it."""

    name: str
    module: str
    stop_on_sigterm: bool  # False: SIGTERM ends the process at once (its default action)


TAP_APHEX = Command("tap-aphex", "tap_aphex.cli", stop_on_sigterm=True)  # as SIGINT does
# Airbyte runners stop a connector with SIGTERM and expect it gone at once (README).
SOURCE_APHEX = Command("source-aphex", "tap_aphex.airbyte.cli", stop_on_sigterm=False)


def tap_aphex() -> None:
    """The `tap-aphex` command."""
    _start(TAP_APHEX)


def source_aphex() -> None:
    """The `source-aphex` command."""
    _start(SOURCE_APHEX)


class _TerminatedWhileLoading(KeyboardInterrupt):
    """SIGTERM while the command loads: ends like SIGINT, with its own exit status."""


def _start(command: Command) -> None:
    """Load the command with the collector off, set the collector for the run, run the command.

    SIGINT while loading (the SDK takes a few tenths of a second to import) ends the command with
    one line, as it would later, and so does SIGTERM if the command stops on it: nothing has been
    read or written yet.
    """
    gc.disable()
    if command.stop_on_sigterm:
        signal.signal(signal.SIGTERM, _terminate_while_loading)
    try:
        main: t.Callable[[], None] = importlib.import_module(command.module).main
    except KeyboardInterrupt as interrupt:
        for signum in (signal.SIGINT, signal.SIGTERM):  # one line, whatever follows
            signal.signal(signum, signal.SIG_IGN)
        name, code = (
            ("SIGTERM", 143) if isinstance(interrupt, _TerminatedWhileLoading) else ("SIGINT", 130)
        )
        sys.stderr.write(
            f"{command.name}: interrupted ({name}) while starting: nothing was read.\n"
        )
        sys.exit(code)
    if command.stop_on_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # until the command installs its own
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS_BEFORE_COLLECTION, *gc.get_threshold()[1:])
    gc.enable()
    main()


def _terminate_while_loading(signum: int, frame: FrameType | None) -> None:
    raise _TerminatedWhileLoading
