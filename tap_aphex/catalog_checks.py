"""A `--catalog` checked before the SDK reads it: each selected stream's schema walked once beside
the tap's own (a shape the SDK can read, every type and key the tap sends admitted), its keys and
replication. A problem is one line naming the file, the stream and the place, before any request."""

# ruff: noqa: UP013 (a catalog's keys have hyphens: the shapes are functional TypedDicts)
from __future__ import annotations

import json
import re
import typing as t
from collections.abc import Mapping

import msgspec
from singer_sdk.singerlib import MetadataMapping
from typing_extensions import Required

from tap_aphex.decoding import json_kind
from tap_aphex.inputs import shape_words
from tap_aphex.report import ConfigError

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.catalog import SelectionMask

#: The shapes the SDK reads of a catalog's entries. A selection must be a boolean: the SDK takes
#: any value as the answer (`selected`, else `selected-by-default`), so "false" would select.
#: Each entry is converted on its own, so that a problem names its stream, not its index.
_Object = dict[str, t.Any]
_Selection = t.TypedDict(
    "_Selection",
    {
        "selected": bool,
        "selected-by-default": bool,
        "replication-method": str | None,  # the SDK ignores it: `_keys_problem` refuses it
        "replication-key": str | None,  # `IncrementalOnly` refuses another key
    },
    total=False,
)
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
_Catalog = t.TypedDict("_Catalog", {"streams": list[_Object]}, total=False)
_Known = Mapping[str, Mapping[str, t.Any]]  # the tap's schemas, by stream
_Read = tuple[_Object, MetadataMapping, "SelectionMask"]  # an entry, its metadata as the SDK reads
_Ours = Mapping[str, t.Any] | None  # the tap's subschema beside a catalog's, where it sends one
_Crumb = tuple[str, ...]  # a property's breadcrumb, as the metadata selects it

TYPES = frozenset(("string", "number", "integer", "boolean", "object", "array", "null"))
_BRANCHES = ("allOf", "anyOf", "oneOf")


def check_catalog_shape(
    catalog: object,
    name: str,
    known: _Known,
    *,
    flattening: bool = False,
    enabled: t.Collection[str] | None = None,
) -> list[str]:
    """A catalog the SDK can read (with ``flattening`` too), else refused; a warning per stream
    not ``known`` (by schema)."""
    omitted: list[str] = []  # the first property a schema's listing leaves out: said last
    read: list[_Read] = []  # each entry whose schema's shape is sound
    try:
        streams = msgspec.convert(catalog, _Catalog).get("streams", [])
        problem = _streams_problem(streams, known, flattening, omitted, read)
    except msgspec.ValidationError as error:
        problem = shape_words(error)
    # Once every schema's shape is sound, each entry's keys: their words come before a left-out
    # property's.
    keys = (_keys_problem(*entry) for entry in read)
    problem = problem or next(filter(None, keys), "") or next(iter(omitted), "")
    if problem:
        msg = f"The catalog file {name} is not a catalog the tap can use: {problem}. Make one with "
        raise ConfigError(msg + "`tap-aphex --discover`.")
    warnings = [
        f"The catalog file {name} names a stream this tap does not have, `{stream:.60}`: it is "
        f"ignored (the tap's streams: {', '.join(known)})."
        for stream in (raw["tap_stream_id"] for raw, _, _ in read)
        if stream not in known
    ]
    selected = {raw["tap_stream_id"] for raw, _, mask in read if mask[()]} & set(known)
    if not selected:
        warnings.append(f"The catalog file {name} selects no stream: nothing is read.")
    elif enabled is not None and not selected & set(enabled):  # ``enabled``: by the config
        warnings.append(
            f"The catalog file {name} selects only streams the config does not enable "
            f"({', '.join(sorted(selected))}): nothing is read. `api_key` enables task_events, "
            "tasks and task_statuses; `projects`, the published-plans streams."
        )
    return warnings


def _streams_problem(
    streams: list[_Object], known: _Known, flattening: bool, omitted: list[str], read: list[_Read]
) -> str:
    """Each entry's shape, then its schema beside the tap's: the first problem, naming its
    stream; a property a schema's listing leaves out goes into ``omitted``, a sound entry into
    ``read``."""
    first: dict[str, int] = {}
    for index, raw in enumerate(streams):
        stream_id = raw.get("tap_stream_id")
        named = isinstance(stream_id, str) and stream_id.isprintable()  # no lone surrogate in it
        label = f"stream `{stream_id:.60}`" if named else f"`streams[{index}]`"
        try:
            entry = msgspec.convert(raw, _Stream)
        except msgspec.ValidationError as error:
            words = shape_words(error)  # "it ..." or "`place` ..."
            return label + words[2:] if words.startswith("it") else f"{label}'s {words}"
        if (earlier := first.setdefault(entry["tap_stream_id"], index)) != index:
            # The SDK keeps the last entry only: the first one's selection went unsaid.
            return (
                f"{label} is listed twice (`streams[{earlier}]` and `streams[{index}]`): keep one"
            )
        metadata = MetadataMapping.from_iterable(raw.get("metadata", []))
        selection = metadata.resolve_selection()
        ours = known.get(entry["tap_stream_id"]) if selection[()] else None
        try:  # a stream read has its schema written as SCHEMA, mid-run: as the SDK's writer does
            msgspec.json.encode(raw if ours is not None else None)
        except (UnicodeError, RecursionError):
            return f"{label} holds a value the tap cannot write back (a lone surrogate, too deep)"
        walk = _Walk(selection, flattening, omitted, label)
        if problem := _schema_problem(entry["schema"], ours, "schema", walk, ()):
            return f"{label}'s {problem}"
        read.append((raw, metadata, selection))
    return ""


class _Walk(t.NamedTuple):
    mask: SelectionMask
    flattening: bool
    omitted: list[str]  # properties of ours a listing leaves out: said after the keys' problems
    label: str  # the stream's, in those words


def _schema_problem(
    given: object, ours: _Ours, where: str, walk: _Walk, crumb: _Crumb
) -> str | None:
    """Where a catalog's schema ``given`` has a shape the SDK cannot read, or (beside ``ours``, the
    tap's, where selected) leaves out what the tap sends: the records carry the tap's types and
    keys whatever SCHEMA says, and a target that trusts SCHEMA (a column's type, a closed object)
    refuses or casts them mid-run. Only JSON types and keys are compared: value constraints (enum,
    const, pattern, format, maxLength, minimum, `not`, `required`) are out of scope. Under a
    deselected property, only that each subschema is an object: the SDK drops it unread."""
    if not isinstance(given, dict):  # `true`, `false`: the SDK reads every subschema as an object
        return f"`{where}` must be an object schema, not {json_kind(given)}"
    if problem := _unreadable(given, where, walk.mask[crumb], walk.flattening):
        return problem
    # Ours as the subschemas see it: its types (anything when it names none), its keys, and the
    # schema of the keys it keeps beyond those (the vendor's: an untyped object of ours, any).
    sends = _admitted(ours) if ours is not None else frozenset()
    objects = ours is not None and "object" in sends
    named = (ours.get("properties") or {}) if ours is not None and objects else {}
    default = ours is not None and "type" not in ours
    extra = ours.get("additionalProperties", default) if ours and objects else None
    extra = {} if extra is True else extra if isinstance(extra, Mapping) else None
    inner: list[tuple[object, _Ours, str, _Crumb]] = []
    properties, patterns = given.get("properties") or {}, given.get("patternProperties") or {}
    closed = given.get("additionalProperties")
    # Each key of ours (deselected: never sent), then (None) the vendor's further keys it keeps,
    # which may match any pattern, or none. As JSON Schema: each pattern a key matches applies
    # beside `properties`; where neither names it, `additionalProperties`.
    for key in [*dict.fromkeys([*properties, *named]), None]:
        path = crumb if key is None else (*crumb, "properties", key)
        theirs = extra if key is None else named.get(key, extra) if walk.mask[path] else None
        if key in properties:
            inner.append((properties[key], theirs, f"{where}.properties.{key:.60}", path))
        hits = [p for p in patterns if key is None or (theirs is not None and re.search(p, key))]
        for p in hits:
            inner.append((patterns[p], theirs, f"{where}.patternProperties.{p:.40}", path))
        if key in properties or (key is not None and (hits or theirs is None)):
            continue
        if closed is False and theirs is not None:
            what = f"the property `{key:.60}`" if key else "the keys the vendor sends beyond those"
            return (
                f"`{where}` has `additionalProperties: false`, which leaves out {what}, which the "
                "tap sends: drop that, or give the property back"
            )
        if isinstance(closed, dict):
            inner.append((closed, theirs, f"{where}.additionalProperties", crumb))
        elif key is not None and "properties" in given:  # the records carry it all the same
            walk.omitted.append(
                f"{walk.label}'s `{where}.properties` leaves out `{key:.60}`, which the tap "
                "sends (a target that makes columns from SCHEMA drops it): give it back as "
                "`--discover` writes it, or deselect it in the metadata"
            )
    if given.get("items") is not None:  # a null `items` the SDK passes over
        theirs = ours.get("items", {}) if ours is not None and "array" in sends else None
        inner.append((given["items"], theirs, f"{where}.items", crumb))
    for key in _BRANCHES:  # allOf: each branch must admit all of ours; anyOf: what it admits
        for index, branch in enumerate(branches := given.get(key) or []):
            theirs = ours
            # Its part of ours, the types it admits: so a branch admitting an object must admit
            # all our keys (stricter than "some branch admits each record", and one walk).
            if ours is not None and key != "allOf":
                kept = sends & _admitted(branch)
                theirs = {"additionalProperties": default, **ours, "type": sorted(kept)}
                theirs = theirs if kept else None
            inner.append((branch, theirs, f"{where}.{key}[{index}]", crumb))
        # oneOf: a value valid under two branches is invalid (a number admits an integer).
        twice = [n for n in sends if sum(n in _admitted(b) for b in branches) > 1]
        if key == "oneOf" and twice:
            return (
                f"`{where}.oneOf` has two branches admitting {' and '.join(sorted(twice))}, which "
                "the tap sends (a value must match exactly one): make it an `anyOf`"
            )
    for sub, theirs, place, path in inner:
        if problem := _schema_problem(sub, theirs, place, walk, path):
            return problem
    if missing := sends - _admitted(given):
        missing -= {"integer"} if "number" in missing else set()  # a number says both
        return (
            f"`{where}` leaves out {' and '.join(sorted(missing))}, which the tap sends: give its "
            "types as `--discover` writes them"
        )
    return None


def _unreadable(schema: _Object, where: str, live: bool, flattening: bool) -> str | None:
    """A keyword of this subschema (not within) the SDK cannot read, or reads as something else.
    Not ``live`` (deselected), only how it holds subschemas: the SDK makes an object of each."""
    for key in ("properties", "patternProperties", "additionalProperties"):
        kind = (bool, dict) if key == "additionalProperties" else dict
        if schema.get(key) is not None and not isinstance(schema[key], kind):
            return f"`{where}.{key}` must be an object, not {json_kind(schema[key])}"
    for key in (key for key in _BRANCHES if key in schema):
        if not isinstance(schema[key], list) or (live and not schema[key]):  # `[]`: admits nothing
            words = "an empty array" if schema[key] == [] else json_kind(schema[key])
            return f"`{where}.{key}` must be an array of at least one schema, not {words}"
    if not live:
        return None
    if "$ref" in schema:
        return f"`{where}` has a `$ref`, which the SDK does not follow: write out what it names"
    types = schema.get("type", "string")
    names = [types] if isinstance(types, str) else types if isinstance(types, list) else [None]
    if not names or not all(name in TYPES for name in names):
        words = json.dumps(types)[:40] if isinstance(types, (str, list)) else json_kind(types)
        return f"`{where}.type` must be a JSON type's name or an array of them, not {words}"
    for pattern in schema.get("patternProperties") or {}:
        try:
            re.compile(pattern)
        except re.error:
            return f"`{where}.patternProperties` has `{pattern:.40}`: no regular expression"
    # With `flattening_enabled`, the SDK types a subschema without a `type` by its first keyword's
    # value (a first branch's type: a column of that type only, or none; `enum`: a crash).
    if flattening and schema and "type" not in schema:
        return f"`{where}` has no `type` of its own, which flattening reads: give it one"
    return None


def _admitted(schema: Mapping[str, t.Any]) -> frozenset[str]:
    """The JSON types a subschema admits: its `type` (a number admits an integer), each allOf's,
    and of anyOf and oneOf any branch's; everything when it says none."""
    if not isinstance(schema, Mapping):
        return TYPES  # not a schema the SDK reads: the walk refuses it on its own
    types = schema.get("type", list(TYPES))
    names = [types] if isinstance(types, str) else types if isinstance(types, list) else []
    admitted = TYPES.intersection(name for name in names if isinstance(name, str))
    admitted |= {"integer"} if "number" in admitted else set()
    for key in _BRANCHES:
        branches = schema.get(key)
        if each := [_admitted(b) for b in branches] if isinstance(branches, list) else []:
            admitted &= each[0].intersection(*each) if key == "allOf" else set().union(*each)
    return admitted


def _keys_problem(raw: _Object, metadata: MetadataMapping, selection: SelectionMask) -> str | None:
    """What in a stream's entry would end its run after records went out, or misname them: a key
    (or the replication key) its schema lacks or its metadata deselects; another `stream` name;
    a replication method in its metadata (the SDK drops it as it reads the catalog, and would
    pass over it). Replication keys, and the methods the SDK reads, `IncrementalOnly`
    refuses, knowing each stream's own."""
    stream, named = f"stream `{raw['tap_stream_id']:.60}`", raw.get("stream")
    if named not in (None, raw["tap_stream_id"]):
        return f"{stream} has `stream` {named[:60]!r}: leave it out, or the same name"
    if not selection[()]:  # the SDK's own rule, `inclusion` first
        return None  # a stream left out is not read, whatever its entry says (`IncrementalOnly`)
    # The SDK takes the keys from the metadata, but names them in SCHEMA from the entry.
    root, given = metadata.root, list(raw.get("key_properties") or [])
    if root.table_key_properties is not None and list(root.table_key_properties) != given:
        return (
            f"{stream}'s `key_properties` {json.dumps(given)[:80]} differ from its metadata's "
            f"`table-key-properties` {json.dumps(list(root.table_key_properties))[:80]}: give "
            "both the same keys"
        )
    # The stream's (last) root entry, as the SDK reads the metadata.
    crumbs = [m.get("metadata", {}) for m in raw.get("metadata", []) if m["breadcrumb"] == []]
    if (method := [{}, *crumbs][-1].get("replication-method")) not in (None, "INCREMENTAL"):
        return (
            f"{stream}'s metadata asks for `replication-method` {method[:20]!r}: every stream is "
            "read 'INCREMENTAL' on its own key; drop it (or Meltano's `metadata` for it)"
        )
    properties, replication = raw["schema"].get("properties") or {}, raw.get("replication_key")
    for key in dict.fromkeys([*given, *filter(None, [replication, root.replication_key])]):
        if key not in properties:
            return f"{stream}'s key `{key:.60}` is not in its `schema`"
        if not selection[("properties", key)]:
            return f"{stream}'s key `{key:.60}` is deselected: its records would have none"
    for key in filter(None, [replication, root.replication_key]):  # the SDK types it
        if not _typed(properties[key]):
            return (
                f"{stream}'s replication key `{key:.60}` has no `type` in its `schema` (or in a "
                "branch), which the SDK reads: give its type as `--discover` writes it"
            )
    return None


def _typed(schema: Mapping[str, t.Any]) -> bool:
    """A `type`, branch by branch: the SDK's reading of a replication key (else a ValueError)."""
    branches = [b for key in _BRANCHES for b in schema.get(key) or [] if isinstance(b, dict)]
    return all(_typed(b) for b in branches) if branches else "type" in schema
