"""The one place tap-aphex touches the Singer SDK's internals (singer-sdk 0.54).

Everything else uses the SDK's public, documented API. Each function here says which 0.54 behaviour
it relies on, and `tests/test_sdk_seam.py` fails loudly when an SDK upgrade moves one of them. Keep
it that way: a new reach into the SDK goes here, with its one line of why, and a check in that test.
"""

from __future__ import annotations

import typing as t

# --- published plans (plans helper) ---------------------------------------------------------------


def discard_progress(partition_state: dict[str, t.Any]) -> None:
    """Forget the bookmark an unsorted stream advanced in this partition during this run.

    0.54: an unsorted stream's new replication value waits under the partition state's
    ``progress_markers`` until the partition (or, for a child, the run) is finalized, which
    promotes it to ``replication_key_value``; popping it first keeps the old bookmark.
    """
    partition_state.pop("progress_markers", None)
