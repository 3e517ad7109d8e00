"""What a run is given (config, state, catalog: files or `TAP_APHEX_*` variables), checked before
the SDK reads it: a problem is one line naming where and what, never a value nor a traceback."""

# ruff: noqa: UP013 (the shapes the SDK reads are one table; a catalog's keys have hyphens)
from __future__ import annotations

import importlib.util
import json
import re
import typing as t
from collections.abc import Collection, Mapping
from pathlib import Path

import fsspec  # type: ignore[import-untyped]  # the SDK's BATCH storage (loaded already)
import msgspec
from singer_sdk.singerlib import Catalog, CatalogEntry, StateMessage
from typing_extensions import Required

from tap_aphex import schemas
from tap_aphex.decoding import JSON_WORDS, json_kind
from tap_aphex.logs import printable
from tap_aphex.report import ConfigError
from tap_aphex.sdk_seam import batch_config_from
from tap_aphex.settings import set_at


def read_json(source: str | Path | t.IO[str], what: str, *, object_only: bool = False) -> object:
    """A config, state or catalog file's JSON value (``object_only``: an object), or why not."""
    path = source if isinstance(source, (str, Path)) else None
    try:
        # As bytes: JSON reads UTF-8 (with Notepad's BOM too), UTF-16 and UTF-32 (PowerShell's `>`).
        file = t.cast("t.IO[bytes]", getattr(source, "buffer", source))
        value = json.loads(Path(path).read_bytes() if path is not None else file.read())
    except json.JSONDecodeError as error:
        problem = f"is not JSON ({error.msg} at line {error.lineno})"
    except UnicodeDecodeError:
        problem = "is not UTF-8 text: save it as UTF-8"
    except RecursionError:
        problem = "is nested too deep to read"
    except ValueError:  # an integer of more digits than Python reads
        problem = "holds an integer too long to read (over 4,300 digits)"
    except OSError as error:
        problem = f"cannot be read: {error.strerror or error}"
    else:
        if isinstance(value, dict) or not object_only:
            return value
        problem = f"must hold a JSON object {{...}}, not {json_kind(value)}"
    name = str(path) if path is not None else getattr(source, "name", what)
    raise ConfigError(f"The {what} file {name} {problem}.")


def read_json_object(source: str | Path | t.IO[str], what: str) -> dict[str, t.Any]:
    return t.cast("dict[str, t.Any]", read_json(source, what, object_only=True))


def joined(problems: t.Sequence[str]) -> str:
    """Problems on one line, `; `-separated (`.;` reads as a typo: the period goes)."""
    cut = [p[:-1] if p.endswith(".") and not p.endswith("..") else p for p in problems[:-1]]
    return "; ".join([*cut, *problems[-1:]])


#: The shapes the SDK reads of a state and a catalog. A selection must be a boolean: the SDK takes
#: any value as the answer (`selected`, else `selected-by-default`), so "false" would select.
_Object = dict[str, t.Any]
_Bookmark = t.TypedDict(
    "_Bookmark",
    {"context": _Object, "progress_markers": _Object, "partitions": list["_Bookmark"]},
    total=False,
)
_Selection = t.TypedDict("_Selection", {"selected": bool, "selected-by-default": bool}, total=False)
_Entry = t.TypedDict(
    "_Entry", {"breadcrumb": Required[list[str]], "metadata": _Selection}, total=False
)
_Stream = t.TypedDict(
    "_Stream",
    {
        "tap_stream_id": Required[str],
        "schema": Required[_Object],  # without it, the stream's own would be replaced by none
        "metadata": list[_Entry],
        "key_properties": list[str] | None,
        "replication_key": str | None,
        "replication_method": str | None,
        "stream": str | None,
    },
    total=False,
)
_Catalog = t.TypedDict("_Catalog", {"streams": list[_Stream]}, total=False)


def _shape_words(error: msgspec.ValidationError) -> str:
    """msgspec's words on a shape in JSON's, never Python's (`str`): where, then what is wrong."""
    what, _, where = str(error).partition(" - at `$")
    place = f"`{where.rstrip('`').lstrip('.')}`" if where else "it"
    if match := re.fullmatch(r"Expected `([\w |]+)`, got `(\w+)`", what):
        expected, got = (
            " or ".join(JSON_WORDS.get(name, name) for name in names.split(" | "))
            for names in match.groups()
        )
        return f"{place} must be {expected}, not {got}"
    return f"{place}: {what.removeprefix('Object ')}"  # e.g. missing required field `tap_stream_id`


def check_state_shape(
    state: object, name: str | None = None, streams: Collection[str] | None = None
) -> None:
    """A state the SDK can load, else refused: read from the start, a stream would re-send data."""
    if state is not None and state != {} and (problem := _state_problem(state, streams)):
        where = f"The state file {name}" if name else "The state"
        raise ConfigError(
            f"{where} cannot be used ({problem}): it must be a JSON object like "
            '{"bookmarks": {"task_events": {...}}} (as this tap writes it); drop `--state`, or '
            "clear the state in Meltano, to start afresh."
        )


def _state_problem(state: object, streams: Collection[str] | None) -> str | None:
    if isinstance(state, dict) and "bookmarks" not in state:  # what it is, where they are
        if state.get("type") == "STATE" and "value" in state:
            return "it is a STATE message: pass its `value`, e.g. `jq .value`"
        if "singer_state" in state:
            return "it is Meltano's wrapper (from `meltano state get`): pass its `singer_state`"
        keys = ", ".join(f"`{key:.40}`" for key in list(state)[:5])
        return f"it has no `bookmarks`, only {keys}"
    bookmarks = state.get("bookmarks") if isinstance(state, dict) else None
    if not isinstance(bookmarks, dict):
        return "`bookmarks` must be an object"
    if streams is not None and (unknown := [name for name in bookmarks if name not in streams]):
        return (
            f"it has a bookmark for `{unknown[0]:.60}`, which is no stream of this tap (its "
            f"streams: {', '.join(streams)})"
        )
    for stream, bookmark in bookmarks.items():
        try:
            partitions = msgspec.convert(bookmark, _Bookmark).get("partitions", [])
        except msgspec.ValidationError as error:
            return f"in the bookmark of `{stream}`, {_shape_words(error)}"
        # The SDK reads each partition's `context`, and refuses two alike (quoting the state).
        contexts = {json.dumps(p.get("context"), sort_keys=True, default=str) for p in partitions}
        if "null" in contexts or len(contexts) < len(partitions):
            return f"the bookmark of `{stream}` has a partition without a `context` of its own"
    try:  # the SDK writes the state back as it found it: as its writer does
        msgspec.json.encode(StateMessage(value=t.cast("dict[str, t.Any]", state)).to_dict())
    except (UnicodeError, RecursionError, TypeError, ValueError):
        return "it holds a value the tap cannot write back (a lone surrogate, too deep)"
    return None


def check_catalog_shape(
    catalog: object, name: str, known: Mapping[str, Mapping[str, t.Any]]
) -> list[str]:
    """A catalog the SDK can read, else refused; a warning per stream not ``known`` (by schema)."""
    try:
        streams = msgspec.convert(catalog, _Catalog).get("streams", [])
        if not (problem := _schema_problem(streams)):
            entries = Catalog.from_dict(t.cast("dict[str, t.Any]", catalog)).values()
            problem = next(filter(None, (_keys_problem(entry, known) for entry in entries)), "")
    except msgspec.ValidationError as error:
        problem = _shape_words(error)
    except (TypeError, AttributeError, KeyError, ValueError) as error:
        problem = f"it cannot be read ({type(error).__name__})"
    if not problem:
        return [
            f"The catalog file {name} names a stream this tap does not have, `{stream:.60}`: it "
            f"is ignored (the tap's streams: {', '.join(known)})."
            for stream in (entry["tap_stream_id"] for entry in streams)
            if stream not in known
        ]
    raise ConfigError(
        f"The catalog file {name} is not a catalog the tap can use: {problem}. Make one with "
        "`tap-aphex --discover`."
    )


def _schema_problem(streams: list[_Stream]) -> str:
    """A subschema the SDK reads as an object that is not one: JSON Schema's `true` and `false`
    (any value, none) end its reading (AttributeError, or a TypeError blamed on `stream_maps`)."""
    pending = [(f"streams[{index}].schema", s["schema"]) for index, s in enumerate(streams)]
    while pending:
        where, schema = pending.pop(0)
        if not isinstance(schema, dict):
            return f"`{where}` must be an object schema, not {json_kind(schema)}"
        if isinstance(properties := schema.get("properties"), dict):
            pending += [(f"{where}.properties.{key:.60}", sub) for key, sub in properties.items()]
        for key in ("anyOf", "allOf", "oneOf"):
            if isinstance(options := schema.get(key), list):
                pending += [(f"{where}.{key}[{i}]", sub) for i, sub in enumerate(options)]
        # A null `items` the SDK passes over; a boolean `additionalProperties` it reads as a flag.
        if schema.get("items") is not None:
            pending.append((f"{where}.items", schema["items"]))
        if isinstance(extra := schema.get("additionalProperties"), dict):
            pending.append((f"{where}.additionalProperties", extra))
    return ""


def _keys_problem(entry: CatalogEntry, known: Mapping[str, Mapping[str, t.Any]]) -> str | None:
    """What in a stream's entry would end its run after records went out, or misname them: a key
    (or the replication key) its schema lacks or its metadata deselects; another `stream` name; a
    type its schema leaves out."""
    stream = f"stream `{entry.tap_stream_id:.60}`"
    if entry.stream not in (None, entry.tap_stream_id):
        return f"{stream} has `stream` {entry.stream[:60]!r}: leave it out, or the same name"
    selection = entry.metadata.resolve_selection()  # the SDK's own rule, `inclusion` first
    if not selection[()]:
        return None  # a stream left out is not read, whatever its entry says (`IncrementalOnly`)
    # The SDK takes the keys from the metadata, but names them in SCHEMA from the entry.
    root, given = entry.metadata.root, list(entry.key_properties or [])
    if root.table_key_properties is not None and list(root.table_key_properties) != given:
        return (
            f"{stream}'s `key_properties` {json.dumps(given)[:80]} differ from its metadata's "
            f"`table-key-properties` {json.dumps(list(root.table_key_properties))[:80]}: give "
            "both the same keys"
        )
    keys = [*given, *filter(None, [entry.replication_key, root.replication_key])]
    for key in dict.fromkeys(keys):
        if key not in (entry.schema.properties or {}):
            return f"{stream}'s key `{key:.60}` is not in its `schema`"
        if not selection[("properties", key)]:
            return f"{stream}'s key `{key:.60}` is deselected: its records would have none"
    if entry.tap_stream_id in known and (
        narrowed := schemas.narrowed(entry.schema.to_dict(), known[entry.tap_stream_id], "schema")
    ):
        return f"{stream}'s {narrowed}: give its types as `--discover` writes them"
    return None


def batch_config_problems(config: Mapping[str, t.Any], variables: Mapping[str, str]) -> list[str]:
    """A `batch_config` that would fail only once pages were read (its schema checks `format`)."""
    if not (raw := config.get("batch_config")):
        return []
    where = set_at("batch_config", variables)
    # The SDK writes BATCH files from the records as read, never through the record path that
    # applies them; the SCHEMA would still say they were applied (a map dropping a field, too).
    if applied := [name for name in ("stream_maps", "flattening_enabled") if config.get(name)]:
        names = " and ".join(f"`{set_at(name, variables)}`" for name in applied)
        unapplied = "the SDK writes BATCH files without applying them. Use one or the other."
        return [f"`{where}` with {names} is not supported: {unapplied}"]
    try:
        batch = batch_config_from(raw)
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        needs = "`encoding` (`format`, `compression`) and `storage` (`root`)"
        return [f"`{where}` cannot be read ({type(error).__name__}): it needs {needs}"]
    # The SDK imports pyarrow only when it writes the first Parquet file, too late to refuse.
    if str(batch.encoding.format) == "parquet" and importlib.util.find_spec("pyarrow") is None:
        install = "install it where the tap runs (`pip install pyarrow`), or use format `jsonl`"
        return [
            f"`{where}`: format `parquet` needs the package `pyarrow` (not installed); {install}"
        ]
    scheme = fsspec.utils.get_protocol(str(batch.storage.root))  # `file` when it names none
    try:
        fsspec.get_filesystem_class(scheme)
    except ImportError as error:
        missing = printable(str(error), limit=120)
        return [f"`{where}`: storage root `{scheme}://` needs a package not installed ({missing})"]
    except ValueError:
        return [f"`{where}`: storage root `{scheme:.20}://` is no filesystem fsspec knows"]
    return []
