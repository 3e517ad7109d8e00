"""A response body read against a deadline, so `request_timeout` bounds the whole response."""

from __future__ import annotations

import time
import typing as t

import requests

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from urllib3 import BaseHTTPResponse

CHUNK = 64 * 1024


class ResponseTooSlow(requests.exceptions.ReadTimeout):
    """The response did not arrive in full within `request_timeout`; its message says so."""


class BodyWithDeadline:
    """Stands in for `requests.Response.raw` (urllib3's response), checking the clock per read.

    Reads go through urllib3's `read1`, which returns what has arrived after at most one socket
    read, so a body that trickles in is cut off at the deadline (give or take one socket read,
    which requests' own timeout bounds). Everything else is urllib3's response itself.
    """

    def __init__(self, raw: BaseHTTPResponse, deadline: float, late: str) -> None:
        self.__dict__.update(_raw=raw, _deadline=deadline, _late=late)

    def __getattr__(self, name: str) -> t.Any:
        return getattr(self._raw, name)

    def __setattr__(self, name: str, value: object) -> None:
        setattr(self._raw, name, value)  # e.g. `decode_content`, set by readers of the raw body

    def stream(
        self, amt: int | None = CHUNK, decode_content: bool | None = None
    ) -> Iterator[bytes]:
        """What requests' `iter_content` reads: chunks as they come, until the body ends."""
        while data := self.read1(amt or CHUNK, decode_content):
            yield data

    def read(self, amt: int | None = None, decode_content: bool | None = None) -> bytes:
        """File-like reads (ijson's): up to ``amt`` bytes, fewer only at the end; all if None."""
        if amt is not None:
            return self.read1(amt, decode_content)
        return b"".join(iter(lambda: self.read1(CHUNK, decode_content), b""))

    def read1(self, amt: int, decode_content: bool | None = None) -> bytes:
        self._check()
        data = self._raw.read1(amt, decode_content=decode_content) or b""  # None once closed
        self._check()
        return data

    def _check(self) -> None:
        if time.monotonic() > self._deadline:
            self._raw.close()  # no more of it: the connection is not reused with bytes pending
            raise ResponseTooSlow(self._late)
