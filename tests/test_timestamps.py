"""Epoch times as RFC 3339: read by magnitude, exact to the millisecond, out of range refused."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tap_aphex.timestamps import (
    SECONDS_BELOW,
    TimeOutOfRange,
    epoch_ms_to_rfc3339,
    epoch_to_rfc3339,
    recent_text,
    rfc3339_to_datetime,
)

FIRST_MS = -2_208_988_800_000  # 1900-01-01T00:00:00.000Z
LAST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_614_587_767_389, "2021-03-01T08:36:07.389Z"),  # milliseconds, as documented
        (1_614_587_767, "2021-03-01T08:36:07.000Z"),  # seconds (the vendor's 11-digit sample)
        (1_614_587_767.389, "2021-03-01T08:36:07.389Z"),  # seconds with a fraction
        (1_614_587_767_389.0, "2021-03-01T08:36:07.389Z"),  # milliseconds as a float
        (0, "1970-01-01T00:00:00.000Z"),
        (SECONDS_BELOW - 1, "5138-11-16T09:46:39.000Z"),  # the largest number read as seconds
        (SECONDS_BELOW, "1973-03-03T09:46:40.000Z"),  # the smallest read as milliseconds
        (-1, "1969-12-31T23:59:59.000Z"),  # before 1970: seconds
        (FIRST_MS, "1900-01-01T00:00:00.000Z"),
        (LAST_MS, "9999-12-31T23:59:59.999Z"),
        (1_614_643_199_999, "2021-03-01T23:59:59.999Z"),  # the last millisecond of a day
        (1_614_643_200_000, "2021-03-02T00:00:00.000Z"),  # and the first of the next
    ],
)
def test_epoch_numbers_become_utc_date_times_with_milliseconds(value: float, expected: str) -> None:
    assert epoch_to_rfc3339(value) == expected
    assert epoch_ms_to_rfc3339(value) == expected


@pytest.mark.parametrize(
    "value",
    [FIRST_MS - 1, LAST_MS + 1, 10**20, -(10**20), float("inf"), float("-inf"), float("nan")],
)
def test_numbers_that_are_no_plausible_time_are_refused(value: float) -> None:
    with pytest.raises(TimeOutOfRange):
        epoch_to_rfc3339(value)


@pytest.mark.parametrize("value", [True, "1614587767389", [1], {"t": 1}])
def test_the_old_entry_point_refuses_what_is_not_a_number(value: object) -> None:
    with pytest.raises(ValueError, match="expected an epoch time"):
        epoch_ms_to_rfc3339(value)


def test_the_old_entry_point_keeps_none() -> None:
    assert epoch_ms_to_rfc3339(None) is None


@given(st.integers(min_value=SECONDS_BELOW, max_value=LAST_MS))
def test_integer_milliseconds_agree_with_datetime(millis: int) -> None:
    expected = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(milliseconds=millis)
    text = epoch_to_rfc3339(millis)
    assert rfc3339_to_datetime(text) == expected
    assert text == f"{expected:%Y-%m-%dT%H:%M:%S}.{expected.microsecond // 1000:03d}Z"


@given(st.integers(min_value=SECONDS_BELOW, max_value=LAST_MS))
def test_a_recent_text_is_the_conversions_text(millis: int) -> None:
    text = epoch_to_rfc3339(millis)
    assert recent_text(millis) == text
    assert recent_text(millis + 0.25) is None  # a time never converted (this test converts ints)
