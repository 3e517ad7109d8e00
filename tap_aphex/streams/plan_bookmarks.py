"""Each project's bookmarks, per stream: what it landed in earlier runs (`Mark`, from the state),
what it lands in this run (`Landing`), and its state after a read in full (`move_bookmarks`).

A bookmark is the newest `publishedAt` landed, with the ids of the versions published at that very
time and the highest `version` number landed. New is published after the bookmark, or at its very
time with an id not landed then, or numbered past every version landed whatever its time (a
backdated version; a bookmark a clock gone wrong left in the future).
"""

from __future__ import annotations

import datetime as dt
import typing as t
from dataclasses import dataclass, field

from tap_aphex import sdk_seam
from tap_aphex.decoding import described, readable
from tap_aphex.schemas import rfc3339_to_datetime

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Mapping

    from singer_sdk.helpers.types import Context
    from singer_sdk.streams import Stream

    from tap_aphex.streams.plan_document import PublishedVersion

#: Partition-state keys beside the SDK's: the ids of the versions published at the bookmark's time,
#: the highest `version` number landed, the skipped entries already warned about.
BOOKMARK_IDS = "bookmark_ids"
BOOKMARK_VERSION = "bookmark_version"
SKIPPED_SAID = "skipped_said"
MAX_SKIPPED_SAID = 100  # a state stays small whatever a document holds


def project_only(context: Mapping[str, t.Any] | None) -> dict[str, t.Any]:
    # A table's context also names the version; its state is per project.
    return {"accountId": (context or {}).get("accountId")}


def saved_state(stream: Stream, context: Mapping[str, t.Any] | None) -> Mapping[str, t.Any]:
    """The project's partition, not added to the state as `get_context_state` would add it."""
    bookmark = stream.tap_state.get("bookmarks", {}).get(stream.name, {})
    for partition in bookmark.get("partitions", []):
        if partition.get("context") == project_only(context):
            return t.cast("Mapping[str, t.Any]", partition)
    return {}


def unused_state(stream: Stream, accounts: t.Collection[str]) -> list[str]:
    """What in ``stream``'s state no project's read can use, in words (a state edited by hand,
    or another tap's). A project no longer configured is named only when a configured one has no
    bookmark (its URL changed?); else its partition stays, unused."""
    # Objects, and each partition's context one: `inputs.check_state_shape` refuses all else.
    bookmark = stream.tap_state.get("bookmarks", {}).get(stream.name, {})
    words, others, marked = [], [], set()
    for partition in bookmark.get("partitions") or []:
        context = partition["context"]
        if set(context) != {"accountId"}:
            words.append(f"a partition for {described(context, 60)}, which is no project's")
        elif context["accountId"] not in accounts:
            others.append(context["accountId"])
        elif partition.get("replication_key_value"):  # (the SDK adds an empty one on its turn)
            marked.add(context["accountId"])
    new = [account for account in accounts if account not in marked]
    if others and new:
        words.append(
            f"the bookmark of project `{readable(str(others[0]), 40)}`, which is not in "
            f"`projects`, while project `{readable(new[0], 40)}` has none (if its URL changed, "
            "its bookmark is that one; it is read from its first version)"
        )
    if "replication_key_value" in bookmark:
        words.append("a position outside `partitions` (each project's is its own)")
    return [f"State: {stream.name} holds {what}: not used." for what in words]


@dataclass(frozen=True)
class Mark:
    """What one stream landed of one project in earlier runs."""

    when: dt.datetime | None  # its bookmark: the newest version landed
    ids: frozenset[str] = frozenset()  # the versions landed that were published at ``when``
    version: object = None  # the highest `version` number landed, if the state has it

    def is_new(self, version_id: str, published: dt.datetime, number: object = None) -> bool:
        if self.when is None or published > self.when:
            return True
        if published == self.when and version_id not in self.ids:
            return True
        return is_count(number) and is_count(self.version) and number > self.version


@dataclass
class Landing:
    """What one stream lands of one project in this run: its newest versions."""

    newest: dt.datetime | None = None
    newest_text: str | None = None  # as the records (and so the state) write it
    ids: set[str] = field(default_factory=set)  # those published at ``newest``
    version: int | None = None  # the highest `version` number, whatever its time

    def land(self, version: PublishedVersion) -> None:
        if self.newest is None or version.published > self.newest:
            self.newest, self.newest_text = version.published, version.record["publishedAt"]
            self.ids = set()
        if version.published == self.newest:
            self.ids.add(version.id)
        number = version.record.get("version")
        if is_count(number) and (self.version is None or number > self.version):
            self.version = number


def is_count(number: object) -> t.TypeGuard[int]:
    """A `version` number as the assumed shape has it: a whole number, 0 or more (``true`` and
    ``12.0`` are none)."""
    return number.__class__ is int and number >= 0


def read_mark(
    stream: Stream, context: Mapping[str, t.Any], label: str, logger: logging.Logger
) -> Mark:
    """What ``stream`` landed of the project in earlier runs; what the tap cannot use is said and
    left out."""
    state = saved_state(stream, context)
    value = state.get("replication_key_value")
    when = rfc3339_to_datetime(value) if isinstance(value, str) else None
    if value is not None and when is None:
        logger.warning(
            "Project %s: the %s bookmark in the state (%s) is not a time the tap wrote; "
            "reading the project from the start (versions already landed are sent again, "
            "which an upsert on the key absorbs).",
            label,
            stream.name,
            described(value, 40),
        )
    ids, number = state.get(BOOKMARK_IDS, []), state.get(BOOKMARK_VERSION)
    unusable = []
    if not (isinstance(ids, list) and all(isinstance(i, (str, int)) for i in ids)):
        unusable.append(f"{BOOKMARK_IDS} is {described(ids, 40)}, not a list of ids")
    if number is not None and not is_count(number):
        unusable.append(f"{BOOKMARK_VERSION} is {described(number, 40)}, not a version number")
    if when is not None and unusable:
        logger.warning(
            "Project %s: in the %s state, %s: left out, so versions published at the "
            "bookmark's time, or backdated, may land again (an upsert on the key absorbs it).",
            label,
            stream.name,
            " and ".join(unusable),
        )
    if when is not None and when > dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1):
        until = (
            f"a version lands in {stream.name} only if its `version` number is higher than {number}"
            if is_count(number)
            else f"no version lands in {stream.name} (the state has no `{BOOKMARK_VERSION}`)"
        )
        logger.warning(
            "Project %s: the %s bookmark in the state (%s) is in the future: until then, %s. If "
            "no version was published then, clear that project's state.",
            label,
            stream.name,
            value,
            until,
        )
    if when is None or unusable:
        ids, number = [], None
    return Mark(when, frozenset(map(str, ids)), number)


def move_bookmarks(
    parent: Stream,
    context: Context | None,
    fed: list[Stream],
    *,
    marks: Mapping[Stream, Mark],
    landings: Mapping[Stream, Landing],
    gap: bool,
    skipped: t.Collection[str],
) -> list[dt.datetime | None]:
    """Each stream's bookmark for the project after a read in full (what each had landed, what
    it lands now); never over a ``gap``. The entries ``skipped`` are kept as said."""
    moved = []
    for stream in fed:
        state = stream.get_context_state(project_only(context))
        sdk_seam.discard_progress(state)  # the SDK's marker: ours below says it exactly
        mark, landing = marks[stream], landings[stream]
        if gap or landing.newest is None:
            moved.append(mark.when)  # nothing new, or a gap the next run must ask for again
            continue
        if mark.when is None or landing.newest >= mark.when:  # else only a backdated one landed
            state["replication_key"] = parent.replication_key
            state["replication_key_value"] = landing.newest_text
            ids = landing.ids | mark.ids if mark.when == landing.newest else landing.ids
            state[BOOKMARK_IDS] = sorted(ids)
        numbers = [n for n in (mark.version, landing.version) if is_count(n)]
        state[BOOKMARK_VERSION] = max(numbers, default=None)
        moved.append(max(landing.newest, mark.when or landing.newest))
    parent_state = parent.get_context_state(project_only(context))
    if skipped:
        parent_state[SKIPPED_SAID] = sorted(skipped)[:MAX_SKIPPED_SAID]
    else:
        parent_state.pop(SKIPPED_SAID, None)
    return moved
