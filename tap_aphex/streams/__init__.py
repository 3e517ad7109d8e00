"""The streams, one module per API: the Data API's (`task_events`, feeding `tasks` and
`task_statuses`) and the Published Plans API's (`published_plans` and its two tables)."""

from __future__ import annotations

import contextlib
import typing as t

from singer_sdk.exceptions import AbortedSyncFailedException, AbortedSyncPausedException
from typing_extensions import override

from tap_aphex.client import IncrementalOnly
from tap_aphex.sdk_seam import SchemaOncePerRun

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.types import Context


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
