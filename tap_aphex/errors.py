"""Errors a user can act on: each message says what went wrong and what to do.

They subclass the SDK's ``FatalAPIError`` so the SDK stops the stream instead of retrying, and the
CLI prints them as one line (no traceback, never a secret).
"""

from __future__ import annotations

import requests
import urllib3
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_aphex.logs import printable, run_secrets


class AphexError(FatalAPIError):
    """A failure the user can fix; its message is safe to print."""


class AuthenticationError(AphexError):
    """The API refused the credentials."""


class CursorRejectedError(AphexError):
    """The Data API refused the ``startAfter`` cursor we sent."""


class UnexpectedResponseError(AphexError):
    """A response that is not the documented JSON."""


class PaginationLoopError(AphexError):
    """The Data API returned events but no way forward."""


class RunFailedError(AphexError):
    """Raised once every stream has run, when some part of the run failed; the rest landed."""

    def __init__(self, failures: list[str], *, test: bool = False) -> None:
        self.failures = list(failures)
        if test:  # `--test` delivers nothing and keeps no state: nothing landed, nothing resumes
            what = "the connection test failed"
            super().__init__(f"{what}: " + " | ".join(failures))
            return
        what = "part of the run failed" if len(failures) == 1 else f"{len(failures)} parts failed"
        super().__init__(
            f"{what}, everything else landed (the state holds what was delivered, so the next "
            "run resumes there): " + " | ".join(failures)
        )


class RedirectRefusedError(AphexError):
    """The API answered with a redirect, which would carry the credentials elsewhere."""


class RetryBudgetExceededError(AphexError):
    """Waiting for another try would overrun `retry_budget_seconds`."""


class ConfigError(AphexError):
    """A config or state file, or an environment variable, the tap cannot use."""


#: What ends one stream or one project but not the run: the SDK's fatal and exhausted-retry
#: errors, and transport errors (urllib3's surface when a streamed body breaks off).
STREAM_FAILURES: tuple[type[Exception], ...] = (
    FatalAPIError,
    RetriableAPIError,
    requests.RequestException,
    urllib3.exceptions.HTTPError,
)


def describe(error: Exception) -> str:
    """One line for a failure; only our own errors' text is known to hold no secret."""
    if isinstance(error, FatalAPIError):  # ours (AphexError) and the SDK's
        return str(error)[:500]
    if isinstance(error, RetriableAPIError) and error.response is not None:
        # What failed only: whether anything landed or resumes is the run's to say (not a test's).
        return f"HTTP {error.response.status_code} {error.response.reason} persisted after retries"
    # Not worded by us: it may quote a key or token (escaped, too), or a URL's query values.
    text = printable(str(error), run_secrets(), limit=300)
    return f"{type(error).__name__} persisted after retries: {text}"


QUOTED_BODY_CHARS = 200


def quoted_body(response: requests.Response) -> str:
    """' The server said: "…".' for an error response, or "" when it said nothing.

    At most ~200 characters, on one line, without control characters, without the request's
    credentials (a server may echo them) and without URL query values. Starts with a space, so
    that messages can end with it whether or not there is one.
    """
    try:
        head = next(response.iter_content(4 * QUOTED_BODY_CHARS), b"")
    except (requests.RequestException, OSError, RuntimeError):
        return ""  # the body broke off: the status line says enough
    text = head.decode("utf-8", "replace") if isinstance(head, bytes) else str(head)
    secrets = _request_credentials(response.request)
    text = printable(text, secrets, limit=QUOTED_BODY_CHARS)
    return f' The server said: "{text}".' if text else ""


def _request_credentials(request: requests.PreparedRequest | None) -> tuple[str, ...]:
    if request is None:
        return ()
    values = (request.headers.get(name, "") for name in ("x-api-key", "Authorization"))
    found = [value for value in values if value]
    return tuple(found + [value.split(" ", 1)[-1] for value in found if " " in value])
