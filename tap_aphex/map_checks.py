"""A config's stream maps, judged before any request by what the SDK would do with them: a map
must name a stream, its special keys must be ones the SDK can use (else it fails later, in its own
words, or takes them without a word), `fake` needs `faker`; and what the mapper makes of the
selected streams (`map_outputs`) must keep a stream and send no two to one table."""

from __future__ import annotations

import ast
import difflib
import fnmatch
import importlib.util
import re
import typing as t
from collections.abc import Collection, Mapping

from tap_aphex.catalog_checks import StreamClass
from tap_aphex.decoding import described, listed
from tap_aphex.sdk_seam import map_schemas
from tap_aphex.settings import set_at

if t.TYPE_CHECKING:
    from singer_sdk import Tap


def stream_map_problems(
    config: Mapping[str, t.Any], variables: Mapping[str, str], streams: Collection[StreamClass]
) -> list[str]:
    """What the SDK would take without a word, or refuse in its own, from the stream maps: a map
    whose source (its key, or its `__source__`) matches none of ``streams`` (its hash or removal
    silently does not happen), a special key it cannot use, and `fake` without `faker`.
    `__else__` is the SDK's "every other stream"."""
    problems = _faker_problems(config, variables)
    names = [stream.name for stream in streams]
    for key, value in (config.get("stream_maps") or {}).items():
        source = value.get("__source__", key) if isinstance(value, Mapping) else key
        if not isinstance(source, str):  # null (the schema allows it): the SDK would blame a map
            where = set_at(f"stream_maps.{key}.__source__", variables)
            problems.append(f"`{where}` must be a stream's name, not {described(source)}")
        elif key != "__else__" and not fnmatch.filter(names, source):
            where = set_at(f"stream_maps.{key}", variables)
            named = f"`{where}`" + (f"'s `__source__` `{source:.60}`" if source != key else "")
            close = difflib.get_close_matches(source, names, n=1)
            guess = f" (did you mean `{close[0]}`?)" if close else ""
            problems.append(
                f"{named} names no stream of the tap{guess}: its map would apply to nothing; the "
                f"streams are {', '.join(names)}"
            )
        elif isinstance(value, Mapping) and (
            problem := _special_key_problem(value, source, streams)
        ):
            problems.append(f"`{set_at(f'stream_maps.{key}', variables)}{problem}")
    return problems


def _special_key_problem(
    stream_map: Mapping[str, t.Any], source: str, streams: Collection[StreamClass]
) -> str | None:
    """Why the SDK cannot use a map's `__alias__`, `__filter__` or keys, after its name (the SDK:
    `AttributeError`, an empty message, "Invalid key properties")."""
    alias, rule = stream_map.get("__alias__", "-"), stream_map.get("__filter__")
    if "__alias__" in stream_map and "__source__" in stream_map:  # the SDK's rule: the key names
        return (
            ".__alias__` beside `__source__` would be a field of the records, not a name (the "
            "map's key is the name a `__source__` map sends): keep one of the two"
        )
    if not (alias or "").strip():  # null, or blank (the SDK evaluates it: an empty message)
        return f".__alias__` is {described(alias)}: give the name to send the stream as"
    if isinstance(rule, str) and not rule.strip():
        return ".__filter__` is blank: remove it to keep every record, or give an expression"
    for stream in (stream for stream in streams if fnmatch.fnmatch(stream.name, source)):
        # The SDK's reading: `__else__` (null or "__NULL__") keeps only the fields listed.
        fields = set() if "__else__" in stream_map else set(stream.schema["properties"])
        for name, expression in stream_map.items():
            if name in _SPECIAL_KEYS:
                continue
            if expression in (None, "__NULL__"):  # the SDK's ways to drop a field
                fields.discard(name)
            else:
                fields.add(name)
        given = "__key_properties__" in stream_map
        keys = stream_map["__key_properties__"] if given else stream.primary_keys
        if missing := [key for key in keys or () if key not in fields]:
            named = listed([f"`{key:.40}`" for key in missing])
            if given:
                return (
                    f".__key_properties__` names {named}, which {stream.name} would not have "
                    "after this map: name fields the map sends, or give [] for none"
                )
            how, kept = "`__else__`" if "__else__" in stream_map else "null", missing[0]
            return (
                f'` drops the key {named} of {stream.name} (by {how}): keep it (`"{kept}": '
                f'"{kept}"`), or give `__key_properties__` the fields that key the records'
            )
    return None


#: The keys the SDK takes out of a map before the rest are its fields (`__alias__` only without
#: `__source__`: refused above).
_SPECIAL_KEYS = ("__source__", "__alias__", "__filter__", "__else__", "__key_properties__")


def _faker_problems(config: Mapping[str, t.Any], variables: Mapping[str, str]) -> list[str]:
    """`fake` in a map's expression without the `faker` package: the SDK then leaves `fake`
    undefined, and the expression fails at the first record, after requests (a `faker_config`
    alone does nothing without it: the SDK makes no Faker)."""
    if importlib.util.find_spec("faker") is not None:
        return []
    users = []
    for key, stream_map in (config.get("stream_maps") or {}).items():
        for name, expression in (stream_map if isinstance(stream_map, Mapping) else {}).items():
            if name not in ("__alias__", "__source__") and _uses_fake(expression):
                users.append(f"stream_maps.{key}.{name}")
    return [
        f"`{set_at(where, variables)}` needs the package `faker` (for `fake`), not installed; "
        "install it where the tap runs (`pip install faker`)"
        for where in users
    ]


def _uses_fake(expression: object) -> bool:
    """Whether a map's expression reads the name `fake` (one that does not parse: the SDK's)."""
    try:
        tree = ast.parse(expression if isinstance(expression, str) else "")
    except SyntaxError:
        return False
    return any(isinstance(node, ast.Name) and node.id == "fake" for node in ast.walk(tree))


def map_outputs(tap: Tap) -> dict[str, list[str]]:
    """Each selected stream's names as its maps write it (none: every record removed)."""
    return {name: [sent.stream for sent in schemas] for name, schemas in map_schemas(tap).items()}


def map_output_problems(
    outputs: Mapping[str, list[str]], variables: Mapping[str, str]
) -> list[str]:
    """What the stream maps make of the selected streams (`map_outputs`), refused when
    it loses silently: every stream removed (each read for nothing, its bookmarks moved), or the
    rows of two streams, or two copies of one, sent to one table (upserted on the wrong keys)."""
    maps = f"`{set_at('stream_maps', variables)}`"
    if outputs and not any(outputs.values()):
        return [
            f"{maps} remove every selected stream ({', '.join(outputs)}): nothing would be sent, "
            "while the streams would be read and their bookmarks moved. Deselect the streams you "
            "do not want instead."
        ]
    # By the name a SQL target makes a table of (the SDK's `conform_name`: `Tasks ` is `tasks`).
    tables: dict[str, list[tuple[str, str]]] = {}  # a list: two copies under one name are two
    for stream, names in outputs.items():
        # `__alias__` is an expression (the SDK keeps the text of one naming nothing it knows).
        if odd := [name for name in names if not isinstance(name, str) or not name.strip()]:
            return [
                f"{maps} would send {stream} as {described(odd[0])}: an `__alias__` is read as an "
                "expression; quote a name that reads as a number or None (`\"'5'\"`)"
            ]
        for name in names:
            folded = re.sub(r"[\s-]+", "_", name.strip()).lower()
            tables.setdefault(folded, []).append((stream, name))
    problems = []
    for sent in tables.values():
        streams = list(dict.fromkeys(stream for stream, _ in sent))
        names = list(dict.fromkeys(f"`{name}`" for _, name in sent))
        if len(sent) > 1:
            problems.append(
                f"{maps} send {listed(streams)} to one table as {listed(names, 'or')}: their rows "
                "would mix (their keys and fields may differ); give each its own name"
            )
    return problems
