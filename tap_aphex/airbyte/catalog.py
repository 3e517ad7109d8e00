"""What Airbyte is told about the source (spec, discover) and how its configured catalog selects.

All of it is derived from the tap: the settings schema `--about` shows, and the tap's own streams.
"""

from __future__ import annotations

import copy
import typing as t

from tap_aphex.report import AphexError
from tap_aphex.settings import CONFIG_SCHEMA

if t.TYPE_CHECKING:
    from tap_aphex.tap import TapAphex

DOCUMENTATION_URL = "https://aphex.co"

#: Airbyte destinations deduplicate a primary key by the largest cursor value, so the cursor must
#: sort in log order. The Singer bookmark (eventId) is a position but does not sort, and event
#: times tie; so the log's streams get a column that does: microseconds since the epoch when the
#: row went out, kept strictly increasing. Each sync resumes after the last, so it grows across
#: syncs too.
LOG_SEQUENCE = "_aphex_log_sequence"
LOG_ORDERED_STREAMS = frozenset({"task_events", "tasks", "task_statuses"})

#: Deletions: Singer's `_sdc_deleted_at`, repeated under the column Airbyte's deduplicating
#: destinations delete rows by.
SINGER_DELETED_AT = "_sdc_deleted_at"
AIRBYTE_DELETED_AT = "_ab_cdc_deleted_at"


#: The sync modes `discover` offers, and the only ones a configured catalog may ask for.
SYNC_MODES = ("full_refresh", "incremental")


class CatalogMismatchError(AphexError):
    """The configured catalog names a stream the config does not enable."""


def connector_specification() -> dict[str, t.Any]:
    """The `spec` payload: the tap's settings schema, its secrets marked for Airbyte."""
    schema = copy.deepcopy(CONFIG_SCHEMA)
    _mark_secrets(schema)
    return {
        "documentationUrl": DOCUMENTATION_URL,
        "supportsIncremental": True,
        # Airbyte reads connection specifications as JSON Schema draft-07.
        "connectionSpecification": {
            **schema,
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "Aphex Planner",
        },
    }


def _mark_secrets(node: object) -> None:
    """`airbyte_secret` wherever the SDK marks a setting secret (the key, each project's token)."""
    if isinstance(node, dict):
        if node.get("secret") is True:
            node["airbyte_secret"] = True
        for value in node.values():
            _mark_secrets(value)
    elif isinstance(node, list):
        for value in node:
            _mark_secrets(value)


def airbyte_catalog(tap: TapAphex) -> dict[str, t.Any]:
    """The `discover` payload: every stream the config enables."""
    return {"streams": [_airbyte_stream(name, tap) for name in tap.streams]}


def _airbyte_stream(name: str, tap: TapAphex) -> dict[str, t.Any]:
    stream = tap.streams[name]
    schema = copy.deepcopy(stream.schema)
    properties = schema.get("properties", {})
    if SINGER_DELETED_AT in properties:
        properties[AIRBYTE_DELETED_AT] = properties[SINGER_DELETED_AT]
    cursor = stream.replication_key
    if name in LOG_ORDERED_STREAMS:
        properties[LOG_SEQUENCE] = {
            "type": "integer",
            "description": "Increases in log order, across syncs: what to deduplicate by.",
        }
        cursor = LOG_SEQUENCE
    return {
        "name": name,
        "json_schema": schema,
        "supported_sync_modes": list(SYNC_MODES),
        "source_defined_cursor": True,
        "default_cursor_field": [cursor] if cursor else [],
        "source_defined_primary_key": [[key] for key in stream.primary_keys or []],
        "is_resumable": True,
    }


class Selection(t.NamedTuple):
    singer_catalog: dict[str, t.Any]
    streams: list[str]  # selected, in the configured catalog's order
    full_refresh: set[str]  # read from the beginning: their bookmarks are not passed to the tap


def select(tap: TapAphex, configured: object) -> Selection:
    """The Singer catalog that selects what the Airbyte configured catalog asks for."""
    wanted = _configured_streams(configured)
    singer_catalog = copy.deepcopy(tap.catalog_dict)
    offered = {entry["tap_stream_id"] for entry in singer_catalog["streams"]}
    if unknown := [name for name in wanted if name not in offered]:
        msg = (
            f"The configured catalog asks for {', '.join(sorted(unknown))}, which this config does "
            f"not enable (it offers {', '.join(sorted(offered))}). Run discover again and refresh "
            "the connection's streams."
        )
        raise CatalogMismatchError(msg)
    for entry in singer_catalog["streams"]:
        for metadata in entry.get("metadata", []):
            if metadata.get("breadcrumb") == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in wanted
    full_refresh = {name for name, mode in wanted.items() if mode == "full_refresh"}
    return Selection(singer_catalog, list(wanted), full_refresh)


def _configured_streams(configured: object) -> dict[str, str]:
    """Stream name -> sync mode, from a ConfiguredAirbyteCatalog."""
    entries = configured.get("streams") if isinstance(configured, dict) else None
    if not isinstance(entries, list):
        msg = "The configured catalog has no `streams` list; pass the file Airbyte configured."
        raise CatalogMismatchError(msg)
    wanted: dict[str, str] = {}
    for entry in entries:
        stream = entry.get("stream") if isinstance(entry, dict) else None
        if not isinstance(stream, dict) or not isinstance(stream.get("name"), str):
            msg = "A configured stream has no `stream.name`; pass the file Airbyte configured."
            raise CatalogMismatchError(msg)
        mode = entry.get("sync_mode", "incremental")
        if mode not in SYNC_MODES:
            # Guessing would either re-read everything (quota) or keep a state the user meant
            # to drop: the catalog is wrong, so say so before any request.
            msg = (
                f"The configured catalog's stream {stream['name']:.60} has sync_mode "
                f"{str(mode)[:40]!r}; this source supports {' and '.join(SYNC_MODES)}. Refresh "
                "the connection's streams and pick one of those."
            )
            raise CatalogMismatchError(msg)
        wanted[stream["name"]] = mode
    return wanted
