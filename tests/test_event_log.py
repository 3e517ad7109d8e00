"""The task-event log's cursor rules on their own: where a run starts, when it stops, what it
refuses. The paginator reads `requests.Response` objects built here, as the SDK hands it them."""

from __future__ import annotations

import logging
import typing as t

import msgspec
import pytest
import requests

from tap_aphex.report import ConfigError
from tap_aphex.settings import DAILY_QUOTA
from tap_aphex.streams.event_log import (
    EMPTY_PAGES_FOLLOWED,
    EventLogPaginator,
    PaginationLoopError,
)
from tap_aphex.streams.log_position import (
    Bookmark,
    RecentIds,
    Start,
    check_state,
    read_bookmark,
    resume_words,
    start_of_run,
)
from tap_aphex.streams.task_events import TaskEventsStream

NEXT_PAGE = str(TaskEventsStream.next_page_token_jsonpath)  # "$.nextStartAfter", as the stream


def events(*event_ids: str) -> list[dict[str, t.Any]]:
    return [{"eventId": event_id} for event_id in event_ids]


@pytest.mark.parametrize(
    ("entry", "value", "problem"),
    [
        ({}, None, None),
        ({"starting_replication_value": None}, None, None),
        (
            {"progress_markers": {"replication_key_value": "e9"}},
            None,
            "only the SDK's progress_markers",
        ),
        ({"eventId": "e9"}, None, "no replication_key_value, only `eventId`"),
        ({"replication_key": "eventId", "replication_key_value": "e9"}, "e9", None),
        ({"replication_key": "eventId", "replication_key_value": 7}, None, "a number 7, not an id"),
        ({"replication_key": "eventId", "replication_key_value": None}, None, "is null, not an"),
        ({"replication_key": "eventId"}, None, "replication_key_value is missing, not an id"),
        ({"replication_key": "eventId", "replication_key_value": " "}, None, "is empty"),
        ({"replication_key": "createdAt", "replication_key_value": "e9"}, None, "not eventId"),
        ({"replication_key_value": "e9"}, None, "replication_key is missing"),
        ("e9", None, 'a string "e9", not an object'),
    ],
)
def test_read_bookmark(entry: object, value: str | None, problem: str | None) -> None:
    bookmark = read_bookmark("task_events", entry, "eventId")

    assert bookmark.value == value
    if problem is None:
        assert bookmark.problem is None
    else:
        assert bookmark.problem is not None
        assert problem in bookmark.problem


EVENTS_AT_E9 = Bookmark("task_events", "e9")
TASKS_AT_E9 = Bookmark("tasks", "e9")
TASKS_AT_E5 = Bookmark("tasks", "e5")
TASKS_NEW = Bookmark("tasks", None)
TASKS_BROKEN = Bookmark("tasks", None, "its replication_key_value is a number 7, not an id")


@pytest.mark.parametrize(
    ("bookmarks", "start_after", "cursor", "origin", "warned"),
    [
        ([EVENTS_AT_E9, TASKS_AT_E9], None, "e9", "state", None),
        ([EVENTS_AT_E9, TASKS_AT_E9], "s1", "e9", "state", None),  # the state wins, silently
        ([Bookmark("task_events", None)], None, None, "beginning", None),
        ([Bookmark("task_events", None)], "s1", "s1", "start_after", None),
        ([EVENTS_AT_E9, TASKS_AT_E5], "s1", "s1", "start_after", "the bookmarks differ"),
        (
            [EVENTS_AT_E9, TASKS_NEW],
            None,
            None,
            "beginning",
            "tasks has no bookmark while the others are at event e9",
        ),
    ],
)
def test_start_of_run(
    bookmarks: list[Bookmark],
    start_after: str | None,
    cursor: str | None,
    origin: str,
    warned: str | None,
) -> None:
    start = start_of_run(bookmarks, start_after)

    assert (start.cursor, start.origin) == (cursor, origin)
    if warned is None:
        assert start.warning is None
    else:
        assert start.warning is not None
        assert warned in start.warning
        assert "records already delivered may be sent again" in start.warning


@pytest.mark.parametrize(
    ("bookmarks", "refused"),
    [
        (
            {"task_events": {}, "tasks": {"replication_key": "eventId"}},
            "in the bookmark of tasks, ",
        ),
        (
            {"task_events": [], "tasks": []},
            "The state cannot be used: in the bookmark of task_events and tasks, its entry is",
        ),
    ],
)
def test_an_unusable_bookmark_is_refused_whatever_else_is_set(
    bookmarks: dict[str, t.Any], refused: str
) -> None:
    keys = {"task_events": "eventId", "tasks": "eventId"}
    with pytest.raises(ConfigError, match="Drop `--state`, or clear the state in Meltano") as said:
        check_state({"bookmarks": bookmarks}, keys, None)

    assert refused in str(said.value)


@pytest.mark.parametrize(
    ("last", "start", "words"),
    [
        ("e9", Start(), "after event e9"),
        (None, Start("s1", "start_after"), "after event s1 (`start_after`)"),
        (None, Start("e3", "state"), "after event e3 (the state)"),
        (None, Start(None, "beginning"), "from the first event"),
    ],
)
def test_resume_words(last: str | None, start: Start, words: str) -> None:
    assert resume_words(last, start) == words


def response(
    data: list[dict[str, t.Any]] | None, next_start_after: str | None = None
) -> requests.Response:
    """A Data API answer: a page (200), or "No Data" (204) when ``data`` is None."""
    answer = requests.Response()
    if data is None:
        answer.status_code = 204
        answer._content = b""
    else:
        answer.status_code = 200
        answer._content = msgspec.json.encode({"data": data, "nextStartAfter": next_start_after})
    return answer


def paginator_over(
    pages: list[requests.Response], start: str | None = None
) -> t.Iterator[str | None]:
    """Feed ``pages`` to a paginator, yielding each cursor it asks for next (None: the end)."""
    paginator = EventLogPaginator(NEXT_PAGE, start, logging.getLogger("tap-aphex"))
    for page in pages:
        assert not paginator.finished
        paginator.advance(page)
        yield None if paginator.finished else paginator.current_value


@pytest.mark.parametrize(
    "last_page",
    [
        response(events("c"), None),  # no cursor
        response([], None),
        response([], ""),  # an empty cursor is none
        response([], "a"),  # the same cursor again, with nothing new
        response(None),  # 204 No Data
    ],
)
def test_a_page_with_no_next_cursor_or_the_same_one_and_no_events_ends_the_log(
    last_page: requests.Response,
) -> None:
    cursors = list(paginator_over([response(events("a"), "a"), last_page]))

    assert cursors == ["a", None]


def test_no_data_ends_the_log_and_asks_for_no_further_empty_page() -> None:
    paginator = EventLogPaginator(NEXT_PAGE, "s", logging.getLogger("tap-aphex"))
    no_data = response(None)

    assert not paginator.continue_if_empty(no_data)
    paginator.advance(no_data)
    assert paginator.finished
    assert paginator.continue_if_empty(response([], "x"))  # a 200: its cursor decides


@pytest.mark.parametrize("start", [None, "s"])
def test_an_empty_page_with_a_new_cursor_is_followed(start: str | None) -> None:
    pages = [response([], "b"), response([], "c"), response(events("d"), "d"), response([], None)]

    assert list(paginator_over(pages, start)) == ["b", "c", "d", None]


def test_empty_pages_with_new_cursors_are_followed_only_so_far_in_a_row() -> None:
    def empties(run: str) -> list[requests.Response]:
        return [response([], f"{run}{n}") for n in range(EMPTY_PAGES_FOLLOWED)]

    # Events between two runs of empty pages: each run is counted from nothing.
    pages = [*empties("a"), response(events("e"), "e"), *empties("b"), response(events("f"), "f")]

    assert list(paginator_over(pages))[-1] == "f"
    with pytest.raises(PaginationLoopError, match=f"{EMPTY_PAGES_FOLLOWED + 1} empty pages in a"):
        list(paginator_over([*empties("a"), response([], "one-too-many")]))


@pytest.mark.parametrize(
    ("start", "next_cursors"),
    [
        ("s", ["s"]),  # the cursor just sent comes back with events
        (None, ["a", "b", "a"]),  # a cycle of three pages
        ("s", ["a", "s"]),  # back to where the run started
        ("s", ["a", "b", "s"]),  # the same, further on
    ],
)
def test_a_cursor_already_sent_in_this_run_is_refused(
    start: str | None, next_cursors: list[str]
) -> None:
    pages = [response(events(f"e{n}"), cursor) for n, cursor in enumerate(next_cursors)]

    with pytest.raises(PaginationLoopError, match="a cursor this run already sent"):
        list(paginator_over(pages, start))


def test_an_empty_page_leading_back_to_a_cursor_already_sent_is_refused() -> None:
    pages = [response(events("a"), "a"), response([], "b"), response([], "a")]

    with pytest.raises(PaginationLoopError, match="nextStartAfter=a, a cursor this run"):
        list(paginator_over(pages))


def test_ids_delivered_are_remembered_for_a_days_quota_then_forgotten_a_page_at_a_time() -> None:
    delivered = RecentIds()
    ids = [f"event-{n}" for n in range(DAILY_QUOTA + 4_000)]
    for event_id in ids:
        assert event_id not in delivered
        delivered.add(event_id)

    # The last 20,000 (a day's quota: every run the API's limit allows) are known; the page of
    # 4,000 before them is forgotten, so memory stays flat in a longer run.
    assert all(event_id in delivered for event_id in ids[-DAILY_QUOTA:])
    assert not any(event_id in delivered for event_id in ids[:4_000])


def test_ids_delivered_since_the_last_full_page_are_known_too() -> None:
    delivered = RecentIds(size=8, page=4)
    for event_id in "abcdefghijklmn":
        delivered.add(event_id)

    # Two full pages (e-h, i-l) and the two since (m, n); the oldest page (a-d) is forgotten.
    assert [event_id in delivered for event_id in "abcdefghijklmn"] == [False] * 4 + [True] * 10
