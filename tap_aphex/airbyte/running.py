"""How `source-aphex` runs the tap: with the signal handling Airbyte runners expect."""

from __future__ import annotations

import signal
import threading
import typing as t

from tap_aphex.tap import TapAphex


def new_tap(**kwargs: t.Any) -> TapAphex:
    """A `TapAphex`; a stop signal then ends the process at once, with nothing more written.

    Whatever handlers the tap sets when it is made are replaced (the SDK's write one more STATE,
    which mid-page would put the log's two bookmarks apart, and exit 0). Airbyte runners send
    SIGTERM when they have what they need or cancel a sync, and PyAirbyte accepts only exit 0 or
    death by SIGTERM. So SIGTERM takes its default action (every STATE already out covers only
    records already out), and SIGINT raises KeyboardInterrupt again.
    """
    tap = TapAphex(**kwargs)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return tap
