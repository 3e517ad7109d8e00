"""How far back one project's read of published plans goes, what it lands, what the log says.

`LimitPolicy` decides each request's `limit` (its rules: docs/operations.md, each table-tested);
`ProjectRead` holds what one project's read needs (each selected stream's `Mark`) and lands (each
one's `Landing`; `plan_bookmarks` moves the bookmarks once the project is read in full). A short
answer whose oldest version is newer than the bookmark leaves a gap (`GAP`: a server that caps
`limit`, or versions past the API's six months) that asking for more cannot close: the bookmarks
stay, so no version is ever passed over.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import typing as t
from dataclasses import dataclass, field

from tap_aphex.report import AphexError
from tap_aphex.streams.plan_bookmarks import Landing, Mark, is_count

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream

    from tap_aphex.streams.plan_document import PublishedVersion, VersionScan

DAY = "%Y-%m-%d"  # a span of versions in the log, as days
#: How far `limit` grows. The API keeps six months of history: 26 weekly versions, 183 daily.
MAX_LIMIT = 1000


class Step(enum.Enum):
    DONE = "done"  # the response reached back far enough
    GROW = "grow"  # ask again, for more versions
    RETRY = "retry"  # ask again as before (a first 500 may be passing)
    SHRINK = "shrink"  # ask again, for fewer versions (the response was too large)
    SIZE_LIMIT = "size limit"  # older versions are out of reach of the response size limit
    CAP = "cap"  # MAX_LIMIT reached and every version was still needed
    GAP = "gap"  # fewer versions than asked, none of them reaching back to the bookmark
    FAILED = "failed"  # a 500 even when asking for one version


class LimitPolicy:
    """The `limit` for one project's read; `limit` is what to ask for next."""

    def __init__(self, configured: int, *, cap: int = MAX_LIMIT) -> None:
        self.limit = configured
        self.cap = max(cap, configured)
        self.answered = 0  # the largest limit the API answered in this read
        self.too_large: int | None = None  # the smallest limit refused as too large
        self._server_errors = 0

    def after_response(self, received: int, *, reached_back: bool, short_of: bool = False) -> Step:
        """A response held ``received`` versions; ``reached_back``: as far back as needed;
        ``short_of``: its oldest is newer than the bookmark (so fewer than asked is a gap)."""
        self.answered = max(self.answered, self.limit)
        if reached_back:
            return Step.DONE
        if received < self.limit:
            return Step.GAP if short_of else Step.DONE
        wanted = min(self.limit * 2, self.cap)
        if self.too_large is not None and wanted >= self.too_large:
            wanted = self.too_large - 1
            if wanted <= self.limit:
                return Step.SIZE_LIMIT
        if wanted <= self.limit:
            return Step.CAP
        self.limit = wanted
        return Step.GROW

    def after_server_error(self) -> Step:
        """The API answered HTTP 500 to the current `limit`."""
        self._server_errors += 1
        if self._server_errors == 1:
            return Step.RETRY
        self.too_large = self.limit if self.too_large is None else min(self.too_large, self.limit)
        if self.limit == 1:
            return Step.FAILED
        smaller = max(1, self.limit // 2)
        if smaller <= self.answered:
            return Step.SIZE_LIMIT  # what a smaller limit returns has already been read
        self.limit = smaller
        return Step.SHRINK


@dataclass
class ProjectRead:
    """One project's read in this run: what it needs to reach back to, and what it landed."""

    label: str
    marks: dict[Stream, Mark]  # what each selected stream landed in earlier runs
    policy: LimitPolicy
    landing: dict[Stream, Landing] = field(init=False)  # what each lands in this run
    oldest: Mark | None = field(init=False)  # the bookmark to reach back to (None: all)
    said: frozenset[str] = frozenset()  # entries warned about as skipped in earlier runs
    skipped: set[str] = field(default_factory=set)  # entries skipped in its document now
    step: Step = Step.DONE
    received: int = 0  # versions in the last answer
    asked: int = 0  # the `limit` of the last answer
    landed: int = 0
    first: dt.datetime | None = None  # the oldest version landed
    lowest: int | None = None  # the lowest `version` number landed
    last: dt.datetime | None = None  # the newest version landed

    def __post_init__(self) -> None:
        self.landing = {stream: Landing() for stream in self.marks}
        # Every selected stream has a bookmark: read back to the oldest; else read it all.
        known = [mark for mark in self.marks.values() if mark.when is not None]
        whole = self.marks and len(known) == len(self.marks)
        self.oldest = min(known, key=lambda m: t.cast("dt.datetime", m.when)) if whole else None

    def is_new(self, version_id: str, published: dt.datetime, number: object = None) -> bool:
        return any(mark.is_new(version_id, published, number) for mark in self.marks.values())

    def answered(self, scan: VersionScan, asked: int) -> None:
        """The policy's step after an answer the download thread scanned."""
        self.received, self.asked = scan.received, asked
        if not scan.readable:
            self.step = Step.DONE  # not the document: the reader says what is wrong, once
        elif self.oldest is None or not scan.placed:  # nothing to reach back to, or to place
            self.step = self.policy.after_response(scan.received, reached_back=False)
        else:
            # Back far enough once the answer holds the bookmark's own version, by id: the
            # answer is the newest versions, so it holds every one published since. Not by time
            # alone (a state without ids has nothing else): a backdated version, or a bookmark
            # in the future, would stop it short. A whole history (fewer than asked) with no
            # version as old as the bookmark is a gap.
            oldest, when = self.oldest, t.cast("dt.datetime", self.oldest.when)
            if oldest.ids:
                reached_back = any(version_id in oldest.ids for version_id, _ in scan.placed)
            else:
                reached_back = any(published <= when for _, published in scan.placed)
            short_of = all(published > when for _, published in scan.placed)
            self.step = self.policy.after_response(
                scan.received, reached_back=reached_back, short_of=short_of
            )

    def land(
        self, logger: logging.Logger, version: PublishedVersion, streams: list[Stream]
    ) -> None:
        """``version`` lands in ``streams``; one INFO line: its date and rows per table (DEBUG on a
        first run, which lands the whole history: its closing line, `say_how_far`, sums it up)."""
        for stream in streams:
            self.landing[stream].land(version)
        self.landed += 1
        self.first = min(self.first or version.published, version.published)
        self.last = max(self.last or version.published, version.published)
        number = version.record.get("version")
        if is_count(number) and (self.lowest is None or number < self.lowest):
            self.lowest = number
        if version.published > dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1):
            logger.warning(
                "Project %s: version %s (%s) is published %s, in the future (a clock gone "
                "wrong?). It lands, and the bookmark goes there: until that time, a later version "
                "lands only if its `version` number is higher.",
                version.label,
                version.record["version"],
                version.id,
                version.record["publishedAt"],
            )
        tables = {getattr(stream, "table", None) for stream in streams}  # those selected
        rows = [
            f"{n} {table}" for table, n in version.record["rowCounts"].items() if table in tables
        ]
        logger.log(
            logging.DEBUG if self.oldest is None else logging.INFO,
            "Project %s: version %s (%s) published %s landed%s.",
            version.label,
            version.record["version"],
            version.id,
            version.record["publishedAt"],
            f": {', '.join(rows)}" if rows else "",
        )

    @property
    def left_a_gap(self) -> bool:
        """Versions newer than the bookmark may be missing: its bookmarks must not move."""
        return self.oldest is not None and self.step in (Step.GAP, Step.SIZE_LIMIT, Step.CAP)


def ask_again(logger: logging.Logger, read: ProjectRead) -> bool:
    """Say what the policy's step means; True when the project is to be asked again."""
    limit, label = read.policy.limit, read.label
    if read.step is Step.RETRY:
        logger.warning(
            "Project %s: server error (HTTP 500) with limit=%d; trying once more.", label, limit
        )
    elif read.step is Step.SHRINK:
        logger.warning(
            "Project %s: server error (HTTP 500) again, likely the API's 32 MB response "
            "limit; asking again with limit=%d.",
            label,
            limit,
        )
    elif read.step is Step.GROW:
        first_run = read.oldest is None  # expected then: its closing line says it all
        logger.log(
            logging.DEBUG if first_run else logging.INFO,
            "Project %s: the API returned %d versions, as many as asked, and older ones are "
            "still needed (%s); asking for %d.",
            label,
            read.received,
            "the whole history" if first_run else "back to the last landed",
            limit,
        )
    elif read.step is Step.FAILED:
        msg = (
            "server error (HTTP 500) even when asking for one published version: the project's "
            "server fails, not its size limit. Its bookmarks stay, so the next run asks again; "
            "if it lasts, tell Aphex (hello@aphex.co)"
        )
        raise AphexError(msg)
    return read.step in (Step.RETRY, Step.SHRINK, Step.GROW)


def say_how_far(logger: logging.Logger, read: ProjectRead) -> None:
    """How far back a project's read got, when it is news: a first run, a gap, versions lost."""
    out_of_reach = {
        Step.SIZE_LIMIT: "the API's 32 MB response limit",
        Step.CAP: f"the tap's cap of {read.policy.limit} versions a request",
    }.get(read.step)
    span = (
        f"published {when(read.first, DAY)} to {when(read.last, DAY)}"
        if read.landed
        else "none new"
    )
    if read.left_a_gap:
        oldest = t.cast("Mark", read.oldest)  # a gap is between the bookmark and the answer
        why = f"{out_of_reach} keeps older versions out of reach"
        if read.step is Step.GAP:
            why = (
                f"the API answered {read.received} versions, fewer than the {read.asked} asked, "
                f"and the oldest of them (published {when(read.first)}) is newer than the last "
                f"version landed (published {when(oldest.when)})"
            )
        missed = "an unknown number of versions"
        if is_count(read.lowest) and is_count(oldest.version):
            count = read.lowest - oldest.version - 1
            if count > 0:
                missed = f"{count} version{'s' if count != 1 else ''}"
        logger.warning(
            "Project %s: %s: %s published between %s and %s did not land. The project's "
            "bookmarks stay at %s, so the next run asks for them again (the %d versions that "
            "landed now land again then, which an upsert on the key absorbs); raise "
            "`published_plans_limit` or ask the vendor if this repeats.",
            read.label,
            why,
            missed,
            when(oldest.when),
            when(read.first) if read.first else "now",
            when(oldest.when),
            read.landed,
        )
    elif out_of_reach:  # and no bookmark: a first run
        logger.warning(
            "Project %s: %s keeps older versions out of reach: %d versions landed (%s), "
            "reaching back to %s; versions published before that cannot be fetched.",
            read.label,
            out_of_reach,
            read.landed,
            span,
            when(read.first, DAY),
        )
    elif read.oldest is None:
        # A short answer is taken as the whole history: a server that caps `limit` looks the
        # same, so the oldest version's number is said, for a missing start to show.
        first = f", the oldest numbered {read.lowest}" if is_count(read.lowest) else ""
        logger.info(
            "Project %s: read the whole history the API keeps (its first run, or a table newly "
            "selected): %d versions landed (%s%s).",
            read.label,
            read.landed,
            span,
            first,
        )


def when(moment: dt.datetime | None, form: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    """A version's time in the log: to the second (or as ``form`` says), UTC."""
    return moment.astimezone(dt.timezone.utc).strftime(form) if moment else "-"


def resume_at(bookmarks: list[dt.datetime | None]) -> str:
    """Where the project's next run starts, in words: after the oldest of its streams' bookmarks."""
    known = [mark for mark in bookmarks if mark is not None]
    bookmark = min(known) if known and len(known) == len(bookmarks) else None
    if bookmark is None:
        return "from the start of the history the API keeps"
    # As the state holds it (the reader writes milliseconds: ".088Z", not isoformat's ".088000").
    spec = "milliseconds" if bookmark.microsecond % 1000 == 0 else "microseconds"
    at = bookmark.astimezone(dt.timezone.utc).isoformat(timespec=spec).replace("+00:00", "Z")
    return f"after the version published at {at}"
