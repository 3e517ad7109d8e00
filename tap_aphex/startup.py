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

if t.TYPE_CHECKING:
    from types import FrameType

#: Container objects allocated (net of those freed) before the young generation is collected.
#: Python's default is 700; a page of 4,000 events holds 50,000 to 100,000 while it is handed on.
YOUNG_OBJECTS_BEFORE_COLLECTION = 500_000


def tap_aphex() -> None:
    """The `tap-aphex` command (`tap_aphex.cli`)."""
    _start("tap_aphex.cli", "tap-aphex")


def source_aphex() -> None:
    """The `source-aphex` command (`tap_aphex.airbyte.cli`)."""
    _start("tap_aphex.airbyte.cli", "source-aphex")


class _TerminatedWhileLoading(KeyboardInterrupt):
    """SIGTERM while the command loads: ends like SIGINT, with its own exit status."""


def _start(module: str, command: str) -> None:
    """Load ``module`` with the collector off, set it for the run, then call the module's main.

    A signal while loading (the SDK takes a few tenths of a second to import) ends the command
    with one line, as it would later: nothing has been read or written yet.
    """
    gc.disable()
    default_sigterm = signal.signal(signal.SIGTERM, _terminate_while_loading)
    try:
        main: t.Callable[[], None] = importlib.import_module(module).main
    except KeyboardInterrupt as interrupt:
        for signum in (signal.SIGINT, signal.SIGTERM):  # one line, whatever follows
            signal.signal(signum, signal.SIG_IGN)
        name, code = (
            ("SIGTERM", 143) if isinstance(interrupt, _TerminatedWhileLoading) else ("SIGINT", 130)
        )
        sys.stderr.write(f"{command}: interrupted ({name}) while starting: nothing was read.\n")
        sys.exit(code)
    signal.signal(signal.SIGTERM, default_sigterm)  # the command installs its own, if any
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS_BEFORE_COLLECTION, *gc.get_threshold()[1:])
    gc.enable()
    main()


def _terminate_while_loading(signum: int, frame: FrameType | None) -> None:
    raise _TerminatedWhileLoading
