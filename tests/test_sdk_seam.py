"""Fails loudly when an SDK internal that `tap_aphex/sdk_seam.py` relies on moves."""

from __future__ import annotations

# --- published plans (plans helper) ---------------------------------------------------------------
from singer_sdk.helpers._state import finalize_state_progress_markers, increment_state

from tap_aphex.sdk_seam import discard_progress


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
