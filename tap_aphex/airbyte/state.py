"""The tap's Singer state <-> Airbyte state messages.

Out: per-stream states (type STREAM), one for each stream whose bookmark moved at a Singer STATE.
Per-stream rather than GLOBAL because that is the form PyAirbyte's caches keep and pass back
(0.71 keeps no GLOBAL state, so every read would start over and spend the daily quota again).

task_events, tasks and task_statuses are fed by one pass over the log and share one position: the
tap resumes from it only when their bookmarks agree, else it re-reads from `start_after`. A
platform commits per-stream states stream by stream, so after a failed sync it may hold them at
different pages. So the log streams' states carry the same `log_checkpoint` number at each
checkpoint, and the state read back resumes them all from the oldest: what another stream already
had is sent again (and deduplicated by its primary key), nothing is skipped.

In: a list of state messages (STREAM; GLOBAL and LEGACY from other writers), or the legacy object
(a Singer state, as Airbyte's old Singer adapter or Meltano keeps it, or one state message).
"""

from __future__ import annotations

import copy
import json
import time
import typing as t

from tap_aphex.inputs import check_state_shape
from tap_aphex.report import AphexError, ConfigError

SingerState = dict[str, t.Any]

#: Fed by one pass over the log: one shared position.
LOG_STREAMS = ("task_events", "tasks", "task_statuses")
CHECKPOINT = "log_checkpoint"  # increases at each checkpoint, across syncs (microseconds)
POSITION = "replication_key_value"  # the Singer bookmark's position (the last eventId delivered)


class StateNotUnderstoodError(AphexError):
    """The state passed to `read` is not one of the shapes Airbyte writes, or holds a stream
    state this source cannot use: a `config_error`, said in Airbyte's words."""


class StreamStates:
    """Turns each Singer STATE the tap writes into the per-stream states that moved."""

    def __init__(self) -> None:
        self._sent: dict[str, str] = {}  # stream -> its bookmark as last sent (JSON)
        self._checkpoint = 0

    def moved(self, singer_state: t.Mapping[str, t.Any]) -> list[tuple[str, dict[str, t.Any]]]:
        """(stream, AirbyteStateMessage without sourceStats) for each bookmark that moved.

        When one log stream's moved, both go out, with one checkpoint number.
        """
        self._checkpoint = max(time.time_ns() // 1000, self._checkpoint + 1)
        bookmarks = singer_state.get("bookmarks") or {}
        moved = {
            name
            for name, bookmark in bookmarks.items()
            if self._sent.get(name) != json.dumps(bookmark, sort_keys=True, default=str)
        }
        if moved & set(LOG_STREAMS):
            moved |= set(LOG_STREAMS) & set(bookmarks)
        messages = []
        for name in [name for name in bookmarks if name in moved]:
            self._sent[name] = json.dumps(bookmarks[name], sort_keys=True, default=str)
            blob = dict(bookmarks[name])
            if name in LOG_STREAMS:
                blob[CHECKPOINT] = self._checkpoint
            messages.append((name, stream_state_message(name, blob)))
        return messages


def stream_state_message(stream: str, blob: dict[str, t.Any]) -> dict[str, t.Any]:
    return {
        "type": "STREAM",
        "stream": {"stream_descriptor": {"name": stream}, "stream_state": blob},
    }


def singer_state(
    passed: object, *, selected: t.Collection[str], full_refresh: t.Collection[str] = ()
) -> SingerState:
    """The Singer state for `TapAphex` from the state Airbyte passed to `read`.

    Streams read in `full_refresh` mode start from the beginning: their bookmarks are left out.
    """
    if isinstance(passed, dict) and "type" not in passed:
        state = _from_legacy_object(passed)
    elif isinstance(passed, dict):
        state = _from_messages([passed])
    elif isinstance(passed, list):
        state = _from_messages(passed)
    else:
        raise _not_understood(f"a JSON {type(passed).__name__}")
    given = state.get("bookmarks") or {}
    _check_stream_states({name: given[name] for name in given if name not in full_refresh})
    bookmarks = {
        name: bookmark
        for name, bookmark in (state.get("bookmarks") or {}).items()
        if name not in full_refresh
    }
    _resume_log_streams_together(bookmarks, selected)
    return {**state, "bookmarks": bookmarks} if bookmarks or "bookmarks" in state else state


def _resume_log_streams_together(bookmarks: dict[str, t.Any], selected: t.Collection[str]) -> None:
    """Both log streams from the older checkpoint when the platform kept them apart."""
    fed = {name: bookmarks[name] for name in LOG_STREAMS if isinstance(bookmarks.get(name), dict)}
    together = [bookmark for name, bookmark in fed.items() if name in selected]
    if len({json.dumps(b.get(POSITION)) for b in together}) > 1 and all(
        isinstance(b.get(CHECKPOINT), int) for b in together
    ):
        oldest = min(together, key=lambda bookmark: int(bookmark[CHECKPOINT]))
        for bookmark in together:
            bookmark[POSITION] = oldest[POSITION]
    for bookmark in fed.values():
        bookmark.pop(CHECKPOINT, None)  # ours, not the SDK's


def _check_stream_states(bookmarks: t.Mapping[str, object]) -> None:
    """Each stream's state one the tap can resume from, else a config error in Airbyte's words.

    Refused rather than skipped: reading the stream from the beginning instead would re-send the
    whole log (and spend the day's quota) without a word. The tap's own check (`inputs`) decides
    what is usable; only its wording, which is about Singer state files, is not used here.
    """
    # Lazily: tap_aphex.tap imports the streams, and this module is imported by the writer.
    from tap_aphex.tap import STREAM_NAMES

    for name, stream_state in bookmarks.items():
        if name not in STREAM_NAMES:
            raise _stream_state_refused(name, "is for a stream this source does not have")
        if not isinstance(stream_state, dict):
            kind = "null" if stream_state is None else f"a JSON {type(stream_state).__name__}"
            raise _stream_state_refused(name, f"is {kind}, not an object")
        try:
            check_state_shape({"bookmarks": {name: stream_state}}, streams=STREAM_NAMES)
        except ConfigError:
            what = "has a shape this source cannot resume from"
            raise _stream_state_refused(name, what) from None


def _stream_state_refused(stream: str, what: str) -> StateNotUnderstoodError:
    return StateNotUnderstoodError(
        f"The state passed with --state cannot be used: the stream state of {stream[:60]} {what}. "
        "Pass the state a previous `read` wrote; or reset that stream's state in the connection "
        "(Airbyte: Settings > Clear data for the stream) to read it from the beginning."
    )


def _from_legacy_object(passed: dict[str, t.Any]) -> SingerState:
    """A Singer state (`{"bookmarks": ...}`), Meltano's (`{"singer_state": ...}`), or `data`."""
    if not passed:
        return {}
    for key in ("singer_state", "data"):
        if isinstance(passed.get(key), dict) and len(passed) == 1:
            passed = passed[key]
    if "bookmarks" not in passed:
        raise _not_understood("an object without `bookmarks`")
    if not isinstance(passed["bookmarks"], dict):
        raise _not_understood("`bookmarks` that is not an object")
    return copy.deepcopy(passed)


def _from_messages(messages: list[object]) -> SingerState:
    state: SingerState = {}
    bookmarks: dict[str, t.Any] = {}
    for message in copy.deepcopy(messages):
        if not isinstance(message, dict):
            raise _not_understood("a list holding something other than state messages")
        kind = str(message.get("type", "")).upper()
        if kind == "STREAM" and isinstance(message.get("stream"), dict):
            _add(bookmarks, message["stream"])
        elif kind == "GLOBAL" and isinstance(message.get("global"), dict):
            state.update(message["global"].get("shared_state") or {})
            for stream_state in message["global"].get("stream_states") or []:
                _add(bookmarks, stream_state)
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
    # No `stream_state` at all: the platform holds none for the stream (cleared), a first read.
    # An explicit one, `null` included, must be usable (`_check_stream_states`).
    if "stream_state" in stream_state:
        bookmarks[descriptor["name"]] = stream_state["stream_state"]


def _not_understood(what: str) -> StateNotUnderstoodError:
    return StateNotUnderstoodError(
        f"The state passed with --state is {what}, not Airbyte state (a list of state messages, "
        "or the legacy object). Pass the state a previous `read` wrote, or none to start over."
    )
