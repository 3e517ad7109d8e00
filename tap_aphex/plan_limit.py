"""How many published versions to ask a project for (`limit`): grow to reach back, shrink on 500.

Pure (no HTTP), so each rule has a table-driven test. The stream asks with `limit`, tells the
policy what came back, and does what the returned `Step` says.

- A response holding as many versions as asked may have left older ones out. When the run must
  reach further back (a first run reads the whole history the API keeps; a later run reads back to
  the last version landed), `limit` doubles, up to `MAX_LIMIT`.
- HTTP 500 is how the API says a response is over its 32 MB limit; the vendor's advice is to ask
  for less. The first 500 of a read is tried again as asked (it may be passing); later ones halve
  `limit`. Once a size is known to fail, growth stops short of it; when the next size worth asking
  for is no larger than one already answered, nothing older can be had: `SIZE_LIMIT`.
"""

from __future__ import annotations

import enum

#: How far `limit` grows. The API keeps six months of history: 26 weekly versions, 183 daily.
MAX_LIMIT = 1000


class Step(enum.Enum):
    DONE = "done"  # the response reached back far enough
    GROW = "grow"  # ask again, for more versions
    RETRY = "retry"  # ask again as before (a first 500 may be passing)
    SHRINK = "shrink"  # ask again, for fewer versions (the response was too large)
    SIZE_LIMIT = "size limit"  # older versions are out of reach of the response size limit
    CAP = "cap"  # MAX_LIMIT reached and every version was still needed
    FAILED = "failed"  # a 500 even when asking for one version


class LimitPolicy:
    """The `limit` for one project's read; `limit` is what to ask for next."""

    def __init__(self, configured: int, *, cap: int = MAX_LIMIT) -> None:
        self.limit = configured
        self.cap = max(cap, configured)
        self.answered = 0  # the largest limit the API answered in this read
        self.too_large: int | None = None  # the smallest limit refused as too large
        self._server_errors = 0

    def after_response(self, received: int, *, reached_back: bool) -> Step:
        """A response held ``received`` versions; ``reached_back``: it reached as far as needed."""
        self.answered = max(self.answered, self.limit)
        if reached_back or received < self.limit:
            return Step.DONE
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
