"""What every Aphex request shares: safe URLs, timeouts, and retries that honour Retry-After."""

from __future__ import annotations

import ipaddress
import json
import typing as t
from urllib.parse import urlsplit

import requests
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.streams import RESTStream

from tap_aphex.errors import RedirectRefusedError, UnexpectedResponseError

if t.TYPE_CHECKING:
    from collections.abc import Generator

    from singer_sdk import Tap

    from tap_aphex.run_report import RunReport

DEFAULT_TIMEOUT_SECONDS = 300
MAX_TRIES = 5  # attempts: the first and four retries
MAX_RETRY_AFTER_SECONDS = 300.0  # a server asking for longer is not waited for that long


def insecure_url_problem(url: str, setting: str) -> str | None:
    """Why ``url`` must not be used, or None when it is fine.

    Plain http would send the key or token in clear text, so it is allowed for loopback only (the
    bundled simulator); the vendor refuses it as well.
    """
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return None
    if parts.scheme == "http":
        return (
            f"`{setting}` uses plain http:// for a host that is not loopback ({parts.hostname}); "
            "it would send credentials in clear text. Use https://."
        )
    return f"`{setting}` must be an https:// URL, got {url!r}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_json(response: requests.Response, what: str) -> object:
    """The response body as JSON, or a clear error that names what we were reading."""
    try:
        return response.json()
    except (requests.JSONDecodeError, json.JSONDecodeError, UnicodeDecodeError) as error:
        kind = response.headers.get("Content-Type", "no content type")
        msg = (
            f"{what} answered HTTP {response.status_code} with a body that is not JSON "
            f"({kind}, {len(response.content)} bytes); nothing from it was used"
        )
        raise UnexpectedResponseError(msg) from error


class AphexStream(RESTStream[t.Any]):
    """Base for the Aphex HTTP streams."""

    # requests re-sends custom headers such as x-api-key on a redirect, even to another host.
    allow_redirects = False

    def __init__(self, tap: Tap, *, report: RunReport) -> None:
        super().__init__(tap)
        self.report = report  # where this stream tells the run what failed and why it stopped

    def validate_response(self, response: requests.Response) -> None:
        if response.is_redirect:
            msg = (
                f"{self.name}: the API redirected (HTTP {response.status_code}) to "
                f"{response.headers.get('Location')}; not following it with the credentials. "
                "If that is the API's new address, put it in the settings."
            )
            raise RedirectRefusedError(msg)
        super().validate_response(response)

    def report_failure(self, what: str, error: Exception) -> None:
        """Record a failure that ends this stream (or project) but lets the rest of the run land."""
        self.report.failed(what, error, self.logger)

    @property
    def timeout(self) -> int:
        return int(self.config.get("request_timeout", DEFAULT_TIMEOUT_SECONDS))

    def backoff_max_tries(self) -> int:
        return MAX_TRIES

    def backoff_wait_generator(self) -> Generator[float, t.Any, None]:
        """Wait what the server asks for (``Retry-After``), else 1, 2, 4, 8 seconds.

        The SDK's ``backoff`` sends each failure into this generator, which is how the server's
        answer can choose the wait.
        """
        failure = yield 0.0  # primes the generator; backoff discards the first value
        attempt = 0
        while True:
            requested = _retry_after_seconds(failure)
            failure = yield requested if requested is not None else float(2**attempt)
            attempt += 1


def _retry_after_seconds(failure: object) -> float | None:
    response = (
        getattr(failure, "response", None) if isinstance(failure, RetriableAPIError) else None
    )
    header = response.headers.get("Retry-After") if response is not None else None
    if header is None:
        return None
    try:
        return min(MAX_RETRY_AFTER_SECONDS, max(0.0, float(header)))
    except ValueError:
        return None  # an HTTP-date: rare enough that the exponential wait is fine
