"""The streams, one module per API: the Data API's (`task_events`, feeding `tasks` and
`task_statuses`) and the Published Plans API's (`published_plans` and its two tables). Here, what
every stream shares: what a catalog or a map may do to it, how a parent feeds a child, and
which bookmarks in a state the tap could have written."""

from __future__ import annotations

import contextlib
import functools
import typing as t

from singer_sdk.exceptions import AbortedSyncFailedException, AbortedSyncPausedException
from singer_sdk.streams import Stream
from typing_extensions import override

from tap_aphex.decoding import described, first_few
from tap_aphex.sdk_seam import SchemaOncePerRun

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from singer_sdk.helpers.types import Context


class CopiedWhenChanged(Stream):
    """What a catalog or a map may do to a stream's records: change copies, never the tap's rows
    (its method and key are its own whatever a catalog says: `catalog_checks`)."""

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


def _objects_copied(row: dict[str, t.Any]) -> dict[str, t.Any]:
    return {key: _objects_copied(v) if v.__class__ is dict else v for key, v in row.items()}


class FedStream(CopiedWhenChanged, SchemaOncePerRun):
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


def bookmark_problem(
    entry: object,
    replication_key: str,
    sdk_keys: t.AbstractSet[str],
    kind: str,
    text_problem: Callable[[str], str | None],
) -> str | None:
    """Why ``entry`` (a stream's state, or a partition's) holds a position the tap could not have
    written; None: one it wrote, or none yet. The tap writes the key and a ``kind`` value together,
    or neither (the SDK's progress markers it drops). ``sdk_keys``: what is held besides a
    position; ``text_problem``: why a text is not ``kind``, after "its replication_key_value"."""
    if not isinstance(entry, dict):
        return f"its entry is {described(entry, 40)}, not an object"
    unset = "replication_key" not in entry and "replication_key_value" not in entry
    others = [f"`{name:.30}`" for name in entry if name not in sdk_keys]
    if unset and not others:
        return None  # nothing delivered yet
    if unset and "progress_markers" in entry:
        return "it holds only the SDK's progress_markers, an unconfirmed position"
    if unset:
        return f"it has no replication_key_value, only {', '.join(others[:4])}"
    if entry.get("replication_key") != replication_key:
        return f"its replication_key is {_shown(entry, 'replication_key')}, not {replication_key}"
    value = entry.get("replication_key_value")
    if not isinstance(value, str):
        return f"its replication_key_value is {_shown(entry, 'replication_key_value')}, not {kind}"
    problem = text_problem(value)
    return f"its replication_key_value {problem}" if problem else None


def _shown(entry: dict[str, object], name: str) -> str:
    return described(entry[name], 40) if name in entry else "missing"  # null is said as null


def unusable_words(problems: Iterable[tuple[str, str | None]]) -> str:
    """The streams whose bookmark cannot be used (each with its `bookmark_problem`), grouped by
    problem in words; "": none."""
    by_problem: dict[str, list[str]] = {}
    for stream, problem in sorted(problems, key=lambda pair: pair[0]):
        if problem:
            by_problem.setdefault(problem, []).append(stream)
    # At most three streams and three problems: a state of many projects stays one line.
    words = [f"in the bookmark of {first_few(names)}, {why}" for why, names in by_problem.items()]
    more = [f"and {len(words) - 3} more"] if words[3:] else []  # clauses: `; `, not `listed`'s
    return "; ".join(words[:3] + more)
