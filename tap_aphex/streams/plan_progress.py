"""Each project's progress through its published plans: its bookmarks (`Mark`), the `limit` to
ask (`LimitPolicy`) and what lands (`ProjectRead`). An answer short of a bookmark's own version
leaves a gap that asking for more cannot close: the bookmarks stay, unless the answer's `version`
numbers run on from the bookmark's."""

from __future__ import annotations

import datetime as dt
import enum
import logging
import typing as t
from dataclasses import dataclass, field, replace

from tap_aphex import sdk_seam
from tap_aphex.decoding import described
from tap_aphex.schemas import rfc3339_to_datetime
from tap_aphex.streams import bookmark_problem

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    from singer_sdk.helpers.types import Context
    from singer_sdk.streams import Stream

    from tap_aphex.streams.plan_document import PublishedVersion, VersionScan

#: Partition-state keys beside the SDK's; at most MAX_SKIPPED_SAID entries, for a small state.
BOOKMARK_IDS = "bookmark_ids"
BOOKMARK_VERSION = "bookmark_version"
SKIPPED_SAID = "skipped_said"
MAX_SKIPPED_SAID = 100
#: How far `limit` grows. The API keeps six months of history: 26 weekly versions, 183 daily.
MAX_LIMIT = 1000
#: Far below the API's 32 MB response limit: a 500 for twice as many versions is no size limit.
FAR_BELOW_RESPONSE_LIMIT = 32_000_000 // 4


def is_count(number: object) -> t.TypeGuard[int]:
    """A `version` number as assumed: a whole number, 0 or more (not ``true``, nor ``12.0``)."""
    return number.__class__ is int and number >= 0


def numbered_on(numbers: list[object], after: object) -> bool:
    """The `version` numbers past ``after`` are exactly ``after`` + 1, + 2, ... (in any order,
    every entry numbered): the answer holds every version since (docs/assumptions.md)."""
    if not numbers or not is_count(after) or not all(is_count(n) for n in numbers):
        return False
    since = sorted(n for n in t.cast("list[int]", numbers) if n > after)
    return bool(since) and since == list(range(after + 1, after + len(since) + 1))


@dataclass
class Mark:
    """A stream's bookmark on a project: from earlier runs (`read_mark`), moved by what lands."""

    when: dt.datetime | None = None  # the newest `publishedAt` landed
    ids: t.AbstractSet[str] = frozenset()  # the versions landed that were published at ``when``
    version: object = None  # the highest `version` number landed, if known
    text: str | None = None  # ``when`` as the records (and so the state) write it

    def is_new(self, version_id: str, published: dt.datetime, number: object) -> bool:
        newer = self.when is None or published > self.when
        if newer or (published == self.when and version_id not in self.ids):
            return True
        return is_count(number) and is_count(self.version) and number > self.version

    def land(self, version: PublishedVersion) -> None:
        if self.when is None or version.published > self.when:
            self.when, self.text = version.published, version.record["publishedAt"]
            self.ids = set()
        if version.published == self.when:
            self.ids = {*self.ids, version.id}
        number = version.record.get("version")
        if is_count(number) and not (is_count(self.version) and number <= self.version):
            self.version = number


#: What a partition holds without a bookmark: the SDK's keys, and the entries said as skipped.
NOT_BOOKMARKS = frozenset(
    {"context", "starting_replication_value", "replication_key_signpost", SKIPPED_SAID}
)


def _time_problem(text: str) -> str | None:
    return None if rfc3339_to_datetime(text) else f"is {described(text, 40)}, not a time"


def mark_problem(partition: Mapping[str, t.Any], key: str) -> str | None:
    """Why a project's partition holds no bookmark the tap could have written, if it does not."""
    return bookmark_problem(partition, key, NOT_BOOKMARKS, "a time", _time_problem)


def read_mark(
    stream: Stream, state: Mapping[str, t.Any], label: str, logger: logging.Logger
) -> tuple[Mark, str | None]:
    """What ``stream`` landed of the project in earlier runs (``state``: its partition), and why
    its bookmark is unusable, if it is (`PublishedPlansStream.read_project` says it); what else
    is unusable is said, left out."""
    key = str(stream.replication_key)
    problem = mark_problem(state, key)
    value = None if problem else state.get("replication_key_value")
    when = rfc3339_to_datetime(value) if isinstance(value, str) else None
    ids, number = state.get(BOOKMARK_IDS, []), state.get(BOOKMARK_VERSION)
    unusable = []
    if not (isinstance(ids, list) and all(isinstance(i, (str, int)) for i in ids)):
        unusable.append(f"{BOOKMARK_IDS} is {described(ids, 40)}, not a list of ids")
    if number is not None and not is_count(number):
        unusable.append(f"{BOOKMARK_VERSION} is {described(number, 40)}, not a version number")
    if when is not None and unusable:
        logger.warning(
            f"Project {label}: in the {stream.name} state, {' and '.join(unusable)}: left out, "
            "so versions published at the bookmark's time, or backdated, may land again (an "
            "upsert on the key absorbs it)."
        )
    if when is None or unusable:
        ids, number = [], None
    return Mark(when, frozenset(map(str, ids)), number, value if when else None), problem


class Step(enum.Enum):
    DONE = "done"  # the response reached back far enough
    GROW = "grow"  # ask again, for more versions
    RETRY = "retry"  # ask again as before (a first 500 may be passing)
    SHRINK = "shrink"  # ask again, for fewer versions (the response was too large)
    SIZE_LIMIT = "size limit"  # older versions are out of reach of the response size limit
    CAP = "cap"  # MAX_LIMIT reached and every version was still needed
    GAP = "gap"  # fewer (or more) versions than asked, none reaching back to the bookmark
    FAILED = "failed"  # a 500 even when asking for one version, or not for the size limit


class LimitPolicy:
    """The `limit` to ask next in one project's read (its rules: docs/operations.md)."""

    def __init__(self, configured: int, *, cap: int = MAX_LIMIT) -> None:
        self.limit = configured
        self.cap = max(cap, configured)
        self.answered = 0  # the largest limit the API answered in this read
        self.largest = 0  # the bytes of the largest answer that arrived (what a 500 may mean)
        self.too_large = self.cap + 1  # the smallest limit refused as too large (none: past all)
        self._server_errors = 0

    @property
    def size_limit_likely(self) -> bool:
        """Whether HTTP 500s can be the API's 32 MB response limit: not once an answer far below
        it arrived (the limit at most doubles): then the server fails, and what it left out is
        not out of reach for good (a first run's bookmarks would pass over it)."""
        return not 0 < self.largest < FAR_BELOW_RESPONSE_LIMIT

    def after_response(
        self, received: int, *, size: int, reached_back: bool, short_of: bool = False
    ) -> Step:
        """``size``: the answer's bytes; ``short_of``: not reaching a bookmark there is (so an
        answer of other than as many as asked is a gap)."""
        self.answered = max(self.answered, self.limit)
        self.largest = max(self.largest, size)
        if reached_back:
            return Step.DONE
        if received != self.limit:  # fewer, or more (`limit` ignored): all the server gives
            return Step.GAP if short_of else Step.DONE
        grown = min(self.limit * 2, self.cap)
        wanted = min(grown, self.too_large - 1)  # short of a size known to fail
        if wanted > self.limit:
            self.limit = wanted
            return Step.GROW
        if grown < self.too_large:
            return Step.CAP
        return Step.SIZE_LIMIT if self.size_limit_likely else Step.FAILED

    def after_server_error(self) -> Step:
        self._server_errors += 1
        if self._server_errors == 1:
            return Step.RETRY
        self.too_large = min(self.too_large, self.limit)
        if self.limit == 1 or not self.size_limit_likely:
            return Step.FAILED
        if self.limit // 2 <= self.answered:
            return Step.SIZE_LIMIT  # what a smaller limit returns has already been read
        self.limit //= 2
        return Step.SHRINK


@dataclass
class ProjectRead:
    """One project's read in this run: what it needs to reach back to, and what it landed."""

    label: str
    marks: dict[Stream, Mark]  # what each selected stream landed in earlier runs
    policy: LimitPolicy
    said: frozenset[str] = frozenset()  # entries warned about as skipped in earlier runs
    skipped: set[str] = field(default_factory=set)  # entries skipped in its document now
    landing: dict[Stream, Mark] = field(init=False)  # each one's, moved by what lands now
    oldest: Mark | None = field(init=False)  # the bookmark to reach back to (None: all)
    behind: Mark | None = field(init=False)  # the oldest bookmark of any stream (None: none)
    step: Step = Step.DONE
    received: int = 0  # versions in the last answer (to `policy.limit`: only GROW changes it)
    landed: int = 0
    first: dt.datetime | None = None  # the oldest version landed
    lowest: int | None = None  # the lowest `version` number landed
    last: dt.datetime | None = None  # the newest version landed
    numbered_on: bool = False  # the last answer's numbers run on from the bookmark's (no gap)
    reached_behind: bool = True  # the last answer reaches back to `behind` (or proves nothing)

    def __post_init__(self) -> None:
        self.landing = {stream: replace(mark) for stream, mark in self.marks.items()}
        # Every selected stream has a bookmark: read back to the oldest; else read it all.
        known = [mark for mark in self.marks.values() if mark.when is not None]
        self.behind = min(known, key=lambda m: t.cast("dt.datetime", m.when)) if known else None
        self.oldest = self.behind if len(known) == len(self.marks) else None

    def new_for(self, version_id: str, published: dt.datetime, number: object) -> list[Stream]:
        """The streams the version is new to (none: it landed in an earlier run)."""
        return [s for s, mark in self.marks.items() if mark.is_new(version_id, published, number)]

    def note_skipped(self, entry: str) -> bool:
        """Its document skips ``entry`` (its key in the state): True when no earlier run said so."""
        self.skipped.add(entry)
        return entry not in self.said

    def answered(self, scan: VersionScan) -> None:
        """The policy's step after an answer the download thread scanned."""
        self.received = scan.received
        self.numbered_on, self.reached_behind = False, True  # each answer proves it anew
        if scan.readable and scan.placed and self.behind is not None:
            # A stream with a bookmark must be reached (one newly selected makes the read a whole
            # history), or versions it never had are passed over. Its own version: by id if the
            # state has ids (not published after it: an id used again is another version).
            behind, when = self.behind, t.cast("dt.datetime", self.behind.when)
            self.reached_behind = any(
                published <= when and (not behind.ids or version_id in behind.ids)
                for version_id, published in scan.placed
            )
            # Numbers running on from the lowest bookmark's prove no gap only: the policy still
            # asks as it would (a version published last may be dated before the answer's oldest).
            marked = [mark.version for mark in self.marks.values() if mark.when is not None]
            after = min(t.cast("list[int]", marked)) if all(map(is_count, marked)) else None
            self.numbered_on = numbered_on(scan.numbers, after)
        if not scan.readable:
            self.step = Step.DONE  # not the document: the reader says what is wrong, once
            return
        # With every stream's bookmark, back far enough once the answer (the most recently
        # published) reaches it; a whole history (fewer than asked) short of it is a gap.
        proven = self.oldest is not None and bool(scan.placed)
        self.step = self.policy.after_response(
            scan.received,
            size=scan.size,
            reached_back=proven and self.reached_behind,
            short_of=proven and not self.reached_behind,
        )

    def land(self, version: PublishedVersion, streams: list[Stream]) -> None:
        """``version`` lands in ``streams`` (`plan_report.say_landed` says so)."""
        for stream in streams:
            self.landing[stream].land(version)
        self.landed += 1
        self.first = min(self.first or version.published, version.published)
        self.last = max(self.last or version.published, version.published)
        number = version.record.get("version")
        if is_count(number) and (self.lowest is None or number < self.lowest):
            self.lowest = number

    @property
    def left_a_gap(self) -> bool:
        """Versions newer than the bookmark may be missing: its bookmarks must not move."""
        if self.numbered_on:
            return False
        if self.oldest is None:  # a whole history: short of a stream's bookmark is a gap too
            return self.behind is not None and not self.reached_behind
        return self.step in (Step.GAP, Step.SIZE_LIMIT, Step.CAP)

    def move_bookmarks(
        self, parent: Stream, context: Context | None, *, failed: bool = False
    ) -> list[dt.datetime | None]:
        """Each stream's bookmark once the project is read in full, never over a gap nor after a
        failure (versions come in no promised order: what a run saw proves nothing about what it
        missed); the entries skipped are kept as said."""
        moved = []
        for stream, mark in self.marks.items():
            state = stream.get_context_state(context)  # a table's too: by `state_partitioning_keys`
            sdk_seam.discard_progress(state)  # the SDK's marker: ours below says it exactly
            landing = self.landing[stream]
            if failed or self.left_a_gap or landing == mark:
                moved.append(mark.when)  # nothing new, or what the next run must ask for again
                continue
            state["replication_key"] = parent.replication_key
            state["replication_key_value"] = landing.text
            state[BOOKMARK_IDS] = sorted(landing.ids)
            state[BOOKMARK_VERSION] = landing.version
            moved.append(landing.when)
        if not failed:  # the entries skipped now, if any, are those said
            parent_state = parent.get_context_state(context)
            parent_state.pop(SKIPPED_SAID, None)
            if self.skipped:
                parent_state[SKIPPED_SAID] = sorted(self.skipped)[:MAX_SKIPPED_SAID]
        return moved
