"""How far back one project's read of published plans goes, and what it tells the log.

`LimitPolicy` decides the `limit` of each request (pure: no HTTP, each rule table-tested);
`ProjectRead` holds what one project's read needs and landed, and the functions below word it.

- A response holding as many versions as asked may have left older ones out. When the run must
  reach further back (a first run reads the whole history the API keeps; a later run reads back to
  the last version landed), `limit` doubles, up to `MAX_LIMIT`.
- A response holding fewer versions than asked whose oldest is still newer than the bookmark
  leaves a gap: the versions between were not answered (a server that caps `limit`, or versions
  past the API's six months). Asking for more cannot close it (`GAP`): the project's bookmarks
  stay where they were, so no version is ever passed over, and a WARNING says how many versions
  are missing and between which dates (`gap`).
- HTTP 500 is how the API says a response is over its 32 MB limit; the vendor's advice is to ask
  for less. The first 500 of a read is tried again as asked (it may be passing); later ones halve
  `limit`. Once a size is known to fail, growth stops short of it; when the next size worth asking
  for is no larger than one already answered, nothing older can be had: `SIZE_LIMIT`.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import typing as t
from dataclasses import dataclass

from tap_aphex.report import AphexError

if t.TYPE_CHECKING:
    from collections.abc import Sequence

    from tap_aphex.streams.plan_answers import ProjectDownload
    from tap_aphex.streams.plan_document import PublishedVersion

#: How many of the slowest projects the run's summary names.
SLOWEST_NAMED = 3

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
        """A response held ``received`` versions; ``reached_back``: it reached as far as needed.

        ``short_of``: its oldest version is newer than the bookmark (there is one, and a version
        of the response could be placed before it); then fewer versions than asked is a gap.
        """
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
    oldest_bookmark: dt.datetime | None  # None: some selected stream has none, read it all
    policy: LimitPolicy
    step: Step = Step.DONE
    bookmark_version: object = None  # the `version` of the last landed at the oldest bookmark
    received: int = 0  # versions in the last answer
    asked: int = 0  # the `limit` of the last answer
    landed: int = 0
    first: dt.datetime | None = None  # the oldest version landed
    first_version: object = None  # its `version` (a number, in the assumed shape)
    last: dt.datetime | None = None  # the newest version landed

    def land(self, version: PublishedVersion) -> None:
        self.landed += 1
        if self.first is None or version.published < self.first:
            self.first, self.first_version = version.published, version.record.get("version")
        self.last = max(self.last or version.published, version.published)

    @property
    def left_a_gap(self) -> bool:
        """Versions newer than the bookmark may be missing: its bookmarks must not move."""
        return self.oldest_bookmark is not None and self.step in (
            Step.GAP,
            Step.SIZE_LIMIT,
            Step.CAP,
        )


def ask_again(logger: logging.Logger, read: ProjectRead, received: int) -> bool:
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
        first_run = read.oldest_bookmark is None  # expected then: its closing line says it all
        logger.log(
            logging.DEBUG if first_run else logging.INFO,
            "Project %s: the API returned %d versions, as many as asked, and older ones are "
            "still needed (%s); asking for %d.",
            label,
            received,
            "the whole history" if first_run else "back to the last landed",
            limit,
        )
    elif read.step is Step.FAILED:
        msg = "server error (HTTP 500) even when asking for one published version"
        raise AphexError(msg)
    return read.step in (Step.RETRY, Step.SHRINK, Step.GROW)


def landed(logger: logging.Logger, read: ProjectRead, version: PublishedVersion) -> None:
    """One INFO line per version landed: project, version, published date, rows per table.

    A project's first run lands its whole history (26 weekly versions in six months): those lines
    go to DEBUG, and the run's closing line for the project says how many landed and from when.
    """
    counts = version.record["rowCounts"]
    logger.log(
        logging.DEBUG if read.oldest_bookmark is None else logging.INFO,
        "Project %s: version %s (%s) published %s landed: %s.",
        version.label,
        version.record["version"],
        version.id,
        version.record["publishedAt"],
        ", ".join(f"{count} {table}" for table, count in counts.items()),
    )


def project_read(logger: logging.Logger, read: ProjectRead) -> None:
    """How far back a project's read got, when it is news: a first run, or older versions lost."""
    span = f"published {day(read.first)} to {day(read.last)}" if read.landed else "none new"
    if read.left_a_gap:
        gap(logger, read)
    elif read.step in (Step.SIZE_LIMIT, Step.CAP):
        why = (
            "the API's 32 MB response limit"
            if read.step is Step.SIZE_LIMIT
            else f"the tap's cap of {read.policy.limit} versions a request"
        )
        logger.warning(
            "Project %s: %s keeps older versions out of reach: %d versions landed (%s), "
            "reaching back to %s; versions published before that%s cannot be fetched.",
            read.label,
            why,
            read.landed,
            span,
            day(read.first),
            "" if read.oldest_bookmark is None else f" (and after {day(read.oldest_bookmark)})",
        )
    elif read.oldest_bookmark is None:
        logger.info(
            "Project %s: read the whole history the API keeps (its first run, or a table newly "
            "selected): %d versions landed (%s).",
            read.label,
            read.landed,
            span,
        )


def gap(logger: logging.Logger, read: ProjectRead) -> None:
    """The WARNING for versions newer than the bookmark that the API did not answer."""
    assert read.oldest_bookmark is not None  # a gap is between the bookmark and the answer
    if read.step is Step.GAP:
        why = (
            f"the API answered {read.received} versions, fewer than the {read.asked} asked, and "
            f"the oldest of them (published {when(read.first)}) is newer than the last version "
            f"landed (published {when(read.oldest_bookmark)})"
        )
    elif read.step is Step.SIZE_LIMIT:
        why = "the API's 32 MB response limit keeps older versions out of reach"
    else:
        why = f"the tap's cap of {read.policy.limit} versions a request keeps older ones away"
    missed = "an unknown number of versions"
    if isinstance(read.first_version, int) and isinstance(read.bookmark_version, int):
        count = read.first_version - read.bookmark_version - 1
        if count > 0:
            missed = f"{count} version{'s' if count != 1 else ''}"
    logger.warning(
        "Project %s: %s: %s published between %s and %s did not land. The project's bookmarks "
        "stay at %s, so the next run asks for them again (the %d versions that landed now land "
        "again then, which an upsert on the key absorbs); raise `published_plans_limit` or ask "
        "the vendor if this repeats.",
        read.label,
        why,
        missed,
        when(read.oldest_bookmark),
        when(read.first) if read.first else "now",
        when(read.oldest_bookmark),
        read.landed,
    )


def when(moment: dt.datetime | None) -> str:
    """A version's time in the log: to the second, UTC."""
    if moment is None:
        return "-"
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def download_started(logger: logging.Logger, download: ProjectDownload, projects: int) -> None:
    """When a project's first request goes out (its place in the run, the `limit` asked)."""
    logger.info(
        "Project %s: requesting its published plans (project %d of %d, limit=%d).",
        download.read.label,
        download.order,
        projects,
        download.read.policy.limit,
    )


def download_ended(logger: logging.Logger, download: ProjectDownload) -> None:
    """How long a project's requests took, from the first sent to the last byte received."""
    logger.info(
        "Project %s: answered in %.2f s (%d request%s, %.1f MB).",
        download.read.label,
        download.seconds,
        download.requests,
        "" if download.requests == 1 else "s",
        download.bytes / 1e6,
    )


def downloads_summary(
    logger: logging.Logger, downloads: Sequence[ProjectDownload], workers: int
) -> str | None:
    """The summary's line on the downloads: how long they took together, the slowest projects."""
    done = [d for d in downloads if d.started is not None and d.finished]
    if not done:
        return None
    begun = min(t.cast("float", d.started) for d in done)
    ended = max(t.cast("float", d.started) + d.seconds for d in done)
    slowest = sorted(done, key=lambda d: d.seconds, reverse=True)[:SLOWEST_NAMED]
    named = ", ".join(f"{d.read.label} ({d.seconds:.2f} s)" for d in slowest)
    line = (
        f"published plans: {len(done)} project{'s' if len(done) != 1 else ''} downloaded in "
        f"{ended - begun:.2f} s, up to {workers} at a time; slowest: {named}"
    )
    logger.debug("%s", line)
    return line


def newest(bookmark: dt.datetime | None, landed: dt.datetime | None) -> dt.datetime | None:
    return max(bookmark, landed) if bookmark and landed else bookmark or landed


def day(when: dt.datetime | None) -> str:
    return when.strftime("%Y-%m-%d") if when else "-"


def resume_at(bookmarks: list[dt.datetime | None]) -> str:
    """Where the project's next run starts, in words: after the oldest of its streams' bookmarks."""
    known = [mark for mark in bookmarks if mark is not None]
    bookmark = min(known) if known and len(known) == len(bookmarks) else None
    if bookmark is None:
        return "from the start of the history the API keeps"
    # As the state holds it (the reader writes milliseconds: ".088Z", not isoformat's ".088000").
    spec = "milliseconds" if bookmark.microsecond % 1000 == 0 else "microseconds"
    when = bookmark.astimezone(dt.timezone.utc).isoformat(timespec=spec).replace("+00:00", "Z")
    return f"after the version published at {when}"
