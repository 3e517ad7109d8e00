"""The spec, and what `read` is given, as the tap's catalog and state (the discovered catalog is
the writer's: the SDK's SCHEMA messages, translated).

The log streams share one position: the tap resumes from it only when their bookmarks agree. A
platform commits states stream by stream, so after a failed sync it may hold them at different
pages: their states carry the same `log_checkpoint` at each checkpoint, and the state read back
resumes them all from the oldest (records sent again are deduplicated; none is skipped)."""

from __future__ import annotations

import copy
import json
import typing as t

from tap_aphex.decoding import described, json_kind
from tap_aphex.inputs import UNWRITABLE, bookmark_shape_problem, unwritable
from tap_aphex.map_checks import map_outputs
from tap_aphex.report import ConfigError
from tap_aphex.sdk_seam import add_builtin_settings
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
EVENT_ID = str(TaskEventsStream.replication_key)  # a task_events record's place in the log

#: Destinations deduplicate by the largest cursor value; event ids do not sort, event times tie:
#: the log's streams get microseconds since the epoch when the row went out, strictly increasing.
LOG_SEQUENCE = "_aphex_log_sequence"

#: Singer's deletions, repeated under the column Airbyte's deduplicating destinations delete by.
SINGER_DELETED_AT = "_sdc_deleted_at"
AIRBYTE_DELETED_AT = "_ab_cdc_deleted_at"


def connector_specification() -> dict[str, t.Any]:
    # What `read` takes, as `--about` lists it, but `batch_config` and flattening, which it refuses
    # (the other `flattening_*` do nothing without it), and `faker_config` (`fake.` needs `faker`).
    add_builtin_settings(TapAphex, settings := copy.deepcopy(CONFIG_SCHEMA))
    settings["properties"] = {
        name: setting
        for name, setting in settings["properties"].items()
        if not name.startswith(("batch_", "faker_", "flattening_"))
    }
    schema = json.loads(json.dumps(settings), object_hook=_airbyte_secret)
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
    sent = map_outputs(tap)  # each stream's names as its maps send it: none, `discover` skips it
    if unknown := [name for name in wanted if name not in catalog]:
        offered = [name for name in catalog if sent.get(name) != []]
        raise ConfigError(
            f"The configured catalog asks for {', '.join(sorted(unknown))}, which this config "
            f"does not enable (it offers {', '.join(sorted(offered))}). Run discover again and "
            "refresh the connection's streams."
        )
    removed = [name for name in wanted if sent.get(name) == []]
    # All of them: the tap refuses the maps themselves (nothing would be sent), naming them.
    if removed and len(removed) < len(wanted):
        it = "it" if len(removed) == 1 else "them"
        raise ConfigError(
            f"The configured catalog asks for {', '.join(sorted(removed))}, which discover does "
            f"not offer: `stream_maps` remove every record of {it}. Deselect {it} in the "
            "connection's streams, or change the map."
        )
    for name, catalog_entry in catalog.items():
        catalog_entry.metadata.root.selected = name in wanted
    return catalog.to_dict(), wanted


class Resume(t.NamedTuple):
    """What `read` resumes from: the Singer state; the log positions given that the read starts
    before (until it has passed them all, a checkpoint would mark an older position as newer: it
    writes none); and the newest checkpoint given (the read's are newer, whatever the clock)."""

    state: dict[str, t.Any]
    ahead: frozenset[str]
    newest: int


def singer_state(
    passed: object, *, selected: t.Collection[str], full_refresh: t.Collection[str] = ()
) -> Resume:
    """The Singer state from what `read` is given: the list of STREAM state messages a platform
    passes back, or the legacy object (a Singer state: a move from Meltano or a Singer run);
    `full_refresh` streams start over."""
    if isinstance(passed, dict) and "type" not in passed:
        state, given = _from_singer_state(copy.deepcopy(passed))
    elif isinstance(passed, list):
        state, given = {}, {}
        for message in copy.deepcopy(passed):
            _add(given, message)
    elif isinstance(passed, dict):  # a lone message: refused as what it is
        _add({}, passed)
        raise _not_understood("one STREAM state message (pass a list of them)")
    else:
        raise _not_understood(json_kind(passed))
    bookmarks = {n: v for n, v in given.items() if n not in full_refresh and v is not CLEARED}
    _check_stream_states(bookmarks)
    fed = {name: bookmarks[name] for name in LOG_STREAMS if name in bookmarks}  # all objects now
    together = [bookmark for name, bookmark in fed.items() if name in selected]
    given_positions = {b.get(POSITION) for b in together if isinstance(b.get(POSITION), str)}
    newest = max((b[CHECKPOINT] for b in fed.values() if CHECKPOINT in b), default=0)
    at = {(json.dumps(b.get(POSITION)), b.get(CHECKPOINT)) for b in together}
    # In checkpoint order, each position's checkpoints run together, as the tap writes them (a
    # position kept by one stream may be restated under a newer one by another); else (a state
    # edited by hand) nothing says which is older: the tap's rule for bookmarks that differ.
    if len(at) > 1 and all(isinstance(c, int) for _, c in at) and _in_order(at):
        oldest = min(together, key=lambda bookmark: int(bookmark[CHECKPOINT]))
        for bookmark in together:
            bookmark[POSITION] = oldest[POSITION]
    for bookmark in fed.values():
        bookmark.pop(CHECKPOINT, None)  # ours, not the SDK's
    if unwritable(state):  # e.g. a lone surrogate in `currently_syncing`
        raise _refused(f"beside its bookmarks it {UNWRITABLE}", "reset every stream's state")
    # The tap starts at the selected log streams' position if they all have one, the same; else
    # at `start_after` (or the first event), before every position given.
    starts = {
        json.dumps(fed.get(name, {}).get(POSITION)) for name in LOG_STREAMS if name in selected
    }
    start = json.loads(starts.pop()) if len(starts) == 1 else None
    ahead = frozenset(given_positions - {start})
    if bookmarks:
        state = {**state, "bookmarks": bookmarks}
    elif state:  # e.g. only `currently_syncing`: a start
        state = {"bookmarks": {}, **state}
    return Resume(state, ahead, newest)


def _in_order(at: t.Collection[tuple[str, int]]) -> bool:
    """Whether each checkpoint names one position, and each position's checkpoints are one run."""
    positions = [position for position, _ in sorted(at, key=lambda pair: pair[1])]
    runs = [p for i, p in enumerate(positions) if i == 0 or positions[i - 1] != p]
    return len({c for _, c in at}) == len(at) and len(runs) == len(set(runs))


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
            checkpoint = stream_state.get(CHECKPOINT, 0)
            if checkpoint.__class__ is not int:  # it tells the older position: `read` writes one
                said = described(checkpoint, 40)
                raise _refused(
                    f"{subject} has a `{CHECKPOINT}` of {said}, not an integer as `read` writes it"
                )
            entry = {key: value for key, value in stream_state.items() if key != CHECKPOINT}
            if problem := read_bookmark(name, entry, EVENT_ID).problem:
                raise _refused(f"{subject} has no position this source can resume from ({problem})")


def _refused(problem: str, start_over: str = "reset that stream's state") -> ConfigError:
    return ConfigError(
        f"The state passed with --state cannot be used: {problem}. Pass the state a previous "
        f"`read` wrote; or {start_over} in the connection (Airbyte: Settings > Clear data for the "
        "stream) to read it from the beginning."
    )


#: docs/airbyte.md's recipe keeps each stream's newest state `read` printed, unwrapped, as a file.
RECIPE = "turn `read`'s output into a state file with the jq recipe in docs/airbyte.md"


def _from_singer_state(held: dict[str, t.Any]) -> tuple[dict[str, t.Any], dict[str, t.Any]]:
    """The legacy object, bare or as `meltano state get` prints it: its own keys, its bookmarks.
    Empty is none; anything else must hold `bookmarks`, or the tap would read the log again."""
    if "singer_state" in held:
        if len(held) > 1:  # which of the two holds the position?
            raise _not_understood("an object holding `singer_state` beside other keys")
        held = held["singer_state"]
        if not isinstance(held, dict):
            raise _not_understood(f"an object whose `singer_state` is {json_kind(held)}")
    if held and "bookmarks" not in held:  # e.g. the bookmarks without their key
        raise _not_understood("an object without `bookmarks`")
    if not isinstance(bookmarks := held.pop("bookmarks", {}), dict):
        raise _not_understood("an object whose `bookmarks` is not an object")
    return held, bookmarks


def _at(value: object, *path: str) -> object:
    """What `value` holds at `path`; None where no object holds it."""
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _add(bookmarks: dict[str, t.Any], message: object) -> None:
    """A STREAM state message's stream state added; any other kind (this source writes none)
    refused as what it is."""
    kind = _at(message, "type")
    kind = kind.upper() if isinstance(kind, str) else kind
    if not isinstance(message, dict):
        raise _not_understood(f"a list holding {json_kind(message)} where a state message belongs")
    if kind == "STATE" and "value" in message:  # Airbyte's have `state`: this is Singer's
        raise _not_understood("a Singer STATE message (pass its `value`, the Singer state)")
    if kind in ("STATE", "RECORD", "LOG", "TRACE"):  # all `read` prints
        raise _not_understood(f"a {kind} message as `read` prints it", RECIPE)
    if kind in ("GLOBAL", "LEGACY"):  # hand-written, or another connector's
        raise _not_understood(f"a {kind} state message (this source writes per-stream states only)")
    if kind is None and {"bookmarks", "singer_state"} & message.keys():
        raise _not_understood("a list holding a Singer state (pass the state, not the list)")
    if kind != "STREAM":
        raise _not_understood(f"a state message of type {json.dumps(kind)[:60]}")
    stream_state, name = message.get("stream"), _at(message, "stream", "stream_descriptor", "name")
    if not isinstance(stream_state, dict) or not isinstance(name, str):
        raise _not_understood("a stream state without `stream_descriptor.name`")
    if (namespace := _at(stream_state, "stream_descriptor", "namespace")) is not None:
        # Another stream to a platform: this source's have no namespace.
        raise _not_understood(f"a stream state of namespace {described(namespace, 40)}")
    if name in bookmarks:  # which is the stream's position? Neither guess is safe.
        raise _not_understood(f"a list with two stream states for {name:.60}", RECIPE)
    # No `stream_state` at all: the platform holds none for the stream (cleared), a first read.
    # An explicit one, `null` included, must be usable (`_check_stream_states`).
    bookmarks[name] = stream_state.get("stream_state", CLEARED)


#: A stream the platform passed without a state (cleared): a first read, and a place taken.
CLEARED = object()


def _not_understood(what: str, then: str = "pass the state a previous `read` wrote") -> ConfigError:
    return ConfigError(
        f"The state passed with --state is {what}; this source reads the list of STREAM state "
        f"messages a platform passes back, or a Singer state: {then}, or pass none to start over."
    )
