"""Where a run reads the task-event log from, what it has delivered (each event once), why it
stopped and where the next run resumes."""

from __future__ import annotations

import logging
import re
import typing as t
from array import array
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, replace

from tap_aphex.config_checks import cursor_problem
from tap_aphex.decoding import readable
from tap_aphex.inputs import START_AFRESH
from tap_aphex.report import ConfigError, CursorRejectedError, StopReason, quoted_body
from tap_aphex.settings import DAILY_QUOTA, MAX_PAGE_SIZE
from tap_aphex.streams import bookmark_problem, unusable_words

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import requests
    from singer_sdk.streams import Stream

    from tap_aphex.reader import Reader, Row


@dataclass(frozen=True)
class Bookmark:
    """One stream's position in the state: an event id, nothing (first run), or unusable."""

    stream: str
    value: str | None
    problem: str | None = None  # why the state's entry cannot be used, said in the warning


#: What the SDK writes in a stream's entry besides a position.
_SDK_KEYS = frozenset({"starting_replication_value", "replication_key_signpost"})


def read_bookmark(stream: str, entry: object, replication_key: str) -> Bookmark:
    """The bookmark in ``entry`` (the stream's part of the state), read from the state itself:
    the SDK's starting value falls back to a configured ``start_date``, never an event id."""
    if isinstance(entry, dict) and "partitions" in entry and not entry["partitions"]:
        # The SDK's, empty: task_events has no partitions, so any partition is a problem.
        entry = {name: value for name, value in entry.items() if name != "partitions"}
    problem = bookmark_problem(entry, replication_key, _SDK_KEYS, "an id", _id_problem)
    value = None if problem else t.cast("dict[str, str]", entry).get("replication_key_value")
    return Bookmark(stream, value, problem)


def _id_problem(text: str) -> str | None:
    problem = cursor_problem(text)  # as `start_after` is checked: the API would refuse it
    # Its words up to their advice, which is for a setting: the refusal says the state's.
    return re.split("[;:]", problem, maxsplit=1)[0] if problem else None


def bookmarks_of(stream: Stream) -> list[Bookmark]:
    """The bookmarks of ``stream`` and the streams it feeds, those selected, as the state holds
    them (`stream_state` would make an entry for each, so that the SDK's first STATE names it)."""
    state = stream.tap_state.get("bookmarks", {})
    return [
        read_bookmark(each.name, state.get(each.name, {}), str(stream.replication_key))
        for each in (stream, *stream.child_streams)
        if each.selected
    ]


def check_state(
    state: t.Mapping[str, t.Any] | None, keys: t.Mapping[str, str], name: str | None
) -> None:
    """A state holding a log bookmark the tap cannot have written is refused, whatever this run
    selects: reading the log again would spend the quota on events delivered already, and a run
    that left it as it is would carry it on. ``keys``: each log stream's replication key;
    ``name``: the state file's."""
    bookmarks = (state or {}).get("bookmarks") or {}
    marks = [read_bookmark(s, bookmarks[s], key) for s, key in keys.items() if s in bookmarks]
    if why := unusable_words((mark.stream, mark.problem) for mark in marks):
        raise ConfigError(
            f"The state{f' file {name}' if name else ''} cannot be used: {why}. "
            f"{START_AFRESH[0].upper()}{START_AFRESH[1:]} (from `start_after`, or the first "
            "event); or fix the bookmark: the eventId of the last event delivered, as the tap "
            "wrote it."
        )


@dataclass(frozen=True)
class Start:
    """Where a run starts reading the log, where that came from, and what to warn about."""

    cursor: str | None = None
    origin: t.Literal["state", "start_after", "beginning"] = "beginning"
    warning: str | None = None

    @property
    def source(self) -> str:
        return "the state" if self.origin == "state" else "`start_after`"

    def describe(self) -> str:
        if self.cursor is None:
            return "from the first event"
        return f"after event {readable(self.cursor)} ({self.source})"


def start_of_run(bookmarks: Iterable[Bookmark], start_after: str | None) -> Start:
    """Where a run starts. The streams of ``bookmarks`` (the selected ones) checkpoint together:
    theirs differ only when the selection changed or the state was edited, and then none is used
    (ids are random, so bookmarks cannot be compared)."""
    marks = sorted(bookmarks, key=lambda mark: mark.stream)
    fallback = Start(start_after, "start_after") if start_after else Start()
    values = {mark.value for mark in marks}
    if len(values) == 1:
        (shared,) = values
        return Start(shared, "state") if shared is not None else fallback
    if len(values - {None}) == 1:  # some streams have a position, the others none at all
        shared = next(value for value in values if value is not None)
        names = [mark.stream for mark in marks if mark.value is None]
        new, has = " and ".join(names), "has" if len(names) == 1 else "have"
        why = (
            f"{new} {has} no bookmark while the others are at event {readable(shared)} (a "
            "stream newly selected, or a state written by a version of the tap without it); the "
            "whole log is read again, which spends the daily quota (20,000 events a day) for as "
            f"many days as the log is long. To go on from event {readable(shared)} instead, "
            f"deselect {new}"
        )
    else:
        pairs = ", ".join(f"{mark.stream}={readable(mark.value or 'none')}" for mark in marks)
        cause = "the selection changed, or not every stream's last state was kept"
        why = f"the bookmarks differ ({pairs}; {cause})"
    warning = (
        f"State: {why}. Reading {fallback.describe()} so that no stream misses an event; records "
        "already delivered may be sent again. To start elsewhere, set `start_after` or fix the "
        "state."
    )
    return replace(fallback, warning=warning)


def resume_words(last_delivered: str | None, start: Start) -> str:
    """Where the next run resumes, in words for the closing summary."""
    return f"after event {readable(last_delivered)}" if last_delivered else start.describe()


#: What a stop mid-log keeps, as its messages say it.
KEPT = "the state keeps the last event delivered, and the next run asks again from there"


def asked(cursor: str | None) -> str:
    return f"startAfter={readable(cursor)}" if cursor else "no startAfter"


#: Starting afresh from a state the API refused; one constant: `airbyte.writer` says Airbyte's way.
CLEAR_STATE = (
    "remove the task_events, tasks and task_statuses bookmarks from that state (`meltano state "
    "get <state id>`, then `meltano state set --force <state id> '<the state without them>'`; "
    "`meltano state list` shows the id; `meltano state clear` drops the plans' too), or run "
    "tap-aphex without `--state`"
)


class StateCursorRejectedError(CursorRejectedError, ConfigError):
    """The Data API refused the cursor the state holds: the state is the user's to fix (under
    Airbyte a `config_error`: the platform passed it)."""


def refused_query(
    response: requests.Response, cursor_sent: str | None, start: Start, page_size_sent: int | None
) -> CursorRejectedError:
    """The Data API's 400, with what to do about the query that was sent."""
    error: type[CursorRejectedError] = CursorRejectedError
    if cursor_sent and cursor_sent != start.cursor:
        advice = f"That cursor is the nextStartAfter of the Data API's previous page; {KEPT}."
    elif cursor_sent and start.origin == "state":
        advice = (  # not "resumes there": every run from that state is refused the same way
            "That cursor is the state's (of task_events, tasks and task_statuses), and the Data "
            "API does not know it: nothing was read, and every run from that state stops here. "
            f"To start again from `start_after` (or the first event), {CLEAR_STATE}."
        )
        error = StateCursorRejectedError  # the state's to fix
    elif cursor_sent or page_size_sent:
        checks = [
            *(["`start_after` (an eventId you received)"] if cursor_sent else []),
            *(["`page_size`"] if page_size_sent else []),
        ]
        advice = f"Check {' and '.join(checks)}."
    else:  # a first request with nothing of ours in it: the URL is what is refused
        advice = CHECK_URL
    size = f", pageSize={page_size_sent}" if page_size_sent else ""
    return error(
        f"The Data API refused the query (HTTP 400): {asked(cursor_sent)}{size}."
        f"{quoted_body(response)} {advice}"
    )


CHECK_URL = "Check `api_url`: copy it again from the Data API's documentation."


def not_found(start: Start) -> str:
    """What a 404 from a URL that never answered in this run most likely means."""
    if not start.cursor:
        return CHECK_URL
    # The vendor documents a 400 for a cursor it does not know, but a 404 may mean that too.
    return (
        f"{CHECK_URL} If it is right, the cursor sent ({asked(start.cursor)}, from "
        f"{start.source}) may be what the API does not know."
    )


def not_found_again(cursor_sent: str | None, last_checkpoint: str | None) -> str:
    """What a 404 means from the URL that answered before, and what the state keeps."""
    why = "no longer knows that cursor" if cursor_sent else "failed"
    kept = (
        f"The events before it are delivered: {KEPT}"
        if last_checkpoint
        else "Nothing was delivered: the next run starts where this one did"
    )
    return (
        f"The page asked with {asked(cursor_sent)} was not found, though the Data API answered "
        f"at this URL earlier in this run, so the URL is right (the API {why}, or a proxy did). "
        f"{kept}. If it persists, tell Aphex (hello@aphex.co)."
    )


class RecentIds:
    """The hashes of the last ``size`` event ids this run delivered, the oldest forgotten a page
    at a time: a day's quota covers every run the API's limit allows, and memory stays flat in a
    backfill. Sealed pages are sorted 8-byte arrays: 20,000 Python ints held about 5 MiB of the
    heap at 100,000 events (benchmarks)."""

    def __init__(self, size: int = DAILY_QUOTA, page: int = MAX_PAGE_SIZE) -> None:
        self._sealed: deque[array[int]] = deque(maxlen=max(1, size // page))
        self._recent: set[int] = set()
        self._page = page

    def __contains__(self, event_id: str) -> bool:
        key = hash(event_id)
        if key in self._recent:
            return True
        for hashes in self._sealed:
            at = bisect_left(hashes, key)
            if at < len(hashes) and hashes[at] == key:
                return True
        return False

    def add(self, event_id: str) -> None:
        self._recent.add(hash(event_id))
        if len(self._recent) >= self._page:
            self._sealed.append(array("q", sorted(self._recent)))  # the oldest page drops out
            self._recent = set()

    def first_deliveries(
        self, events: Iterable[Row], reader: Reader, after: str | None
    ) -> list[Row]:
        """The events not delivered yet, now added. One served again (asked ``after``) is dropped
        with a WARNING: `tasks` would apply it over a newer copy."""
        new = []
        for event in events:
            if event["eventId"] in self:
                reader.warn_once(
                    ("again", event["eventId"]),
                    f"Event {readable(event['eventId'])} came again (asked with {asked(after)}), "
                    "though it was delivered already (in this run, or as the event it started "
                    "after): not sent twice; the copy delivered first stands, in `tasks` too.",
                )
            else:
                self.add(event["eventId"])
                new.append(event)
        return new


def progress_words(count: int) -> str:
    share = 100 * count / DAILY_QUOTA
    return f"{_events_read(count)} ({share:.0f}% of the {DAILY_QUOTA:,}-a-day quota)"


def stop_words(
    reason: StopReason, count: int, resume_at: str | None, waited: float
) -> tuple[int, str] | None:
    """The line (level, text) saying why the reading stopped; None: a failure says its own.
    ``resume_at`` None: a connection test, which no run resumes."""
    read = _events_read(count)
    resumes = f"; the next run resumes {resume_at}." if resume_at else "."
    if reason is StopReason.DAILY_LIMIT:
        return logging.WARNING, (
            f"The Data API's daily event limit is reached (HTTP 503; {waited:.0f} s waited for it "
            f"in this run, within `retry_budget_seconds`) after {read}{resumes}"
        )
    if reason is StopReason.MAX_EVENTS:
        return logging.INFO, f"Stopping after {read} (`max_events_per_run`){resumes}"
    if reason is StopReason.END_OF_LOG:
        return logging.INFO, f"Reached the end of the log: {read}{resumes}"
    return None


def _events_read(count: int) -> str:
    return f"{count:,} event{'' if count == 1 else 's'} read in this run"
