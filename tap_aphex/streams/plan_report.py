"""What a project's read of its published plans says: the state's entries no read can use, its
bookmarks in the future, each step of its `limit` policy, each version that lands, how far back it
got and where the next run resumes. The decisions are `plan_progress`'s and `plan_downloads`'s;
their words are here, side by side, so that one reads as the next."""

from __future__ import annotations

import datetime as dt
import logging
import typing as t

from tap_aphex.decoding import described, listed, readable
from tap_aphex.streams import unusable_words
from tap_aphex.streams.plan_progress import BOOKMARK_VERSION, Step, is_count, mark_problem

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream

    from tap_aphex.streams.plan_document import PublishedVersion
    from tap_aphex.streams.plan_progress import LimitPolicy, Mark, ProjectRead

DAY = "%Y-%m-%d"  # a span of versions in the log, as days


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def when(moment: dt.datetime | None, form: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    """A version's time in the log: to the second (or as ``form`` says), UTC."""
    return moment.astimezone(dt.timezone.utc).strftime(form) if moment else "-"


def in_the_future(moment: dt.datetime) -> bool:
    return moment > dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)


def say_unused_state(logger: logging.Logger, stream: Stream, accounts: t.Collection[str]) -> None:
    """What in ``stream``'s state no read can use. A project no longer configured is named only
    when a configured one has no bookmark (its URL changed?); else its partition stays, unused."""
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
    for what in words:
        logger.warning(f"State: {stream.name} holds {what}: not used.")


def say_bookmarks_unread(
    logger: logging.Logger,
    bookmarks: t.Mapping[str, t.Any],
    read: t.Mapping[str, bool],
    accounts: t.Collection[str],
) -> None:
    """A bookmark the tap could not have written, in a partition this run does not read (``read``:
    whether each published-plans stream is; its project not among ``accounts``), goes on as it is
    in every STATE: said here, as `PublishedPlansStream.read_project` says one it reads."""
    problems: set[tuple[str, str | None]] = set()
    for name in read:
        bookmark = bookmarks.get(name, {})
        if not read[name] and "replication_key_value" in bookmark:
            problems.add(
                (name, "it holds a position outside `partitions` (each project's is its own)")
            )
        for partition in bookmark.get("partitions", []):
            account = partition["context"].get("accountId")
            if not read[name] or account not in accounts:
                project = f"{name} (project {readable(str(account), 40)})"
                problems.add((project, mark_problem(partition, "publishedAt")))
    if why := unusable_words(problems):
        logger.warning(
            f"The state's bookmarks cannot be used: {why}. Not read in this run, they stay in the "
            "state (but for the SDK's progress markers); a run that reads one reads its project "
            "from the start (versions already landed are sent again, which an upsert on the key "
            "absorbs)."
        )


def say_bookmarks_ahead(logger: logging.Logger, read: ProjectRead) -> None:
    """The state's bookmarks of the project that are in the future, each time once."""
    ahead: dict[tuple[str | None, object], list[str]] = {}
    for stream, mark in read.marks.items():
        if mark.when is not None and in_the_future(mark.when):
            ahead.setdefault((mark.text, mark.version), []).append(stream.name)
    for (text, number), names in ahead.items():
        no_number = f"no version lands (the state has no usable `{BOOKMARK_VERSION}`)"
        until = f"only a version numbered past {number} lands" if is_count(number) else no_number
        logger.warning(
            f"Project {read.label}: the state's bookmark of {listed(names)} ({text}) is in "
            f"the future: until then, {until}. If no version was published then, clear that "
            "project's state."
        )


def say_asking_again(logger: logging.Logger, read: ProjectRead) -> None:
    """Why the project is asked again (`Step.RETRY`, `SHRINK` or `GROW`), and with what limit."""
    limit, label = read.policy.limit, read.label
    if read.step is Step.RETRY:
        logger.warning(
            f"Project {label}: server error (HTTP 500) with limit={limit}; trying once more."
        )
    elif read.step is Step.SHRINK:
        logger.warning(
            f"Project {label}: server error (HTTP 500) again, {server_errors(read.policy)}; asking "
            f"again with limit={limit}."
        )
    elif read.step is Step.GROW:
        first_run = read.oldest is None  # expected then: its closing line says it all
        logger.log(
            logging.DEBUG if first_run else logging.INFO,
            f"Project {label}: the API returned {plural(read.received, 'version')}, as many as "
            f"asked, and older ones are still needed "
            f"({'the whole history' if first_run else 'back to the last landed'}); asking for "
            f"{limit}.",
        )


def server_fails(read: ProjectRead) -> str:
    """Why the project's read ends at `Step.FAILED`: HTTP 500s that are not its size limit."""
    failed = read.policy.too_large  # the limit the 500s came with
    why = (
        "even when asking for one published version"
        if failed == 1
        else f"again with limit={failed}, {server_errors(read.policy)}"
    )
    return (
        f"server error (HTTP 500) {why}: the project's server fails, not its size limit. Its "
        "bookmarks stay, so the next run asks again; if it lasts, tell Aphex (hello@aphex.co)"
    )


def server_errors(policy: LimitPolicy) -> str:
    """What a second HTTP 500 likely means, by the size of the answers that did arrive."""
    if policy.size_limit_likely:
        return "likely the API's 32 MB response limit, or the server failing"
    size = policy.largest
    words = f"{size / 1e6:.1f} MB" if size >= 1_000_000 else f"{max(1, round(size / 1e3))} KB"
    return (
        f"likely the server failing: the largest answer that arrived was {words}, far below "
        "the API's 32 MB response limit"
    )


def say_landed(
    logger: logging.Logger, read: ProjectRead, version: PublishedVersion, streams: list[Stream]
) -> None:
    """``version`` landed in ``streams`` (at DEBUG on a first run: its closing line sums up)."""
    said = f"Project {version.label}: version {version.record['version']} ({version.id})"
    published = version.record["publishedAt"]
    if in_the_future(version.published):
        logger.warning(
            f"{said} is published {published}, in the future (a clock gone wrong?). It "
            "lands, and the bookmark goes there: until that time, a later version lands only "
            "if its `version` number is higher."
        )
    tables = {getattr(stream, "table", None) for stream in streams}  # those selected
    rows = [f"{n} {name}" for name, n in version.record["rowCounts"].items() if name in tables]
    level = logging.DEBUG if read.oldest is None else logging.INFO
    logger.log(
        level, f"{said} published {published} landed{': ' if rows else ''}{', '.join(rows)}."
    )


def say_how_far(logger: logging.Logger, read: ProjectRead) -> None:
    """How far back a project's read got, when it is news: a first run, a gap, versions lost."""
    out_of_reach = {
        Step.SIZE_LIMIT: f"HTTP 500 when asking for more ({server_errors(read.policy)})",
        Step.CAP: f"the tap's cap of {read.policy.limit} versions a request",
    }.get(read.step)
    span = (
        f"published {when(read.first, DAY)} to {when(read.last, DAY)}"
        if read.landed
        else "none new"
    )
    landed = plural(read.landed, "version")
    if read.left_a_gap:
        oldest = t.cast("Mark", read.behind)  # a gap is between a bookmark and the answer
        since = when(oldest.when)
        if out_of_reach is None:  # fewer or more than asked: a gap, or a whole history short of it
            than = "fewer" if read.received < read.policy.limit else "more"
            why = (
                f"the API answered {plural(read.received, 'version')}, {than} than the "
                f"{read.policy.limit} asked, without the last version landed (published {since})"
            )
            advice = (
                f"a larger `published_plans_limit` cannot help (the server answers {than} than "
                "asked, or the versions fell out of the six months the API keeps): ask the "
                "vendor if this repeats; if that last version was deleted, clearing the "
                "project's state reads its history afresh"
            )
        else:
            why = f"{out_of_reach} keeps older versions out of reach"
            # Advice true to the cause: no setting asks for more than the tap's cap (MAX_LIMIT).
            advice = (
                "a larger `published_plans_limit` cannot help"
                if read.step is Step.SIZE_LIMIT
                else f"no request asks for more than {read.policy.limit} versions (the most "
                "`published_plans_limit` allows too)"
            ) + ": ask the vendor if this repeats"
        missed = "an unknown number of versions"
        if is_count(read.lowest) and is_count(oldest.version):
            count = read.lowest - oldest.version - 1
            if count > 0:
                missed = plural(count, "version")
        behind = [stream.name for stream, mark in read.marks.items() if mark.when == oldest.when]
        if len(behind) < len(read.marks):  # selected apart in earlier runs
            advice += (
                f"; the streams' bookmarks differ (selected apart in earlier runs): "
                f"{listed(behind)} {'is' if len(behind) == 1 else 'are'} furthest behind"
            )
        logger.warning(
            f"Project {read.label}: {why}: {missed} published between {since} and "
            f"{when(read.first) if read.first else 'now'} did not land. The project's bookmarks "
            f"stay at {since}, so the next run asks for them again (the {landed} that landed now "
            f"land again then, which an upsert on the key absorbs); {advice}."
        )
    elif out_of_reach and read.oldest is None:  # a first run
        logger.warning(
            f"Project {read.label}: {out_of_reach} keeps older versions out of reach: {landed} "
            f"landed ({span}), reaching back to {when(read.first, DAY)}; versions published "
            "before that cannot be fetched."
        )
    elif read.oldest is None:
        # A short answer is taken as the whole history: a server that caps `limit` looks the
        # same, so the oldest version's number is said, for a missing start to show.
        first = f", the oldest numbered {read.lowest}" if is_count(read.lowest) else ""
        logger.info(
            f"Project {read.label}: read the whole history the API keeps (its first run, or a "
            f"table newly selected): {landed} landed ({span}{first})."
        )


def resume_at(bookmarks: list[dt.datetime | None]) -> str:
    """Where the project's next run starts, in words: after the oldest of its streams' bookmarks."""
    if not bookmarks or None in bookmarks:
        return "from the start of the history the API keeps"
    bookmark = min(t.cast("list[dt.datetime]", bookmarks))
    # As the state holds it (the reader writes milliseconds: ".088Z", not isoformat's ".088000").
    spec = "milliseconds" if bookmark.microsecond % 1000 == 0 else "microseconds"
    at = bookmark.astimezone(dt.timezone.utc).isoformat(timespec=spec).replace("+00:00", "Z")
    return f"after the version published at {at}"
