"""The files a run is given (config, state, catalog): read, and checked for a shape the SDK can use.

Each problem is one line naming the file and what is wrong (`ConfigError`), never a traceback from
deep in the SDK when it meets a shape it does not expect.
"""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

from singer_sdk.singerlib import Catalog

from tap_aphex.errors import ConfigError

if t.TYPE_CHECKING:
    from collections.abc import Collection


def read_json_object(source: str | t.IO[str], what: str) -> dict[str, t.Any]:
    """A config, state or catalog file's JSON object, or one line naming it and the problem."""
    name = source if isinstance(source, str) else getattr(source, "name", what)
    try:
        text = Path(source).read_text("utf-8") if isinstance(source, str) else source.read()
        value = json.loads(text)
    except json.JSONDecodeError as error:
        msg = f"The {what} file {name} is not JSON ({error.msg} at line {error.lineno})."
        raise ConfigError(msg) from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ConfigError(f"The {what} file {name} cannot be read: {reason}.") from None
    if not isinstance(value, dict):
        kind = type(value).__name__.replace("list", "a list").replace("str", "a string")
        raise ConfigError(f"The {what} file {name} must hold a JSON object {{...}}, not {kind}.")
    return value


def check_state_shape(
    state: object, name: str | None = None, streams: Collection[str] | None = None
) -> None:
    """A state the SDK can load: an object whose `bookmarks`, if any, maps streams to objects.

    A bookmark of another shape is refused rather than skipped: reading that stream from the
    start instead would silently re-send (or, for `start_after`, skip) what the user expects. So
    is a state with no `bookmarks` that is not empty (a STATE message, Meltano's wrapper), and a
    bookmark of a stream not in ``streams`` (the tap's, when given): a misspelt name, say.
    """
    if state is None or state == {}:  # no state: a first run
        return
    bookmarks = state.get("bookmarks") if isinstance(state, dict) else None
    problem = None
    if isinstance(state, dict) and "bookmarks" not in state:
        problem = _wrapped_state(state)
    elif not isinstance(bookmarks, dict):
        problem = "`bookmarks` must be an object"
    elif streams is not None and (unknown := [name for name in bookmarks if name not in streams]):
        problem = (
            f"it has a bookmark for `{unknown[0]:.60}`, which is no stream of this tap (its "
            f"streams: {', '.join(streams)})"
        )
    else:
        unusable = [stream for stream, mark in bookmarks.items() if not _usable_bookmark(mark)]
        if unusable:
            problem = f"the bookmark of `{unusable[0]}` has a shape the tap cannot use"
    if problem:
        where = f"The state file {name}" if name else "The state"
        msg = (
            f"{where} cannot be used ({problem}): it must be a JSON object like "
            '{"bookmarks": {"task_events": {...}}} (as this tap writes it); drop `--state`, or '
            "clear the state in Meltano, to start afresh."
        )
        raise ConfigError(msg)


def _wrapped_state(state: dict[str, t.Any]) -> str:
    """What a non-empty state without `bookmarks` is, and where its bookmarks would be."""
    if state.get("type") == "STATE" and "value" in state:
        return "it is a STATE message: pass its `value`, e.g. `jq .value`"
    if "singer_state" in state:
        return "it is Meltano's wrapper (as `meltano state get` prints it): pass its `singer_state`"
    keys = ", ".join(f"`{key:.40}`" for key in list(state)[:5])
    return f"it has no `bookmarks`, only {keys}"


def _usable_bookmark(bookmark: object) -> bool:
    """A stream's bookmark as the SDK reads it: an object; its `partitions` a list of objects,
    each with an object `context`; its `progress_markers` an object."""
    if not isinstance(bookmark, dict):
        return False
    partitions = bookmark.get("partitions", [])
    markers = bookmark.get("progress_markers", {})
    return (
        isinstance(partitions, list)
        and all(
            isinstance(p, dict) and isinstance(p.get("context", {}), dict) and _usable_bookmark(p)
            for p in partitions
        )
        and isinstance(markers, dict)
    )


def check_catalog_shape(catalog: object, name: str) -> None:
    """A catalog the SDK can read: `streams`, a list of objects with a `tap_stream_id`, whose
    `schema` is an object and `metadata` a list of objects; else one line naming the file."""
    streams = catalog.get("streams", []) if isinstance(catalog, dict) else None
    problem = None
    if not isinstance(streams, list):
        problem = "`streams` must be a list [...]"
    else:
        for index, stream in enumerate(streams):
            if not isinstance(stream, dict) or not isinstance(stream.get("tap_stream_id"), str):
                problem = f"`streams[{index}]` must be an object with a `tap_stream_id`"
            elif not isinstance(stream.get("schema", {}), dict):
                problem = f"`streams[{index}].schema` must be an object"
            elif not isinstance(metadata := stream.get("metadata", []), list) or not all(
                isinstance(entry, dict) and isinstance(entry.get("metadata", {}), dict)
                for entry in metadata
            ):
                problem = f"`streams[{index}].metadata` must be a list of objects"
            if problem:
                break
    if problem is None:
        try:
            Catalog.from_dict(t.cast("dict[str, t.Any]", catalog))
        except (TypeError, AttributeError, KeyError, ValueError) as error:
            problem = f"it cannot be read ({type(error).__name__})"
    if problem:
        msg = (
            f"The catalog file {name} is not a catalog the tap can use: {problem}. Make one "
            "with `tap-aphex --discover`."
        )
        raise ConfigError(msg)
