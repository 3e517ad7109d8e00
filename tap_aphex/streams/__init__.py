"""The streams, one module per API: the Data API's (`task_events`, feeding `tasks` and
`task_statuses`) and the Published Plans API's (`published_plans` and its two tables). Here, what
every stream shares: what a catalog or a map may do to it, and how a parent feeds a child."""

from __future__ import annotations

import contextlib
import functools
import typing as t

from singer_sdk.exceptions import AbortedSyncFailedException, AbortedSyncPausedException
from singer_sdk.streams import Stream
from typing_extensions import override

from tap_aphex.report import ConfigError
from tap_aphex.sdk_seam import SchemaOncePerRun

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.types import Context
    from singer_sdk.singerlib import Catalog


class IncrementalOnly(Stream):
    """What a catalog or a map may do to a stream: read it incrementally on its own key only (no
    other method or key keeps a place to resume); change its records' copies, never the tap's."""

    @override
    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any]:
        # The SDK drops deselected properties from the record in place, objects within included,
        # and a stream map's expression is handed it; the tap reads its rows again (a task's
        # statuses, a version's number): then a copy goes.
        return _objects_copied(row) if self._records_changed else row

    @functools.cached_property
    def _records_changed(self) -> bool:  # asked first at the first record, once the catalog applies
        return not all(self.mask.values()) or bool(self.config.get("stream_maps"))

    @override
    def apply_catalog(self, catalog: Catalog) -> None:
        own_key = self.replication_key
        super().apply_catalog(catalog)
        # The SDK takes the entry's key, else the metadata's: one beside the entry's it passes over.
        entry = catalog.get_stream(self.name)
        given = [entry and entry.replication_key, self.metadata.root.replication_key]
        asked = next((key for key in given if key not in (None, own_key)), self.replication_key)
        wanted = (self.replication_method, asked) == ("INCREMENTAL", own_key)
        if wanted or not self.selected:  # a stream left out is not read, whatever its entry says
            return
        key = f" on {asked:.40}" if asked else ""
        raise ConfigError(
            f"The catalog asks for {self.name} by {self.replication_method[:20]!r}{key}: "
            f"tap-aphex reads it by 'INCREMENTAL' on {own_key} only. Drop that stream's "
            "replication method and key from the catalog (its entry, its metadata, or Meltano's "
            "`metadata` for it), or make the catalog with `--discover`."
        )


def _objects_copied(row: dict[str, t.Any]) -> dict[str, t.Any]:
    return {key: _objects_copied(v) if v.__class__ is dict else v for key, v in row.items()}


class FedStream(IncrementalOnly, SchemaOncePerRun):
    """A child stream fed rows its parent has read, a page (or a published version) at a time,
    each feed a `sync` of its own: the SDK syncs a child once per parent record, which for `tasks`
    would mean a STATE per event. The parent decides when the child's STATE may go out."""

    _fed: t.Iterable[dict[str, t.Any]] = ()

    def feed(self, rows: t.Iterable[dict[str, t.Any]], context: Context | None = None) -> None:
        """Sync ``rows`` now; a dry run's record limit ends it, as it ends the SDK's child syncs."""
        self._fed = rows
        try:
            with contextlib.suppress(AbortedSyncFailedException, AbortedSyncPausedException):
                self.sync(context=context)
        finally:
            self._fed = ()

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        yield from self._fed
