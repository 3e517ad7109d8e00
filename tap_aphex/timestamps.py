"""Epoch-millisecond times as RFC 3339 UTC date-times, the one conversion both APIs need."""

from __future__ import annotations

import datetime as dt

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def epoch_ms_to_rfc3339(value: object) -> str | None:
    """Return ``value`` (epoch milliseconds) as e.g. ``2021-03-01T08:36:07.389Z``; None stays None.

    Integer arithmetic keeps the milliseconds exact (a float division can land a microsecond off).
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        msg = f"expected epoch milliseconds, got {type(value).__name__} {value!r:.40}"
        raise ValueError(msg)
    moment = _EPOCH + dt.timedelta(milliseconds=int(value))
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rfc3339_to_datetime(value: str) -> dt.datetime:
    """Parse a date-time this module wrote (``fromisoformat`` reads "Z" only from Python 3.11)."""
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
