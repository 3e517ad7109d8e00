"""A catalog read for what it selects: streams and properties. The SDK writes a catalog's `schema`
as SCHEMA, while the records carry the tap's own types and keys: so it is handed the tap's own
catalog with the given one's selections copied on, by stream and breadcrumb; a stream is read
incrementally on its own key only (no other method or key keeps a place to resume)."""

# ruff: noqa: UP013 (a catalog's keys have hyphens: the shapes are functional TypedDicts)
from __future__ import annotations

import typing as t

import msgspec
from singer_sdk.singerlib import Catalog, CatalogEntry, MetadataMapping, Schema
from typing_extensions import NotRequired

from tap_aphex.inputs import shape_words
from tap_aphex.report import ConfigError

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.catalog import SelectionMask


class _Stream(t.Protocol):  # a stream class: what `--discover` writes of it
    name: str
    schema: dict[str, t.Any]
    primary_keys: list[str]
    replication_key: str


#: The shape of what the tap reads of an entry: its selections. A selection must be a boolean:
#: the SDK takes any value as the answer, so "false" would select.
_Selection = t.TypedDict("_Selection", {"selected": bool, "selected-by-default": bool}, total=False)
_Crumb = t.TypedDict("_Crumb", {"breadcrumb": list[str], "metadata": NotRequired[_Selection]})
_Entry = t.TypedDict("_Entry", {"tap_stream_id": str, "metadata": NotRequired[list[_Crumb]]})
_Catalog = t.TypedDict("_Catalog", {"streams": list[dict[str, t.Any]]}, total=False)
_SELECTIONS = {"selected", "selected-by-default"}


def selected_catalog(
    catalog: object, name: str, streams: t.Iterable[_Stream], enabled: t.Collection[str]
) -> tuple[dict[str, t.Any], list[str]]:
    """The tap's own entries of the streams ``catalog`` lists, with its selections; and the
    warnings (``name``: "The catalog file x.json", or "The catalog"; ``enabled``: the streams the
    config enables)."""
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
        for crumb in given.keys() & ours.metadata.keys():
            ours.metadata[crumb].selected = given[crumb].get("selected")
            ours.metadata[crumb].selected_by_default = given[crumb].get("selected-by-default")
        # The stream as the SDK selects it by the file's metadata (none for the stream: selected).
        root = given.get((), {})
        ours.metadata.root.selected = root.get(
            "selected", root.get("selected-by-default", () not in given)
        )
        if not ours.metadata.root.selected:
            continue  # a stream left out is not read, whatever its entry says
        _check_replication(stream_id, {**root, **entry}, stream.replication_key, name)
        said = f"{name} gives stream `{stream_id}`"
        unknown = [c for c in given if c not in ours.metadata and given[c].keys() & _SELECTIONS]
        if unknown:  # a property the tap does not have: its selection applies to nothing
            words = ", ".join(".".join(crumb[1::2]) for crumb in unknown[:5])
            warnings.append(f"{said} selections of properties it does not have, ignored: {words}.")
        mask = ours.metadata.resolve_selection()
        keys = (entry.get("key_properties"), root.get("table-key-properties"))
        if any(k not in (None, ours.key_properties) for k in keys) or (
            "schema" in entry
            and _pruned(entry["schema"], mask) != _pruned(ours.schema.to_dict(), mask)
        ):
            warnings.append(
                f"{said} another schema or keys than its own: the tap writes its own (a catalog "
                "selects streams and properties only: deselect a property in the metadata rather "
                "than removing it from the schema)."
            )
    if not (chosen := {s for s, entry in result.items() if entry.metadata.root.selected}):
        warnings.append(f"{name} selects no stream: nothing is read.")
    elif not chosen & set(enabled):
        warnings.append(
            f"{name} selects only streams the config does not enable "
            f"({', '.join(sorted(chosen))}): nothing is read. `api_key` enables task_events, "
            "tasks and task_statuses; `projects`, the published-plans streams."
        )
    return result.to_dict(), warnings


def _entries(catalog: object, name: str) -> list[dict[str, t.Any]]:
    """The entries, each of the shape the tap reads (converted on its own, to name its stream)."""
    try:
        streams, problem = msgspec.convert(catalog, _Catalog).get("streams", []), ""
    except msgspec.ValidationError as error:
        streams, problem = [], shape_words(error)
    ids = [entry.get("tap_stream_id") for entry in streams]
    for index, stream_id in enumerate(ids):
        named = isinstance(stream_id, str) and stream_id.isprintable()  # no lone surrogate in it
        label = f"stream `{stream_id:.60}`" if named else f"`streams[{index}]`"
        try:
            msgspec.convert(streams[index], _Entry)
        except msgspec.ValidationError as error:
            words = shape_words(error)  # "it ..." or "`place` ..."
            problem = label + words[2:] if words.startswith("it") else f"{label}'s {words}"
            break
        if stream_id in ids[:index]:  # the SDK keeps the last entry only: the first one unsaid
            earlier = f"`streams[{ids.index(stream_id)}]`"
            problem = f"{label} is listed twice ({earlier} and `streams[{index}]`)"
            break
    if problem:
        msg = f"{name} is not a catalog the tap can use: {problem}. Make one "
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


def _check_replication(stream: str, asked: dict[str, t.Any], own_key: str, name: str) -> None:
    """Refused: a method or key in the entry or metadata ``asked`` but the stream's own."""
    methods = ("replication_method", "forced-replication-method", "replication-method")
    method = next((m for m in map(asked.get, methods) if m not in (None, "INCREMENTAL")), None)
    keys = (asked.get("replication_key"), asked.get("replication-key"))
    key = next((key for key in keys if key not in (None, own_key)), own_key)
    if method or key != own_key:
        raise ConfigError(
            f"{name} asks for {stream} by {str(method or 'INCREMENTAL')[:20]!r} "
            f"on {key!s:.40}: tap-aphex reads it by 'INCREMENTAL' on {own_key} only. Drop that "
            "stream's replication method and key from the catalog (its entry, its metadata, or "
            "Meltano's `metadata` for it), or make the catalog with `--discover`."
        )


def _pruned(schema: object, mask: SelectionMask, crumb: tuple[str, ...] = ()) -> object:
    """``schema`` without the properties ``mask`` deselects, as the SDK writes it as SCHEMA."""
    if not isinstance(schema, dict) or not isinstance(properties := schema.get("properties"), dict):
        return schema
    crumbs = {key: (*crumb, "properties", key) for key in properties}
    kept = {key: _pruned(properties[key], mask, crumbs[key]) for key in crumbs if mask[crumbs[key]]}
    return {**schema, "properties": kept}
