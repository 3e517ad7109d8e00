"""A catalog read for what it selects: streams and properties. The SDK writes a catalog's `schema`
as SCHEMA, while the records carry the tap's own types and keys: so it is handed the tap's own
catalog with the given one's selections copied on, by stream and breadcrumb; a stream is read
incrementally on its own key only (no other method or key keeps a place to resume). Stream maps,
the other way to choose what goes out, are checked here to name a stream."""

# ruff: noqa: UP013 (a catalog's keys have hyphens: the shapes are functional TypedDicts)
from __future__ import annotations

import ast
import difflib
import fnmatch
import importlib.util
import json
import re
import typing as t
from collections.abc import Collection, Mapping
from pathlib import Path, PurePath

import msgspec
from singer_sdk.singerlib import Catalog, CatalogEntry, MetadataMapping, Schema
from typing_extensions import NotRequired

from tap_aphex.decoding import described, first_few, listed, readable
from tap_aphex.inputs import read_json_object, shape_words
from tap_aphex.report import ConfigError
from tap_aphex.settings import set_at

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.catalog import SelectionMask


class _Stream(t.Protocol):  # a stream class: what `--discover` writes of it
    name: str
    schema: dict[str, t.Any]
    primary_keys: list[str]
    replication_key: str


#: The shape of what the tap reads of an entry: selections and replication. A selection must be a
#: boolean (the SDK takes any value as the answer: "false" would select); a replication method or
#: key a string or null (the SDK took `false` as none, a list as a name).
_Text = str | None
_Metadata = t.TypedDict(
    "_Metadata",
    {
        "selected": bool,
        "selected-by-default": bool,
        "replication-method": _Text,
        "forced-replication-method": _Text,
        "replication-key": _Text,
    },
    total=False,
)
_Crumb = t.TypedDict("_Crumb", {"breadcrumb": list[str], "metadata": NotRequired[_Metadata]})
_Entry = t.TypedDict(
    "_Entry",
    {
        "tap_stream_id": str,
        "metadata": NotRequired[list[_Crumb]],
        "replication_method": NotRequired[_Text],
        "replication_key": NotRequired[_Text],
    },
)
_Catalog = t.TypedDict("_Catalog", {"streams": list[dict[str, t.Any]]}, total=False)
_SELECTIONS = {"selected", "selected-by-default"}


def selected_catalog(
    catalog: object, file_name: str | None, streams: t.Iterable[_Stream], enabled: t.Collection[str]
) -> tuple[dict[str, t.Any], list[str]]:
    """The tap's own entries of the streams ``catalog`` lists, with its selections; and the
    warnings (``file_name``: the `--catalog` file's; ``enabled``: the streams the config enables).
    ``catalog`` is any the SDK takes: a mapping, a `Catalog`, a file's path."""
    if isinstance(catalog, (str, PurePath)):  # a file, as the SDK reads one
        file_name, catalog = str(catalog), read_json_object(Path(catalog), "catalog")
    elif isinstance(catalog, Catalog):  # the SDK's own: selections as its file would hold them
        catalog = catalog.to_dict()
    name = f"The catalog file {file_name}" if file_name else "The catalog"
    own, result, warnings = {stream.name: stream for stream in streams}, Catalog(), []
    for entry in _entries(catalog, name):
        if (stream := own.get(stream_id := entry["tap_stream_id"])) is None:
            warnings.append(
                f"{name} names a stream this tap does not have, "
                f"`{stream_id:.60}`: it is ignored (the tap's streams: {', '.join(own)})."
            )
            continue
        result[stream_id] = ours = _own_entry(stream)
        given = {tuple(m["breadcrumb"]): m.get("metadata", {}) for m in entry.get("metadata", [])}
        for crumb in given.keys() & ours.metadata.keys():  # every property, at any depth
            ours.metadata[crumb].selected = given[crumb].get("selected")
            ours.metadata[crumb].selected_by_default = given[crumb].get("selected-by-default")
        mask = ours.metadata.resolve_selection()  # the SDK's (no stream metadata: selected)
        if not mask[()]:
            continue  # a stream left out is not read, whatever its entry says
        asked = {**given.get((), {}), **entry}  # the stream's metadata and entry, as one place
        _check_replication(stream_id, asked, stream.replication_key, name)
        # Selections of what the tap's metadata does not list apply to nothing: grouped by what
        # they name (`_unlisted`), each by its whole breadcrumb, as JSON.
        ignored: dict[str, list[str]] = {}
        for crumb, metadata in given.items():
            if crumb not in ours.metadata and metadata.keys() & _SELECTIONS:
                shown = readable(json.dumps(crumb), 100)
                ignored.setdefault(_unlisted(stream.schema, crumb), []).append(shown)
        said = [
            f"selections of properties {what}, ignored: {first_few(crumbs)}"
            for what, crumbs in ignored.items()
        ]
        said += _differences(asked, ours, mask)
        if said:  # one line a stream, whatever it differs in
            warnings.append(f"{name} gives stream `{stream_id}` {'; '.join(said)}.")
    chosen = sorted(s for s, entry in result.items() if entry.metadata.resolve_selection()[()])
    unread = [s for s in chosen if s not in enabled]
    if not chosen:
        warnings.append(f"{name} selects no stream: nothing is read.")
    elif unread:  # each named, whatever else is read
        only, read = ("only ", "nothing is") if unread == chosen else ("", "they are not")
        warnings.append(
            f"{name} selects {only}streams the config does not enable ({', '.join(unread)}): "
            f"{read} read. `api_key` enables task_events, tasks and task_statuses; `projects`, "
            "the published-plans streams."
        )
    return result.to_dict(), warnings


def _entries(catalog: object, name: str) -> list[dict[str, t.Any]]:
    """The entries, each of the shape the tap reads (converted on its own, to name its stream);
    a stream or breadcrumb listed twice is refused (the SDK kept the last, the first unsaid)."""
    try:
        streams, problem = msgspec.convert(catalog, _Catalog).get("streams", []), ""
    except msgspec.ValidationError as error:
        streams, problem = [], shape_words(error)
    ids = [entry.get("tap_stream_id") for entry in streams]
    for index, stream_id in enumerate(ids):
        named = isinstance(stream_id, str) and stream_id.isprintable()  # no lone surrogate in it
        label = f"stream `{stream_id:.60}`" if named else f"`streams[{index}]`"
        try:
            entry = msgspec.convert(streams[index], _Entry)
        except msgspec.ValidationError as error:
            words = shape_words(error)  # "it ..." or "`place` ..."
            problem = label + words[2:] if words.startswith("it") else f"{label}'s {words}"
            break
        if stream_id in ids[:index]:
            earlier = f"`streams[{ids.index(stream_id)}]`"
            problem = f"{label} is listed twice ({earlier} and `streams[{index}]`)"
            break
        crumbs = [metadata["breadcrumb"] for metadata in entry.get("metadata", [])]
        if twice := next((at for at, crumb in enumerate(crumbs) if crumb in crumbs[:at]), None):
            places = f"`metadata[{crumbs.index(crumbs[twice])}]` and `metadata[{twice}]`"
            shown = readable(json.dumps(crumbs[twice]), 60)
            problem = f"{label} lists breadcrumb {shown} twice ({places})"
            break
    if problem:
        subject = (
            "The catalog given is not one" if name == "The catalog" else f"{name} is not a catalog"
        )
        msg = f"{subject} the tap can use: {problem}. Make one "
        raise ConfigError(msg + "with `tap-aphex --discover`.")
    return streams


def _own_entry(stream: _Stream) -> CatalogEntry:
    """``stream``'s entry as `--discover` writes it."""
    keys, key, schema = stream.primary_keys, stream.replication_key, stream.schema
    metadata = MetadataMapping.get_standard_metadata(
        schema=schema, key_properties=keys, valid_replication_keys=[key], selected_by_default=True
    )
    entry = CatalogEntry(stream.name, metadata, Schema.from_dict(schema), stream.name, keys, key)
    entry.replication_method = "INCREMENTAL"
    return entry


def _unlisted(schema: object, crumb: tuple[str, ...]) -> str:
    """What ``crumb``, which the tap's metadata does not list, names of ``schema``, in words."""
    for step in crumb:  # as written: the metadata lists every property reached by names alone
        schema = schema.get(step) if isinstance(schema, dict) else None
    if schema is not None and "items" in crumb and crumb[-2:-1] == ("properties",):
        return "in an array's items (the SDK writes each item whole)"
    return "it does not have"


def _check_replication(stream: str, asked: dict[str, t.Any], own_key: str, name: str) -> None:
    """Refused: a method or key in the entry or metadata ``asked`` but the stream's own (an empty
    one too: the SDK took it as none)."""
    methods = ("replication_method", "forced-replication-method", "replication-method")
    asked_for = (m for m in map(asked.get, methods) if m not in (None, "INCREMENTAL"))
    method = next(asked_for, "INCREMENTAL")
    keys = (asked.get("replication_key"), asked.get("replication-key"))
    key = next((key for key in keys if key not in (None, own_key)), own_key)
    if (method, key) != ("INCREMENTAL", own_key):
        raise ConfigError(
            f"{name} asks for {stream} by {described(method, 40)} on {described(key, 40)}: "
            f'tap-aphex reads it by "INCREMENTAL" on "{own_key}" only. Drop that stream\'s '
            "replication method and key from the catalog (its entry, its metadata, or Meltano's "
            "`metadata` for it), or make the catalog with `--discover`."
        )


def _differences(asked: dict[str, t.Any], ours: CatalogEntry, mask: SelectionMask) -> list[str]:
    """Where the keys and schema ``asked`` (pruned by ``mask``, as the SDK writes it) differ."""
    keys = [
        f"`{place}` {described(asked[place], 40)}, not {json.dumps(ours.key_properties)}"
        for place in ("key_properties", "table-key-properties")
        if asked.get(place) not in (None, ours.key_properties)
    ]
    given, mine = _pruned(asked.get("schema"), mask), _pruned(ours.schema.to_dict(), mask)
    schema = [] if "schema" not in asked or given == mine else [_schema_said(given, mine)]
    if not keys and not schema:
        return []
    kinds = listed(["a schema"][: len(schema)] + ["keys"][: len(keys)])
    return [
        f"{kinds} other than its own ({'; '.join(keys + schema)}): the tap writes its own (a "
        "catalog selects streams and properties only: deselect a property in the metadata "
        "rather than removing it from the schema)"
    ]


def _schema_said(given: object, mine: object) -> str:
    """Where a schema differs from the tap's own: its properties by name, other keywords quoted."""
    if not isinstance(given, dict) or not isinstance(mine, dict):
        return f"`schema` {described(given, 40)}, not an object"
    if not isinstance(theirs := given.get("properties"), dict):
        return f"`schema`'s `properties` {described(theirs, 40)}, not an object"
    words = [f"`{k}`" for k in _differing(given, mine) if k != "properties"]
    return f"`schema` differing at {first_few(words + _differing(theirs, mine['properties']))}"


def _differing(given: dict[str, t.Any], own: dict[str, t.Any]) -> list[str]:
    """The keys whose values differ, cut, a control character or lone surrogate escaped."""
    keys = [key for key in {**own, **given} if given.get(key) != own.get(key)]
    return [readable(k if k.isprintable() else json.dumps(k)[1:-1], 40) for k in keys]


def _pruned(schema: object, mask: SelectionMask, crumb: tuple[str, ...] = ()) -> object:
    """``schema`` without the properties ``mask`` deselects, as the SDK writes it as SCHEMA."""
    if not isinstance(schema, dict) or not isinstance(properties := schema.get("properties"), dict):
        return schema
    crumbs = {key: (*crumb, "properties", key) for key in properties}
    kept = {key: _pruned(properties[key], mask, crumbs[key]) for key in crumbs if mask[crumbs[key]]}
    return {**schema, "properties": kept}


def stream_map_problems(
    config: Mapping[str, t.Any], variables: Mapping[str, str], streams: Collection[str]
) -> list[str]:
    """What the SDK would take without a word, or refuse in its own, from the stream maps: a map
    whose source (its key, or its `__source__`) matches none of ``streams`` (its hash or removal
    silently does not happen), a special key it cannot use, and `fake` without `faker`.
    `__else__` is the SDK's "every other stream"."""
    problems = _faker_problems(config, variables)
    for key, value in (config.get("stream_maps") or {}).items():
        source = value.get("__source__", key) if isinstance(value, Mapping) else key
        if not isinstance(source, str):  # null (the schema allows it): the SDK would blame a map
            where = set_at(f"stream_maps.{key}.__source__", variables)
            problems.append(f"`{where}` must be a stream's name, not {described(source)}")
        elif key != "__else__" and not any(fnmatch.fnmatch(stream, source) for stream in streams):
            where = set_at(f"stream_maps.{key}", variables)
            named = f"`{where}`" + (f"'s `__source__` `{source:.60}`" if source != key else "")
            close = difflib.get_close_matches(source, streams, n=1)
            guess = f" (did you mean `{close[0]}`?)" if close else ""
            problems.append(
                f"{named} names no stream of the tap{guess}: its map would apply to nothing; the "
                f"streams are {', '.join(streams)}"
            )
        elif isinstance(value, Mapping) and (problem := _special_key_problem(value, source)):
            problems.append(f"`{set_at(f'stream_maps.{key}', variables)}{problem}")
    return problems


def _special_key_problem(stream_map: Mapping[str, t.Any], source: str) -> str | None:
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
    from tap_aphex.tap import LOG_STREAMS, PLANS_STREAMS  # here: `tap` imports this module

    for stream in (s for s in (*LOG_STREAMS, *PLANS_STREAMS) if fnmatch.fnmatch(s.name, source)):
        # The SDK's reading: `__else__` (null or "__NULL__") keeps only the fields listed.
        fields = set() if "__else__" in stream_map else set(stream.schema["properties"])
        for name, expression in stream_map.items():
            if name not in _SPECIAL_KEYS:
                (fields.discard if expression in (None, "__NULL__") else fields.add)(name)
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
    """`fake` in a map's expression, or `faker_config`, without the `faker` package: the SDK then
    leaves `fake` undefined, and the expression fails at the first record, after requests."""
    if importlib.util.find_spec("faker") is not None:
        return []
    users = ["faker_config"] if config.get("faker_config") is not None else []
    for key, stream_map in (config.get("stream_maps") or {}).items():
        for name, expression in (stream_map if isinstance(stream_map, Mapping) else {}).items():
            if name not in ("__alias__", "__source__") and _uses_fake(expression):
                users.append(f"stream_maps.{key}.{name}")
    install = "install it where the tap runs (`pip install faker`)"
    return [
        f"`{set_at(where, variables)}` needs the package `faker` (for `fake`), not installed; "
        f"{install}" + (", or remove it" if where == "faker_config" else "")
        for where in users
    ]


def _uses_fake(expression: object) -> bool:
    """Whether a map's expression reads the name `fake` (one that does not parse: the SDK's)."""
    try:
        tree = ast.parse(expression if isinstance(expression, str) else "")
    except SyntaxError:
        return False
    return any(isinstance(node, ast.Name) and node.id == "fake" for node in ast.walk(tree))


def map_output_problems(
    outputs: Mapping[str, list[str]], variables: Mapping[str, str]
) -> list[str]:
    """What the stream maps make of the selected streams (`sdk_seam.map_outputs`), refused when
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
