"""A project's bookmarks in the published-plans streams: read before its read, moved after it.

This module owns what the state says each selected stream landed of a project and how it moves.
Versions are told apart by id: new is published after the bookmark, or at its very time with an
id not landed then (`Mark`: the bookmark and its ties), so a version is never landed twice and
never typed again. What a stream lands in this run (`Landing`) moves its bookmark only after the
project is read in full, and never over a version it did not land: after a gap
(`ProjectRead.left_a_gap`) every bookmark of the project stays. Beside the SDK's keys, a
partition's state holds the ids tied at the bookmark, the bookmark's `version` number (to count
a gap) and the entries of the document already warned about as skipped.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from dataclasses import dataclass, field

from tap_aphex import sdk_seam
from tap_aphex.schemas import rfc3339_to_datetime

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Mapping

    from singer_sdk.helpers.types import Context
    from singer_sdk.streams import Stream

    from tap_aphex.streams.plan_answers import ProjectDownload
    from tap_aphex.streams.plan_document import PublishedVersion

#: Partition-state keys beside the SDK's: the ids of the versions published at the bookmark's time,
#: the `version` number there (to count a gap), the skipped entries already warned about.
BOOKMARK_IDS = "bookmark_ids"
BOOKMARK_VERSION = "bookmark_version"
SKIPPED_SAID = "skipped_said"
MAX_SKIPPED_SAID = 100  # a state stays small whatever a document holds


@dataclass(frozen=True)
class Mark:
    """What one stream landed of one project in earlier runs."""

    when: dt.datetime | None  # its bookmark: the newest version landed
    ids: frozenset[str] = frozenset()  # the versions landed that were published at ``when``
    version: object = None  # the `version` number of the newest landed, if the state has it

    def is_new(self, version_id: str, published: dt.datetime) -> bool:
        if self.when is None or published > self.when:
            return True
        return published == self.when and version_id not in self.ids


@dataclass
class Landing:
    """What one stream lands of one project in this run: its newest versions."""

    newest: dt.datetime | None = None
    newest_text: str | None = None  # as the records (and so the state) write it
    ids: set[str] = field(default_factory=set)
    version: object = None

    def land(self, version: PublishedVersion) -> None:
        if self.newest is None or version.published > self.newest:
            self.newest, self.newest_text = version.published, version.record["publishedAt"]
            self.ids, self.version = set(), None
        if version.published == self.newest:
            self.ids.add(version.id)
            number = version.record.get("version")
            if isinstance(number, int) and (
                not isinstance(self.version, int) or number > self.version
            ):
                self.version = number


@dataclass
class ProjectPlans:
    """One project in this run: its downloads, its streams' marks, what they land."""

    download: ProjectDownload
    marks: dict[Stream, Mark]
    landing: dict[Stream, Landing]
    skipped: set[str] = field(default_factory=set)  # entries skipped in its document


def project_only(context: Mapping[str, t.Any] | None) -> dict[str, t.Any]:
    """The project's partition context (a table's context also names the version)."""
    return {"accountId": (context or {}).get("accountId")}


def saved_state(stream: Stream, context: Mapping[str, t.Any] | None) -> Mapping[str, t.Any]:
    """The project's partition in ``stream``'s state, read without adding one to the state.

    (The SDK's `get_context_state` adds an empty partition: read before the project's turn, that
    would put every project in the first STATE.)
    """
    wanted = project_only(context)
    bookmark = stream.tap_state.get("bookmarks", {}).get(stream.name, {})
    for partition in bookmark.get("partitions", []):
        if partition.get("context") == wanted:
            return t.cast("Mapping[str, t.Any]", partition)
    return {}


def read_mark(
    logger: logging.Logger, stream: Stream, context: Mapping[str, t.Any], label: str
) -> Mark:
    """What ``stream`` landed of this project in earlier runs: its bookmark, and the ids of
    the versions published at that very time (a tie still lands a new one, never one twice)."""
    state = saved_state(stream, context)
    when = _bookmark(logger, stream, context, label)
    ids = state.get(BOOKMARK_IDS) if when is not None else None
    ids = frozenset(str(i) for i in ids) if isinstance(ids, list) else frozenset()
    return Mark(when, ids, state.get(BOOKMARK_VERSION) if when is not None else None)


def _bookmark(
    logger: logging.Logger, stream: Stream, context: Mapping[str, t.Any], label: str
) -> dt.datetime | None:
    """The newest version ``stream`` landed for this project in an earlier run, if readable."""
    value = saved_state(stream, context).get("replication_key_value")
    if value is None:
        return None
    when = rfc3339_to_datetime(value) if isinstance(value, str) else None
    if when is None:
        logger.warning(
            "Project %s: the %s bookmark in the state (%.40r) is not a time the tap wrote; "
            "reading the project from the start (versions already landed are sent again, "
            "which an upsert on the key absorbs).",
            label,
            stream.name,
            value,
        )
    return when


def move_bookmarks(
    parent: Stream, context: Context | None, project: ProjectPlans, fed: list[Stream]
) -> dict[Stream, dt.datetime | None]:
    """Each stream's bookmark for the project after a read in full; never over a gap."""
    read = project.download.read
    moved: dict[Stream, dt.datetime | None] = {}
    for stream in fed:
        state = stream.get_context_state(project_only(context))
        sdk_seam.discard_progress(state)  # the SDK's marker: ours below says it exactly
        mark, landing = project.marks[stream], project.landing[stream]
        moved[stream] = mark.when
        if read.left_a_gap or landing.newest is None:
            continue  # nothing new, or a gap the next run must ask for again
        assert landing.newest_text is not None
        if mark.when is not None and landing.newest < mark.when:
            continue  # only ties and older: the bookmark stays where it is
        ids = set(landing.ids)
        if mark.when == landing.newest:
            ids |= mark.ids
        state["replication_key"] = parent.replication_key
        state["replication_key_value"] = landing.newest_text
        state[BOOKMARK_IDS] = sorted(ids)
        state[BOOKMARK_VERSION] = landing.version
        moved[stream] = landing.newest
    parent_state = parent.get_context_state(project_only(context))
    if project.skipped:
        parent_state[SKIPPED_SAID] = sorted(project.skipped)[:MAX_SKIPPED_SAID]
    else:
        parent_state.pop(SKIPPED_SAID, None)
    return moved


def said_skips(parent: Stream, project: ProjectPlans) -> frozenset[str]:
    """The entries of the project's document already warned about as skipped in earlier runs."""
    said = parent.get_context_state(project_only(project.download.context)).get(SKIPPED_SAID)
    return frozenset(str(key) for key in said) if isinstance(said, list) else frozenset()


def drop_progress(fed: list[Stream], context: Context | None) -> None:
    """Forget the progress each stream made on this project in this run (it failed)."""
    for stream in fed:
        sdk_seam.discard_progress(stream.get_context_state(project_only(context)))
