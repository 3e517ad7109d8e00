"""The tap's Singer state <-> Airbyte state messages.

Out: one GLOBAL state per Singer STATE. task_events and tasks are fed by one pass over the log and
share one position; the tap resumes from it only when both bookmarks agree (otherwise it restarts
from `start_after`). Per-stream states are committed by the platform stream by stream, so after a
failed sync it could hold the two at different pages; a GLOBAL state is committed as a whole, once
every record before it is, so the two positions are always saved together.

In: what the platform or PyAirbyte passes back: a list of state messages (GLOBAL, or STREAM and
LEGACY from other writers), or the legacy object (a Singer state, as Airbyte's old Singer adapter
kept it, or a single state message).
"""

from __future__ import annotations

import typing as t

from tap_aphex.errors import AphexError

SingerState = dict[str, t.Any]


class StateNotUnderstoodError(AphexError):
    """The state passed to `read` is not one of the shapes Airbyte writes."""


def airbyte_state(singer_state: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """An AirbyteStateMessage (type GLOBAL) carrying the whole Singer state."""
    bookmarks = singer_state.get("bookmarks") or {}
    shared = {key: value for key, value in singer_state.items() if key != "bookmarks"}
    return {
        "type": "GLOBAL",
        "global": {
            "shared_state": shared,
            "stream_states": [
                {"stream_descriptor": {"name": name}, "stream_state": bookmark}
                for name, bookmark in bookmarks.items()
            ],
        },
    }


def singer_state(passed: object, *, full_refresh: t.Collection[str] = ()) -> SingerState:
    """The Singer state for `TapAphex` from the state Airbyte passed to `read`.

    Streams read in `full_refresh` mode start from the beginning: their bookmarks are left out.
    """
    if isinstance(passed, dict) and "type" not in passed:
        state: SingerState = dict(passed.get("data", passed))  # the legacy object
    elif isinstance(passed, dict):
        state = _from_messages([passed])
    elif isinstance(passed, list):
        state = _from_messages(passed)
    else:
        raise _not_understood(f"a JSON {type(passed).__name__}")
    bookmarks = {
        name: bookmark
        for name, bookmark in (state.get("bookmarks") or {}).items()
        if name not in full_refresh
    }
    return {**state, "bookmarks": bookmarks} if bookmarks or "bookmarks" in state else state


def _from_messages(messages: list[object]) -> SingerState:
    state: SingerState = {}
    bookmarks: dict[str, t.Any] = {}
    for message in messages:
        if not isinstance(message, dict):
            raise _not_understood("a list holding something other than state messages")
        kind = str(message.get("type", "")).upper()
        if kind == "GLOBAL" and isinstance(message.get("global"), dict):
            state.update(message["global"].get("shared_state") or {})
            for stream_state in message["global"].get("stream_states") or []:
                _add(bookmarks, stream_state)
        elif kind == "STREAM" and isinstance(message.get("stream"), dict):
            _add(bookmarks, message["stream"])
        elif kind == "LEGACY" and isinstance(message.get("data"), dict):
            legacy = dict(message["data"])
            bookmarks.update(legacy.pop("bookmarks", None) or {})
            state.update(legacy)
        else:
            raise _not_understood(f"a state message of type {kind or 'none'!r}")
    return {**state, "bookmarks": bookmarks} if bookmarks else state


def _add(bookmarks: dict[str, t.Any], stream_state: object) -> None:
    descriptor = stream_state.get("stream_descriptor") if isinstance(stream_state, dict) else None
    if not isinstance(stream_state, dict) or not isinstance(descriptor, dict):
        raise _not_understood("a stream state without a stream descriptor")
    if not isinstance(descriptor.get("name"), str):
        raise _not_understood("a stream state without a stream name")
    if stream_state.get("stream_state") is not None:
        bookmarks[descriptor["name"]] = stream_state["stream_state"]


def _not_understood(what: str) -> StateNotUnderstoodError:
    return StateNotUnderstoodError(
        f"The state passed with --state is {what}, not Airbyte state (a list of state messages, "
        "or the legacy object). Pass the state a previous `read` wrote, or none to start over."
    )
