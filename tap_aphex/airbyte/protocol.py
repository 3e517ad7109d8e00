"""The spec, the discovered catalog, and what `read` is given, as the tap's catalog and state.

The log streams share one position: the tap resumes from it only when their bookmarks agree. A
platform commits states stream by stream, so after a failed sync it may hold them at different
pages: their states carry the same `log_checkpoint` at each checkpoint, and the state read back
resumes them all from the oldest (records sent again are deduplicated; none is skipped)."""

from __future__ import annotations

import copy
import json
import typing as t

from tap_aphex.decoding import json_kind
from tap_aphex.inputs import UNWRITABLE, bookmark_shape_problem, unwritable
from tap_aphex.report import ConfigError
from tap_aphex.settings import CONFIG_SCHEMA
from tap_aphex.streams.log_position import read_bookmark
from tap_aphex.streams.task_events import TaskEventsStream
from tap_aphex.tap import LOG_STREAMS as LOG_STREAM_TYPES
from tap_aphex.tap import STREAM_NAMES, TapAphex

#: The sync modes `discover` offers, and the only ones a configured catalog may ask for.
SYNC_MODES = ("full_refresh", "incremental")

LOG_STREAMS = tuple(stream.name for stream in LOG_STREAM_TYPES)
CHECKPOINT = "log_checkpoint"  # in each log stream's state: the same at one checkpoint
POSITION = "replication_key_value"  # the Singer bookmark's position (the last eventId delivered)

#: Destinations deduplicate by the largest cursor value; event ids do not sort, event times tie:
#: the log's streams get microseconds since the epoch when the row went out, strictly increasing.
LOG_SEQUENCE = "_aphex_log_sequence"

#: Singer's deletions, repeated under the column Airbyte's deduplicating destinations delete by.
SINGER_DELETED_AT = "_sdc_deleted_at"
AIRBYTE_DELETED_AT = "_ab_cdc_deleted_at"


def connector_specification() -> dict[str, t.Any]:
    schema = json.loads(json.dumps(CONFIG_SCHEMA), object_hook=_airbyte_secret)
    return {
        "documentationUrl": "https://aphex.co",
        "supportsIncremental": True,
        # Airbyte reads connection specifications as JSON Schema draft-07.
        "connectionSpecification": {
            **schema,
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "Aphex Planner",
        },
    }


def _airbyte_secret(node: dict[str, t.Any]) -> dict[str, t.Any]:
    """`airbyte_secret` wherever the SDK marks a setting secret."""
    return {**node, "airbyte_secret": True} if node.get("secret") is True else node


def airbyte_catalog(tap: TapAphex) -> dict[str, t.Any]:
    streams = []
    for name, stream in tap.streams.items():
        schema = copy.deepcopy(stream.schema)
        properties = schema.get("properties", {})
        if SINGER_DELETED_AT in properties:
            properties[AIRBYTE_DELETED_AT] = properties[SINGER_DELETED_AT]
        cursor, modes = stream.replication_key, list(SYNC_MODES)
        if name in LOG_STREAMS:
            properties[LOG_SEQUENCE] = {
                "type": "integer",
                "description": "Increases in log order, across syncs: what to deduplicate by.",
            }
            cursor = LOG_SEQUENCE
            modes = ["incremental"]  # one position for the three: see `select`'s refusal
        streams.append(
            {
                "name": name,
                "json_schema": schema,
                "supported_sync_modes": modes,
                "source_defined_cursor": True,
                "default_cursor_field": [cursor] if cursor else [],
                "source_defined_primary_key": [[key] for key in stream.primary_keys or []],
                "is_resumable": True,
            }
        )
    return {"streams": streams}


def select(tap: TapAphex, configured: object) -> tuple[dict[str, t.Any], dict[str, str]]:
    """The Singer catalog selecting what the configured one asks for; each stream's sync mode."""
    entries = configured.get("streams") if isinstance(configured, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(
            "The configured catalog has no `streams` list; pass the file Airbyte configured."
        )
    wanted: dict[str, str] = {}  # stream -> sync mode
    for entry in entries:
        name = _at(entry, "stream", "name")
        if not isinstance(name, str):
            raise ConfigError(
                "A configured stream has no `stream.name`; pass the file Airbyte configured."
            )
        mode = entry.get("sync_mode", "incremental")
        if mode not in SYNC_MODES:
            # Guessing would re-read everything (quota) or keep a state meant to be dropped.
            raise ConfigError(
                f"The configured catalog's stream {name:.60} has sync_mode {str(mode)[:40]!r}; "
                f"this source supports {' and '.join(SYNC_MODES)}. Refresh the connection's "
                "streams and pick one of those."
            )
        if name in wanted:  # which sync mode is meant? Neither guess is safe.
            raise ConfigError(
                f"The configured catalog lists the stream {name:.60} twice; pass the file Airbyte "
                "configured, with each stream once."
            )
        if mode == "full_refresh" and name in LOG_STREAMS:
            raise ConfigError(
                f"The configured catalog's stream {name} has sync_mode full_refresh; "
                f"{', '.join(LOG_STREAMS)} are read incrementally only (they share one position "
                "in the task-event log, and the API serves 20,000 events a day). Refresh the "
                "connection's streams and pick incremental."
            )
        wanted[name] = mode
    catalog = tap.catalog  # the throwaway tap's own, selected in place
    if unknown := [name for name in wanted if name not in catalog]:
        raise ConfigError(
            f"The configured catalog asks for {', '.join(sorted(unknown))}, which this config "
            f"does not enable (it offers {', '.join(sorted(catalog))}). Run discover again and "
            "refresh the connection's streams."
        )
    for name, catalog_entry in catalog.items():
        catalog_entry.metadata.root.selected = name in wanted
    return catalog.to_dict(), wanted


def singer_state(
    passed: object, *, selected: t.Collection[str], full_refresh: t.Collection[str] = ()
) -> dict[str, t.Any]:
    """The Singer state from `read`'s: state messages (STREAM, GLOBAL, LEGACY; as `read` writes
    them too), one, or a Singer state (Meltano's, ...); `full_refresh` streams start over."""
    if not isinstance(passed, (dict, list)):
        raise _not_understood(json_kind(passed))
    if isinstance(passed, dict) and "type" not in passed:  # the legacy object: a Singer state
        given: dict[str, t.Any] = {}
        state = _own_keys(copy.deepcopy(passed), "an object", given)
    else:
        state, given = _from_messages(passed if isinstance(passed, list) else [passed])
    bookmarks = {n: v for n, v in given.items() if n not in full_refresh and v is not CLEARED}
    _check_stream_states(bookmarks)
    fed = {name: bookmarks[name] for name in LOG_STREAMS if name in bookmarks}  # all objects now
    together = [bookmark for name, bookmark in fed.items() if name in selected]
    at = {(json.dumps(b.get(POSITION)), b.get(CHECKPOINT)) for b in together}
    # Each position at its own checkpoint, as the tap writes them; else (a state edited by hand)
    # nothing says which is older: the tap's rule for bookmarks that differ applies (a warning).
    ordered = len({p for p, _ in at}) == len({c for _, c in at}) == len(at)
    if len(at) > 1 and ordered and all(isinstance(c, int) for _, c in at):
        oldest = min(together, key=lambda bookmark: int(bookmark[CHECKPOINT]))
        for bookmark in together:
            bookmark[POSITION] = oldest[POSITION]
    for bookmark in fed.values():
        bookmark.pop(CHECKPOINT, None)  # ours, not the SDK's
    if unwritable(state):  # e.g. a lone surrogate in a GLOBAL's shared state
        raise _refused(f"its shared state {UNWRITABLE}", "reset every stream's state")
    if bookmarks:
        return {**state, "bookmarks": bookmarks}
    return {"bookmarks": {}, **state} if state else {}  # e.g. only `currently_syncing`: a start


def _check_stream_states(bookmarks: t.Mapping[str, object]) -> None:
    """Each stream's state one the tap can resume from, else a config error in Airbyte's words
    (on a bookmark, the tap's own: `tap-aphex` says the same). Refused, not skipped: reading from
    the beginning would re-send the log without a word."""
    for name, stream_state in bookmarks.items():
        subject = f"the stream state of {name[:60]}"
        if name not in STREAM_NAMES:
            raise _refused(f"{subject} is for a stream this source does not have")
        if not isinstance(stream_state, dict):
            raise _refused(f"{subject} is {json_kind(stream_state)}, not an object")
        if problem := bookmark_shape_problem(stream_state, subject):
            raise _refused(problem)
        if unwritable(stream_state):  # too deep to write back, say
            raise _refused(f"{subject} {UNWRITABLE}")
        if name in LOG_STREAMS:  # the tap would read the log from its start, with a warning
            entry = {key: value for key, value in stream_state.items() if key != CHECKPOINT}
            if problem := read_bookmark(name, entry, str(TaskEventsStream.replication_key)).problem:
                raise _refused(f"{subject} has no position this source can resume from ({problem})")


def _refused(problem: str, start_over: str = "reset that stream's state") -> ConfigError:
    return ConfigError(
        f"The state passed with --state cannot be used: {problem}. Pass the state a previous "
        f"`read` wrote; or {start_over} in the connection (Airbyte: Settings > Clear data for the "
        "stream) to read it from the beginning."
    )


#: Objects wrapping a Singer state: Meltano's (`meltano state get`), and a state file's `data`.
WRAPPERS = ("singer_state", "data")


def _own_keys(held: dict[str, t.Any], what: str, bookmarks: dict[str, t.Any]) -> dict[str, t.Any]:
    """A Singer state (the legacy object, LEGACY's `data`, GLOBAL's `shared_state`), read one way
    wherever it is: its bookmarks added to the stream states, its own keys returned. Empty is
    none; anything else must hold `bookmarks`, or the tap would read the whole log again."""
    while len(held) == 1 and (key := next(iter(held))) in WRAPPERS:
        if not isinstance(held[key], dict):
            raise _not_understood(f"{what} whose `{key}` is {json_kind(held[key])}, not an object")
        held = held[key]
    if not held:
        return {}
    if wrapped := [key for key in WRAPPERS if key in held]:  # which of the two holds the position?
        raise _not_understood(f"{what} holding `{wrapped[0]}` beside other keys")
    if "bookmarks" not in held:  # e.g. the bookmarks without their key: nothing to resume from
        raise _not_understood(f"{what} without `bookmarks`")
    own_bookmarks = held.pop("bookmarks")
    if not isinstance(own_bookmarks, dict):
        raise _not_understood(f"{what} whose `bookmarks` is not an object")
    # Its bookmarks are stream states like the others (one stream given twice is refused: which
    # is its place?).
    for name, stream_state in own_bookmarks.items():
        _add(bookmarks, {"stream_descriptor": {"name": name}, "stream_state": stream_state})
    return held


def _from_messages(messages: list[object]) -> tuple[dict[str, t.Any], dict[str, t.Any]]:
    """The state's own keys (GLOBAL's shared state, LEGACY's), and each stream's state."""
    state: dict[str, t.Any] = {}
    bookmarks: dict[str, t.Any] = {}
    for message in _newest(copy.deepcopy(messages)):
        if not isinstance(message, dict):
            raise _not_understood("a list holding something other than state messages")
        kind = message.get("type")
        kind = kind.upper() if isinstance(kind, str) else kind
        held = {"STREAM": "stream", "GLOBAL": "global", "LEGACY": "data"}.get(str(kind), "")
        if kind == "STATE":  # Airbyte's (`state`) are unwrapped: this is Singer's (`value`)
            raise _not_understood("a Singer STATE message (pass its `value`, the Singer state)")
        if kind is None and {"bookmarks", *WRAPPERS} & message.keys():
            raise _not_understood("a list holding a Singer state (pass the state, not the list)")
        if not isinstance(kind, str) or not held:
            said = repr(kind) if isinstance(kind, str) else json_kind(kind)
            if kind in ("RECORD", "LOG", "TRACE"):  # all `read` wrote
                raise _not_understood(f"a {kind} message (keep only the STATE messages)")
            raise _not_understood(f"a state message of type {said}")
        if not isinstance(message.get(held), dict):
            raise _not_understood(f"a {kind} state message whose `{held}` is no object")
        if kind == "STREAM":
            _add(bookmarks, message["stream"])
            continue
        if kind == "GLOBAL":
            _check_global(message[held])
            for stream_state in message[held].get("stream_states") or []:
                _add(bookmarks, stream_state)
        # A Singer state: GLOBAL's shared state, or LEGACY's object.
        own = message[held].get("shared_state", {}) if kind == "GLOBAL" else message[held]
        own = {} if own is None else own  # null: none, as absent (`[]`, `false`: refused)
        if not isinstance(own, dict):
            raise _not_understood(f"a GLOBAL state whose `shared_state` is {json_kind(own)}")
        what = "a GLOBAL state's `shared_state`" if kind == "GLOBAL" else f"a {kind} state"
        state.update(_own_keys(own, what, bookmarks))
    return state, bookmarks


def _check_global(held: dict[str, t.Any]) -> None:
    """Where a GLOBAL state holds anything, somewhere this source reads: else it would be
    dropped, and the whole log read again."""
    stream_states = held.get("stream_states")
    if not isinstance(stream_states, (list, type(None))):
        raise _not_understood(f"a GLOBAL state whose `stream_states` is {json_kind(stream_states)}")
    if held and not {"shared_state", "stream_states"} & held.keys():
        raise _not_understood("a GLOBAL state without `shared_state` or `stream_states`")
    if others := sorted(held.keys() - {"shared_state", "stream_states"}):
        raise _not_understood(f"a GLOBAL state holding `{others[0]:.40}`, which is no part of one")


def _newest(messages: list[object]) -> list[object]:
    """`read`'s STATE messages unwrapped; of the states it wrote (with `sourceStats`), a stream's
    last (or GLOBAL's) supersedes the others, as the platform keeps the newest. Hand-written ones
    stay: two of one stream are refused (`_add`), nothing says which is the newer."""
    kept: dict[object, object] = {}  # its index, or a stream (or GLOBAL) read wrote -> its state
    seen: set[str] = set()  # read's states met already (a recipe run twice keeps them again)
    for index, message in enumerate(messages):
        wrote = _at(message, "sourceStats") is not None
        if str(_at(message, "type")).upper() == "STATE" and _at(message, "value") is None:
            message, wrote = _at(message, "state"), True  # Airbyte's; Singer's has `value`
            if not isinstance(message, dict) or str(message.get("type")).upper() == "STATE":
                raise _not_understood("a STATE message whose `state` is no state message")
        kind = str(_at(message, "type")).upper()
        name = _at(message, "stream", "stream_descriptor", "name") if kind == "STREAM" else kind
        at = _at(message, "stream", "stream_state", CHECKPOINT)
        # A log stream's state `read` wrote holds its checkpoint: one without is hand-written.
        mine = wrote and kind in ("STREAM", "GLOBAL") and isinstance(name, str)
        mine = mine and (name not in LOG_STREAMS or isinstance(at, int))
        key = (kind, name) if mine else index
        if mine:
            text = json.dumps(message, sort_keys=True)
            if text in seen:
                continue  # the same state again: nothing newer
            seen.add(text)
        was = _at(kept.get(key), "stream", "stream_state", CHECKPOINT)
        if isinstance(at, int) and isinstance(was, int) and at < was:  # not in `read`'s order
            raise _not_understood(f"a list whose states of {name!s:.60} are out of `read`'s order")
        kept[key] = message
    return list(kept.values())


def _at(value: object, *path: str) -> object:
    """What `value` holds at `path`; None where no object holds it."""
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _add(bookmarks: dict[str, t.Any], stream_state: object) -> None:
    name = _at(stream_state, "stream_descriptor", "name")
    if not isinstance(stream_state, dict) or not isinstance(name, str):
        raise _not_understood("a stream state without `stream_descriptor.name`")
    if name in bookmarks:  # which is the stream's position? Neither guess is safe.
        raise _not_understood(f"a list with two stream states for {name:.60}")
    # No `stream_state` at all: the platform holds none for the stream (cleared), a first read.
    # An explicit one, `null` included, must be usable (`_check_stream_states`).
    bookmarks[name] = stream_state.get("stream_state", CLEARED)


#: A stream the platform passed without a state (cleared): a first read, and a place taken.
CLEARED = object()


def _not_understood(what: str) -> ConfigError:
    return ConfigError(
        f"The state passed with --state is {what}, not Airbyte state (a list of state messages, "
        "or the legacy object). Pass the state a previous `read` wrote, or none to start over."
    )
