"""The one place tap-aphex touches the Singer SDK's internals (singer-sdk 0.54).

Everything else uses the SDK's public, documented API. Each function here says which 0.54 behaviour
it relies on, and `tests/test_sdk_seam.py` fails loudly when an SDK upgrade moves one of them. Keep
it that way: a new reach into the SDK goes here, with its one line of why, and a check in that test.
"""

from __future__ import annotations

import typing as t

from singer_sdk.helpers._catalog import (
    pop_deselected_record_properties as _sdk_pop_deselected,
)
from singer_sdk.streams import Stream
from singer_sdk.streams import core as _sdk_stream_core

# --- task-event log (events-stream helper) ----------------------------------------------------
# task_events and tasks checkpoint once per page, both bookmarks together; the SDK's own state
# machinery does it per record and every 10,000 records, so these reach into it.


#: For `Stream.STATE_MSG_FREQUENCY`. 0.54: `_sync_records` writes a STATE every that many records
#: (default 10,000), which could fall mid-page, before `tasks` has the page: never reached.
NO_PERIODIC_STATE = 10**12


def write_state(stream: Stream) -> None:
    """Write a STATE message now, with the whole tap's state (every stream's bookmark).

    0.54: `Stream._write_state_message` writes only when `state_manager.is_flushed` is False, which
    writing a record sets; a page whose events produced no record of this stream must move it too.
    The SDK's state writer still skips a STATE equal to the last one it wrote.
    """
    stream.state_manager.is_flushed = False
    stream._write_state_message()


def set_bookmark(stream: Stream, replication_key_value: str) -> None:
    """Point ``stream``'s bookmark at ``replication_key_value`` (an event id).

    0.54: `Stream.stream_state` is the stream's writable entry in the tap's state, with the keys
    `replication_key` and `replication_key_value` that `increment_state` writes per record; records
    sent out of the log's order (tasks: newest change per page) must not leave it mid-page.
    """
    state = stream.stream_state
    state["replication_key"] = stream.replication_key
    state["replication_key_value"] = replication_key_value


def every_property_selected(mask: t.Mapping[tuple[str, ...], bool]) -> bool:
    """True when no property of the stream is deselected (0.54: `Stream.mask` is a SelectionMask
    holding one bool per metadata breadcrumb; a breadcrumb it lacks inherits its parent's)."""
    return all(mask.values())


def _pop_deselected_unless_all_selected(
    record: dict[str, t.Any],
    schema: dict[str, t.Any],
    mask: t.Any,
    breadcrumb: tuple[str, ...] = (),
) -> None:
    if breadcrumb or not every_property_selected(mask):
        _sdk_pop_deselected(record, schema, mask, breadcrumb)


def skip_deselection_when_all_selected() -> None:
    """Skip the SDK's per-record walk that drops deselected properties when none is deselected.

    0.54: `Stream._generate_record_messages` calls `pop_deselected_record_properties` (imported
    into `singer_sdk.streams.core`) on every record; with every property selected it copies and
    walks each record, nested objects included, and removes nothing (~8% of task_events' time).
    Same output for every stream, so installing it process-wide is safe; idempotent.
    """
    # 0.54 reads it as a global of `singer_sdk.streams.core`, so that is where it is replaced.
    _sdk_stream_core.pop_deselected_record_properties = _pop_deselected_unless_all_selected  # type: ignore[attr-defined]


# --- published plans (plans helper) ---------------------------------------------------------------


def discard_progress(partition_state: dict[str, t.Any]) -> None:
    """Forget the bookmark an unsorted stream advanced in this partition during this run.

    0.54: an unsorted stream's new replication value waits under the partition state's
    ``progress_markers`` until the partition (or, for a child, the run) is finalized, which
    promotes it to ``replication_key_value``; popping it first keeps the old bookmark.
    """
    partition_state.pop("progress_markers", None)
