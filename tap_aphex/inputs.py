"""What a run is given (config, state, catalog files or `TAP_APHEX_*` variables), checked before
the SDK reads it (a catalog's entries: `catalog_checks`): a problem is one line naming where and
what, never a value nor a traceback."""

from __future__ import annotations

import importlib.util
import json
import re
import typing as t
from collections.abc import Collection, Mapping
from pathlib import Path

import fsspec  # type: ignore[import-untyped]  # the SDK's BATCH storage (loaded already)
import msgspec
from singer_sdk.singerlib import StateMessage

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


#: The shape the SDK reads of a state (a catalog's: `catalog_checks`).
_Object = dict[str, t.Any]
_Bookmark = t.TypedDict(  # noqa: UP013 (one style with catalog_checks' shapes)
    "_Bookmark",
    {"context": _Object, "progress_markers": _Object, "partitions": list["_Bookmark"]},
    total=False,
)


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
