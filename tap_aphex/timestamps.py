"""Epoch times as RFC 3339 UTC date-times, the one conversion both APIs need.

The vendor documents epoch milliseconds, but its own sample status has an 11-digit ``createdAt``, so
a time is read by its magnitude: below 10^11 it is seconds (10^11 s is the year 5138), otherwise
milliseconds (10^11 ms is March 1973, before any Aphex data). A time that falls outside the years
1900 to 9999 either way is out of range: the caller keeps it raw rather than guess.
"""

from __future__ import annotations

import datetime as dt
import math

SECONDS_BELOW = 10**11
_MS_PER_DAY = 86_400_000
_EPOCH = dt.date(1970, 1, 1)
_FIRST_MS = -2_208_988_800_000  # 1900-01-01T00:00:00.000Z
_LAST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


class TimeOutOfRange(ValueError):
    """An epoch number that is no plausible time in either unit."""


def epoch_to_rfc3339(value: int | float) -> str:
    """``value`` (epoch seconds or milliseconds, by magnitude) as ``2021-03-01T08:36:07.389Z``.

    The same times come back again and again (each update of a task repeats its statuses, its
    start and its end), so recent texts are kept: a bounded table, emptied when full.
    """
    text = _texts.get(value)
    if text is None:
        text = _text(value)
        if len(_texts) >= _TEXTS_KEPT:
            _texts.clear()
        _texts[value] = text
    return text


_TEXTS_KEPT = 10_000  # under a megabyte; a page of 4,000 events holds some 25,000 times
_texts: dict[int | float, str] = {}  # an int and a float that are equal give the same text

#: The text of a time converted lately, else None: one lookup, for loops over thousands of times
#: (`epoch_to_rfc3339` gives the same text, at the cost of a call).
recent_text = _texts.get


def _text(value: int | float) -> str:
    """The conversion itself. Integer arithmetic keeps the milliseconds exact (a float division
    can land a millisecond off); the usual case (integer milliseconds) takes the short path, and
    the text comes from per-day and per-number tables rather than from format specs.
    """
    if type(value) is int and value >= SECONDS_BELOW:
        millis = value
    elif isinstance(value, float) and not math.isfinite(value):
        raise TimeOutOfRange(f"{value!r} is not a time")
    else:
        millis = round(value * 1000) if abs(value) < SECONDS_BELOW else round(value)
    if not _FIRST_MS <= millis <= _LAST_MS:
        raise TimeOutOfRange(f"{value!r} is outside the years 1900-9999 in seconds and in ms")
    days, in_day = divmod(millis, _MS_PER_DAY)
    seconds, ms = divmod(in_day, 1000)
    minutes, second = divmod(seconds, 60)
    day = _days.get(days) or _day(days)
    return f"{day}{_TWO[minutes // 60]}:{_TWO[minutes % 60]}:{_TWO[second]}.{_THREE[ms]}Z"


_TWO = [f"{n:02d}" for n in range(60)]
_THREE = [f"{n:03d}" for n in range(1000)]
_days: dict[int, str] = {}


def _day(days_since_epoch: int) -> str:
    """The date part and its "T", computed once per day seen (a log has many events a day)."""
    text = f"{(_EPOCH + dt.timedelta(days=days_since_epoch)).isoformat()}T"
    if len(_days) < 100_000:  # bounded: a few centuries of distinct days at most
        _days[days_since_epoch] = text
    return text


def epoch_ms_to_rfc3339(value: object) -> str | None:
    """The old entry point: None stays None; anything but a number is a ValueError."""
    if value is None:
        return None
    if type(value) is int or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return epoch_to_rfc3339(value)
    msg = f"expected an epoch time, got {type(value).__name__} {value!r:.40}"
    raise ValueError(msg)


def rfc3339_to_datetime(value: str) -> dt.datetime:
    """Parse a date-time this module wrote (``fromisoformat`` reads "Z" only from Python 3.11)."""
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
