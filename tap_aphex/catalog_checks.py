"""A catalog read for what it selects: streams and properties. The SDK writes a catalog's `schema`
as SCHEMA, while the records carry the tap's own types and keys: so it is handed the tap's own
catalog with the given one's selections copied on, by stream and breadcrumb; a stream is read
incrementally on its own key only (no other method or key keeps a place to resume). Stream maps,
the other way to choose what goes out: `map_checks`."""

# ruff: noqa: UP013 (a catalog's keys have hyphens: the shapes are functional TypedDicts)
from __future__ import annotations

import json
import typing as t
from pathlib import Path, PurePath

import msgspec
from singer_sdk.singerlib import Catalog, CatalogEntry, MetadataMapping, Schema
from typing_extensions import NotRequired

from tap_aphex.decoding import described, first_few, listed, readable
from tap_aphex.inputs import read_json_object, shape_words
from tap_aphex.report import ConfigError

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.catalog import SelectionMask


class StreamClass(t.Protocol):  # a stream class: what `--discover` writes of it
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
    catalog: object,
    file_name: str | None,
    streams: t.Iterable[StreamClass],
    enabled: t.Collection[str],
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


def _own_entry(stream: StreamClass) -> CatalogEntry:
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
