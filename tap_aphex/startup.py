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

# Only modules already loaded with the interpreter: a signal before `_start` installs its handlers
# is a traceback, so the way there is kept short.
import gc
import importlib
import os
import signal
import sys

TYPE_CHECKING = False  # typing takes a few milliseconds to import; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

#: Container objects allocated (net of those freed) before the young generation is collected.
#: Python's default is 700; a page of 4,000 events holds 50,000 to 100,000 while it is handed on.
YOUNG_OBJECTS_BEFORE_COLLECTION = 500_000


class Command:
    """A command of ours: its name, the module whose ``main`` runs it, how SIGTERM ends it.

    Each ``main`` installs its own signal handlers first thing; until then, `_start`'s stand.
    """

    __slots__ = ("module", "name", "stop_on_sigterm")

    def __init__(self, name: str, module: str, *, stop_on_sigterm: bool) -> None:
        self.name = name
        self.module = module
        self.stop_on_sigterm = stop_on_sigterm  # False: SIGTERM ends it at once (its default)

    def loading_from(self, module: str) -> Command:
        """The same command, loaded from another module (the tests load small ones)."""
        return Command(self.name, module, stop_on_sigterm=self.stop_on_sigterm)


TAP_APHEX = Command("tap-aphex", "tap_aphex.cli", stop_on_sigterm=True)  # as SIGINT does
# Airbyte runners stop a connector with SIGTERM and expect it gone at once (README).
SOURCE_APHEX = Command("source-aphex", "tap_aphex.airbyte.cli", stop_on_sigterm=False)


def tap_aphex() -> None:
    """The `tap-aphex` command."""
    _start(TAP_APHEX)


def source_aphex() -> None:
    """The `source-aphex` command."""
    _start(SOURCE_APHEX)


def _start(command: Command) -> None:
    """Load the command with the collector off, set the collector for the run, run the command.

    SIGINT while loading (the SDK takes a few tenths of a second to import) ends the command with
    one line, as it would later, and so does SIGTERM if the command stops on it.
    """
    stop = _stop_while_starting(command)
    signal.signal(signal.SIGINT, stop)
    if command.stop_on_sigterm:
        signal.signal(signal.SIGTERM, stop)
    gc.disable()
    main: Callable[[], None] = importlib.import_module(command.module).main
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS_BEFORE_COLLECTION, *gc.get_threshold()[1:])
    gc.enable()
    main()


def _stop_while_starting(command: Command) -> Callable[[int, FrameType | None], None]:
    """A handler that ends the process there and then, with one line.

    Not an exception: one raised while modules load can land where Python ignores it (an
    import lock's callback) or wraps it (`__set_name__`), and the command would go on. Nothing
    has been read or written yet, so there is nothing to wind down.
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        line = f"{command.name}: interrupted ({name}) while starting: nothing was read.\n"
        os.write(sys.stderr.fileno(), line.encode())
        os._exit(128 + signum)

    return stop
