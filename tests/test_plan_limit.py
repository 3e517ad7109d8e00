"""The `limit` policy, rule by rule: what the API answers, what the tap asks next (no HTTP)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import typing as t

import pytest

from tap_aphex.streams.plan_progress import LimitPolicy, Mark, ProjectRead, Step, numbered_on
from tap_aphex.streams.plan_report import say_how_far, server_errors

if t.TYPE_CHECKING:
    from singer_sdk import Stream

# An answer is ("ok", versions received, reached back far enough[, its bytes]) or ("500",). Its
# bytes are 0 unless given: no answer says what a 500 is, as when the size limit can be the cause.
# Reached back as SHORT: not, and there is a bookmark to reach (so a whole history is a gap).
SHORT = "short of a bookmark"
Answer = tuple[object, ...]

CASES: list[tuple[str, int, list[Answer], list[tuple[Step, int]]]] = [
    (
        "fewer versions than asked: the history is complete",
        5,
        [("ok", 3, False)],
        [(Step.DONE, 5)],
    ),
    (
        "more versions than asked (`limit` ignored): all the server gives, the history is complete",
        5,
        [("ok", 400, False)],
        [(Step.DONE, 5)],
    ),
    (
        "more than asked after growing: all the server gives too",
        5,
        [("ok", 5, False), ("ok", 12, False)],
        [(Step.GROW, 10), (Step.DONE, 10)],
    ),
    (
        "fewer than asked short of a bookmark: a gap",
        5,
        [("ok", 3, SHORT)],
        [(Step.GAP, 5)],
    ),
    (
        "more than asked short of a bookmark: a gap, not asked again",
        5,
        [("ok", 400, SHORT)],
        [(Step.GAP, 5)],
    ),
    (
        "as many as asked short of a bookmark: asked for more",
        5,
        [("ok", 5, SHORT)],
        [(Step.GROW, 10)],
    ),
    (
        "the bookmark reached: done even with a full response",
        5,
        [("ok", 5, True)],
        [(Step.DONE, 5)],
    ),
    (
        "full responses double the limit until one holds fewer",
        5,
        [("ok", 5, False), ("ok", 10, False), ("ok", 20, False), ("ok", 26, False)],
        [(Step.GROW, 10), (Step.GROW, 20), (Step.GROW, 40), (Step.DONE, 40)],
    ),
    (
        "a first 500 is tried again as asked",
        5,
        [("500",), ("ok", 2, False)],
        [(Step.RETRY, 5), (Step.DONE, 5)],
    ),
    (
        "a second 500 halves the limit",
        5,
        [("500",), ("500",), ("ok", 1, False)],
        [(Step.RETRY, 5), (Step.SHRINK, 2), (Step.DONE, 2)],
    ),
    (
        "growth stops short of a size known to fail",
        5,
        [("500",), ("500",), ("ok", 2, False), ("500",)],
        [(Step.RETRY, 5), (Step.SHRINK, 2), (Step.GROW, 4), (Step.SIZE_LIMIT, 4)],
    ),
    (
        "a 500 after growing: what a smaller limit returns was already read",
        5,
        [("ok", 5, False), ("500",), ("500",)],
        [(Step.GROW, 10), (Step.RETRY, 10), (Step.SIZE_LIMIT, 10)],
    ),
    (
        "growth asks for the largest size below the one that failed",
        4,
        [("500",), ("500",), ("ok", 2, False), ("ok", 2, False)],
        [(Step.RETRY, 4), (Step.SHRINK, 2), (Step.GROW, 3), (Step.DONE, 3)],
    ),
    (
        "full at the largest size below the failure: older versions are out of reach",
        4,
        [("500",), ("500",), ("ok", 2, False), ("ok", 3, False)],
        [(Step.RETRY, 4), (Step.SHRINK, 2), (Step.GROW, 3), (Step.SIZE_LIMIT, 3)],
    ),
    (
        "only the first 500 of a read is taken as passing",
        5,
        [("500",), ("ok", 5, False), ("500",)],
        [(Step.RETRY, 5), (Step.GROW, 10), (Step.SIZE_LIMIT, 10)],
    ),
    (
        "500s after an answer far below 32 MB: the server fails, not the size limit",
        5,
        [("ok", 5, False, 82_000), ("500",), ("500",)],
        [(Step.GROW, 10), (Step.RETRY, 10), (Step.FAILED, 10)],
    ),
    (
        "500s after an answer near 32 MB: the size limit",
        5,
        [("ok", 5, False, 20_000_000), ("500",), ("500",)],
        [(Step.GROW, 10), (Step.RETRY, 10), (Step.SIZE_LIMIT, 10)],
    ),
    (
        "growth held short of a failed size by answers far below it: the server fails",
        4,
        [("500",), ("500",), ("ok", 2, False, 40_000), ("ok", 3, False, 60_000)],
        [(Step.RETRY, 4), (Step.SHRINK, 2), (Step.GROW, 3), (Step.FAILED, 3)],
    ),
    (
        "a 500 even for one version fails the project",
        1,
        [("500",), ("500",)],
        [(Step.RETRY, 1), (Step.FAILED, 1)],
    ),
]


@pytest.mark.parametrize(
    ("configured", "answers", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_limit_policy(
    configured: int, answers: list[Answer], expected: list[tuple[Step, int]]
) -> None:
    policy = LimitPolicy(configured)
    steps = []
    for answer in answers:
        if answer[0] == "500":
            step = policy.after_server_error()
        else:
            received, reached_back, size = (*answer[1:], 0)[:3]
            step = policy.after_response(
                t_int(received),
                size=t_int(size),
                reached_back=reached_back is True,
                short_of=reached_back == SHORT,
            )
        steps.append((step, policy.limit))

    assert steps == expected


def test_growth_stops_at_the_cap() -> None:
    policy = LimitPolicy(5, cap=12)

    steps = [policy.after_response(policy.limit, size=0, reached_back=False) for _ in range(3)]

    assert steps == [Step.GROW, Step.GROW, Step.CAP]
    assert policy.limit == 12


def test_a_configured_limit_above_the_cap_is_asked_as_configured_and_not_grown() -> None:
    policy = LimitPolicy(2000, cap=1000)

    assert policy.after_response(2000, size=0, reached_back=False) is Step.CAP
    assert policy.limit == 2000


def t_int(value: object) -> int:
    assert isinstance(value, int)
    return value


@pytest.mark.parametrize(
    ("largest", "words"),
    [
        (0, "likely the API's 32 MB response limit, or the server failing"),  # none arrived
        (50_000, "likely the server failing: the largest answer that arrived was 50 KB, far "),
        (7_000_000, "likely the server failing: the largest answer that arrived was 7.0 MB, far"),
        (20_000_000, "likely the API's 32 MB response limit, or the server failing"),
    ],
)
def test_two_500s_are_said_by_the_size_of_the_answers_that_arrived(
    largest: int, words: str
) -> None:
    policy = LimitPolicy(5)
    policy.largest = largest

    assert server_errors(policy).startswith(words)


@pytest.mark.parametrize(
    ("numbers", "after", "proven"),
    [
        ([29, 27, 28], 26, True),  # any order
        ([27], 26, True),
        ([28, 29], 26, False),  # a hole: 27 missing
        ([27, 27, 28], 26, False),  # a repeat
        ([27, None, 28], 26, False),  # an entry with no number
        ([27, 28.0], 26, False),  # not a whole number
        ([27, True], 26, False),
        ([25, 26, 27], 26, True),  # older ones beside: only those past the bookmark count
        ([25, 28], 26, False),  # past it, but 27 missing
        ([25, 26], 26, False),  # none past it
        ([27, 28], None, False),  # no bookmark number
        ([], 26, False),
    ],
)
def test_numbers_prove_no_gap_only_when_they_run_on_from_the_bookmarks(
    numbers: list[object], after: object, proven: bool
) -> None:
    assert numbered_on(numbers, after) is proven


def test_a_read_the_taps_cap_stops_short_gives_no_advice_that_cannot_help(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """1,000 a request is the tap's cap and `published_plans_limit`'s maximum alike."""
    bookmark = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)
    stream = t.cast("Stream", Named("published_plans"))
    read = ProjectRead("P", {stream: Mark(when=bookmark, version=3)}, LimitPolicy(1000))
    read.step, read.landed = Step.CAP, 1000
    read.first = read.last = bookmark + dt.timedelta(days=1)

    warning = the_warning(read, caplog)

    assert "the tap's cap of 1000 versions a request keeps older versions out of reach" in warning
    assert "no request asks for more than 1000 versions" in warning
    assert "raise `published_plans_limit`" not in warning
    assert "furthest behind" not in warning  # one stream: nothing to tell apart


@dataclasses.dataclass(frozen=True)
class Named:
    """A stream, as a read's bookmarks know it: by its name."""

    name: str


def the_warning(read: ProjectRead, caplog: pytest.LogCaptureFixture) -> str:
    """The one WARNING `say_how_far` gives for ``read``."""
    with caplog.at_level(logging.WARNING):
        say_how_far(logging.getLogger("tap-aphex.test"), read)
    (warning,) = [record.getMessage() for record in caplog.records]
    return warning


def test_a_gap_of_streams_selected_apart_names_those_furthest_behind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    behind, ahead = (
        dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc),
        dt.datetime(2025, 8, 1, tzinfo=dt.timezone.utc),
    )
    marks = {
        t.cast("Stream", Named("published_plans")): Mark(when=ahead, version=9),
        t.cast("Stream", Named("published_plan_tasks")): Mark(when=behind, version=4),
    }
    read = ProjectRead("P", marks, LimitPolicy(10))
    read.step, read.received, read.landed = Step.GAP, 5, 5
    read.first = read.last = ahead + dt.timedelta(days=7)

    warning = the_warning(read, caplog)

    assert "the streams' bookmarks differ" in warning
    assert "published_plan_tasks is furthest behind" in warning
