"""Fails loudly when an SDK upgrade moves an internal that `tap_aphex/sdk_seam.py` relies on."""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import typing as t

from singer_sdk.helpers._state import finalize_state_progress_markers, increment_state
from singer_sdk.streams import Stream
from singer_sdk.streams import core as sdk_stream_core

from tap_aphex import sdk_seam
from tap_aphex.sdk_seam import discard_progress
from tap_aphex.tap import TapAphex

# --- task-event log (events-stream helper) ---------------------------------------------------

SCRIPTED = {"api_key": "k", "api_url": "http://127.0.0.1:9/apiTaskEventsV2"}


def catalog_without(stream: str, prop: str) -> dict[str, t.Any]:
    catalog = TapAphex(config=SCRIPTED).catalog_dict
    entry = next(e for e in catalog["streams"] if e["tap_stream_id"] == stream)
    for metadata in entry["metadata"]:
        if metadata["breadcrumb"] == ["properties", prop]:
            metadata["metadata"]["selected"] = False
    return catalog


def test_the_sdk_still_writes_a_periodic_state_by_state_msg_frequency() -> None:
    assert isinstance(Stream.STATE_MSG_FREQUENCY, int)
    assert "self.STATE_MSG_FREQUENCY" in inspect.getsource(Stream._sync_records)


def test_write_state_emits_the_whole_tap_state_with_the_bookmark_set() -> None:
    tap = TapAphex(config=SCRIPTED)
    stream = tap.streams["tasks"]
    out = io.StringIO()

    with contextlib.redirect_stdout(out):
        sdk_seam.set_bookmark(stream, "e41")
        sdk_seam.write_state(stream)
        sdk_seam.write_state(stream)  # the same state again: not repeated
        sdk_seam.set_bookmark(stream, "e42")
        sdk_seam.write_state(stream)  # no record written since, and still it goes out

    states = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [message["type"] for message in states] == ["STATE", "STATE"]
    bookmark = states[-1]["value"]["bookmarks"]["tasks"]
    assert bookmark == {"replication_key": "eventId", "replication_key_value": "e42"}
    assert tap.state["bookmarks"]["tasks"]["replication_key_value"] == "e42"


def test_record_messages_drop_deselected_properties_and_keep_all_when_all_are_selected() -> None:
    sdk_seam.skip_deselection_when_all_selected()
    assert "pop_deselected_record_properties(" in inspect.getsource(
        Stream._generate_record_messages
    )
    assert hasattr(sdk_stream_core, "pop_deselected_record_properties")
    record = {"eventId": "e1", "type": "TaskCreated", "apiVersion": "v1", "task": {"id": "t"}}

    def sent(catalog: dict[str, t.Any] | None) -> dict[str, t.Any]:
        stream = TapAphex(config=SCRIPTED, catalog=catalog).streams["task_events"]
        (message,) = stream._generate_record_messages(dict(record))
        return dict(message.record)

    assert sdk_seam.every_property_selected(TapAphex(config=SCRIPTED).streams["task_events"].mask)
    assert "apiVersion" in sent(None)
    assert "apiVersion" not in sent(catalog_without("task_events", "apiVersion"))


# --- published plans (plans helper) ---------------------------------------------------------------


def _state_after_an_unsorted_record() -> dict[str, object]:
    state: dict[str, object] = {"replication_key": "publishedAt", "replication_key_value": "old"}
    increment_state(
        state,
        latest_record={"publishedAt": "new"},
        replication_key="publishedAt",
        is_sorted=False,
        check_sorted=True,
    )
    return state


def test_an_unsorted_streams_progress_waits_in_progress_markers_until_finalized() -> None:
    state = _state_after_an_unsorted_record()

    assert bookmark(state) == "old"
    finalize_state_progress_markers(state)
    assert bookmark(state) == "new"


def test_discarding_progress_keeps_the_old_bookmark_through_finalization() -> None:
    state = _state_after_an_unsorted_record()

    discard_progress(state)
    finalize_state_progress_markers(state)

    assert bookmark(state) == "old"


def bookmark(state: dict[str, object]) -> object:
    return state["replication_key_value"]
