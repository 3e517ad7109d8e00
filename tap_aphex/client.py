"""The HTTP client both APIs share: clear errors, a deadline per response, and the SDK's retries
(`validate_response` raises `RetriableAPIError`, `backoff` waits) within `retry_budget_seconds`."""

from __future__ import annotations

import email.utils
import itertools
import logging
import re
import threading
import time
import typing as t
from http import HTTPStatus

import requests
from singer_sdk.streams import RESTStream
from typing_extensions import override

from tap_aphex.config_checks import ca_bundle
from tap_aphex.decoding import seconds
from tap_aphex.logs import safe_url
from tap_aphex.report import (
    AphexError,
    ConfigError,
    ResponseTooSlow,
    RunReport,
    UnexpectedResponseError,
    failure_words,
    quoted_body,
)
from tap_aphex.settings import set_at
from tap_aphex.streams import CopiedWhenChanged

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator

    from backoff.types import Details
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context
    from urllib3 import BaseHTTPResponse

CHUNK = 64 * 1024


class AphexStream(CopiedWhenChanged, RESTStream[t.Any]):
    # 429 is retried (honouring Retry-After): SDK 0.55's default list is empty, unlike 0.54's.
    extra_retry_statuses: t.Sequence[int] = (HTTPStatus.TOO_MANY_REQUESTS,)
    #: Waits before each retry of a `ServiceUnavailableError` (a stream's `refuse` raises it).
    SERVICE_UNAVAILABLE_WAITS: t.ClassVar[tuple[float, ...]] = ()
    #: A failure's tries (the first, then 4 retries); a 503 of the Data API's: its schedule's.
    TRIES: t.ClassVar[int] = 5
    #: The backoff's first wait, doubled at each try (tests shorten it, as the 503 schedule).
    BACKOFF_FIRST_WAIT: t.ClassVar[float] = 1.0

    def __init__(self, tap: Tap, *, report: RunReport) -> None:
        super().__init__(tap)
        self.report = report  # what failed and why this stream stopped, for the run's summary
        self.retry_left = float(self.config["retry_budget_seconds"])  # s left to wait in this run
        self._waiting_until = 0.0  # the end of the waits under way (`time.monotonic`)
        self._budget = threading.Lock()  # download threads pay from the one budget
        self.unavailable_waited, self.cut_short = 0.0, ""  # on the last 503s; what cut them short
        self._answered: set[str] = set()  # URLs (without query) that answered 2xx in this run
        # The SDK keeps one session per stream (a subclass's other sessions are made the same).
        self.made_ready(super().requests_session)

    def made_ready(self, session: requests.Session) -> requests.Session:
        """``session`` with the deadline on each response, and verifying as the environment
        says (`REQUESTS_CA_BUNDLE`): requests reads it in `Session.request`, not in `send`."""
        session.hooks["response"].append(self._with_deadline)
        if (bundle := ca_bundle()) is not None:
            session.verify = bundle[1]
        return session

    def credential_setting(self, response: requests.Response) -> str:
        """Where the key or token ``response`` was sent with is set (`setting_named`)."""
        raise NotImplementedError

    def setting_named(self, where: str) -> str:
        """``where`` (`projects[1].token`) as a message names it: by the variable that set it, if
        one did, and said when a `.env` file set that (the shell's may hold another value)."""
        tap = self._tap  # a TapAphex, which read the variables and the `.env` file
        named = set_at(where, getattr(tap, "set_by_variables", {}))
        from_file = re.split(r"[.\[]", named, maxsplit=1)[0] in getattr(tap, "set_by_env_file", ())
        return f"`{named}`" + (" (set by a `.env` file)" if from_file else "")

    def answered_before(self, response: requests.Response) -> bool:
        """Whether its URL answered 2xx earlier in this run: then a 404 is no URL setting's."""
        return response.url.partition("?")[0] in self._answered

    def not_found_advice(self, answered_before: bool) -> str:
        # Each stream words a 404 from a URL that never answered (`refuse`) as its setting's.
        return (
            "The same URL answered earlier in this run, so the URL setting is right: the API (or "
            "a proxy in between) failed. The state keeps only what was delivered; the next run "
            "asks again. If it persists, tell Aphex (hello@aphex.co)."
        )

    @override
    def validate_response(self, response: requests.Response) -> None:
        try:
            self.refuse(response)
        except Exception:
            response.close()  # a streamed answer's connection: its message has read what it quotes
            raise

    def refuse(self, response: requests.Response) -> None:
        """Raise the error ``response`` is, if any (a subclass's own first: a refused key's too)."""
        status = response.status_code
        if status in self.extra_retry_statuses or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            super().validate_response(response)  # the SDK's RetriableAPIError: retried
        elif status == HTTPStatus.NOT_FOUND:  # the URL setting's, unless it answered before
            again = self.answered_before(response)
            error = UnexpectedResponseError if again else ConfigError
            raise error(f"{self.response_error_message(response)} {self.not_found_advice(again)}")
        elif status in _TOO_LARGE:  # what is long is ours: a body (often a proxy's page) says less
            raise AphexError(f"{failure_words(response)}. {self.too_large(response)}")
        elif status >= HTTPStatus.BAD_REQUEST:
            raise AphexError(self.response_error_message(response))
        elif status >= HTTPStatus.MULTIPLE_CHOICES:  # a 3xx that is no redirect (e.g. 304)
            advice = "No Aphex API documents that answer."
            raise UnexpectedResponseError(f"{self.response_error_message(response)} {advice}")

    def too_large(self, response: requests.Response) -> str:
        """What a 414 (the URL) or a 431 (the headers) found too long, and where it was set."""
        request = response.request
        if response.status_code == HTTPStatus.REQUEST_URI_TOO_LONG:
            return (
                f"The request's URL ({len(request.url or ''):,} characters) is longer than the "
                f"server, or a proxy in between, takes. {self.long_url_advice()}"
            )
        name, value = max(request.headers.items(), key=lambda header: len(header[1]))
        setting = self.credential_setting(response) if name.lower() in _CREDENTIALS else ""
        check = f"check {setting}: it must be exactly as Aphex shows it" if setting else ""
        return (
            "The request's headers are larger than the server, or a proxy in between, takes: "
            f"the longest, {name}, is {len(value):,} characters; {check or 'tell Aphex'}."
        )

    def long_url_advice(self) -> str:  # a stream that sends more than its URL setting says it
        return "Check the URL setting."

    @override
    def response_error_message(self, response: requests.Response) -> str:
        # The SDK's quotes the whole body and lists the headers; ours is short and safe to print.
        return f"{failure_words(response)}.{quoted_body(response)}"

    def _with_deadline(self, response: requests.Response, **_: t.Any) -> requests.Response:
        """Bound the whole response by `request_timeout` from when it was sent (requests' timeout,
        as urllib3's, bounds each socket read: a trickling body would never time out). Refuse a
        redirect before requests follows it or reads its `Location` (one not UTF-8 fails it)."""
        if response.is_redirect:
            response.close()  # its connection: nothing of it is read
            raise AphexError(  # requests would re-send x-api-key to it, even on another host
                f"the API redirected (HTTP {response.status_code}) to "
                f"{safe_url(response.headers.get('Location', '?'))}; not following it with the "
                "credentials. If that is the API's new address, put it in the settings."
            )
        if response.status_code < HTTPStatus.MULTIPLE_CHOICES:  # proves the URL, whatever follows
            self._answered.add(response.url.partition("?")[0])
        left = self.timeout - response.elapsed.total_seconds()
        late = (
            f"the response from {safe_url(response.url)} took longer than "
            f"`request_timeout` ({self.timeout} s) to arrive in full"
        )
        response.raw = BodyWithDeadline(response.raw, time.monotonic() + left, late)
        return response

    def first_error(self, context: Context | None) -> Exception | None:
        """The error of the first request only (a connection check), if any."""
        try:  # the generator, dropped once it yields, is closed then: no second request
            next(iter(self.request_records(context)), None)
        except Exception as error:  # said in the check's message, whatever it is
            return error
        return None

    @property
    @override
    def timeout(self) -> int:
        return int(self.config["request_timeout"])

    @override
    def backoff_wait_generator(self) -> Generator[float, None, None]:
        answers: list[str] = []  # this request's failures (status or kind): one per request
        return self.backoff_runtime(value=lambda failure: self.retry_wait(failure, answers))

    def retry_wait(self, failure: Exception, answers: list[str]) -> float:
        """The wait before the next try, paid from the budget; or this request's end, raised."""
        # A body that could not be decompressed would likely come the same, and cost quota again.
        if isinstance(failure, requests.exceptions.ContentDecodingError):
            raise UnexpectedResponseError(
                f"{failure_words(failure)}: the body could not be decompressed as its "
                "Content-Encoding says; not fetched again (a page fetched again may cost quota)"
            ) from failure
        # Not retried: a handshake that fails for a reason no retry changes (one cut mid-way is).
        said = _SSL_REASON.search(str(failure))
        if isinstance(failure, requests.exceptions.SSLError) and said and said[1] in _TLS_FOR_GOOD:
            advice = (  # an empty CA bundle is read before any connection is made
                ": the CA bundle that `REQUESTS_CA_BUNDLE` (or `CURL_CA_BUNDLE`) names holds no "
                "certificate; point it at a PEM file of certificates, or unset it."
                if said[1] == "NO_CERTIFICATE_OR_CRL_FOUND"
                else "; not tried again. Check the URL's scheme (https:// for a server that speaks "
                "TLS, http:// for one on this machine that does not) and any proxy in between (one "
                "with a certificate of its own: REQUESTS_CA_BUNDLE)."
            )
            why = f"{failure_words(failure)} ({said[1]}: {said[2].strip()})"
            raise AphexError(why + advice) from failure
        response = getattr(failure, "response", None)  # requests' own errors come without one
        answers.append(str(getattr(response, "status_code", "")) or type(failure).__name__)
        # A 503's schedule runs by the 503s in a row (another failure starts it again), and only
        # 503s through all of it are the daily limit (raised as it is: the stream's clean stop).
        # Other failures have `TRIES` of their own: a passing 502 spoils no quota day's stop.
        waits = self.SERVICE_UNAVAILABLE_WAITS  # the Data API's: its 503s (a plans 503 is a 5xx)
        in_a_row = len(list(itertools.takewhile("503".__eq__, reversed(answers)))) if waits else 0
        others = len(answers) - answers.count("503") if waits else len(answers)
        if in_a_row == 1:  # the stop line says what this run of 503s waited, not an earlier one
            self.unavailable_waited = 0.0
        if in_a_row > len(waits) or (not in_a_row and others >= self.TRIES):
            raise failure  # the daily limit, or a failure that persisted
        kinds = f" ({', '.join(answers)})" if len(set(answers)) > 1 else ""  # what differed
        tries = f"{len(answers)} {'tries' if answers[1:] else 'try'}{kinds}"
        backoff = self.BACKOFF_FIRST_WAIT * 2 ** max(others - 1, 0)
        scheduled = waits[in_a_row - 1] if in_a_row else backoff  # a 503's slower: quota or not
        requested = retry_after_seconds(response)
        wait = scheduled if requested is None else requested
        with self._budget:  # paid as time: a wait beside others (projects) pays what it adds
            now = time.monotonic()
            paid = max(0.0, now + wait - max(now, self._waiting_until))
            # Half a second's grace in all (0 never waits): threads asking together start apart.
            if paid > self.retry_left + (0.5 if self.config["retry_budget_seconds"] else 0.0):
                asked = "the server asked (Retry-After) for" if requested else "the next is"
                asked += f" a {seconds(wait, up=True)} s wait"
                left = f"the {seconds(max(self.retry_left, 0))} s left of `retry_budget_seconds`"
                cut = f"{failure_words(failure)} after {tries}; {asked}, more than {left}"
                if in_a_row:  # ending on 503s: the daily limit, as far as can be told
                    self.cut_short = cut  # the stream says what cut its 503 schedule short
                    raise failure
                raise AphexError(f"{cut} (one for the stream's whole run): gave up.")
            self.retry_left -= paid
            self._waiting_until = max(self._waiting_until, now + wait)
            self.unavailable_waited += wait if in_a_row else 0.0
        return wait

    @override
    def backoff_jitter(self, value: float) -> float:
        return value  # no random extra: every second waited is one the budget paid for

    @override
    def backoff_max_tries(self) -> int:  # more than `retry_wait` allows: it gives up first
        return (self.TRIES + 1) * (len(self.SERVICE_UNAVAILABLE_WAITS) + 1)

    def retried_part(self, context: Context | None) -> str:  # what a retry's WARNING names
        return self.name

    @override
    def backoff_handler(self, details: Details) -> None:
        # The SDK logs each retry at ERROR, with the request's arguments; one WARNING says it.
        request, context = details["args"][:2]  # the retried call's
        failure, url = failure_words(details.get("exception")), safe_url(request.url)
        self.logger.warning(
            "%s: %s; retrying in %s s (try %d; %s s of the retry budget left).",
            self.retried_part(context),
            failure if url in failure else f"{failure} for {url}",  # a body cut short names none
            seconds(details["wait"], up=True),
            details["tries"] + 1,
            seconds(max(self.retry_left, 0)),
        )


_TOO_LARGE = (HTTPStatus.REQUEST_URI_TOO_LONG, HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
#: The headers that carry a key or token (lower case): `credential_setting` names its setting.
_CREDENTIALS = ("x-api-key", "authorization")
#: OpenSSL's reason in a handshake's error: ``[SSL: WRONG_VERSION_NUMBER] wrong version number``.
_SSL_REASON = re.compile(r"\[(?:SSL|X509): ([A-Z0-9_]+)\] ([^(\]'\"]+)")
#: OpenSSL's reasons that no retry changes: no TLS at the other end, an untrusted certificate, no
#: protocol or cipher in common, a CA bundle (`REQUESTS_CA_BUNDLE`) with no certificate in it.
_TLS_FOR_GOOD = frozenset(
    {"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "CERTIFICATE_VERIFY_FAILED", "UNSUPPORTED_PROTOCOL"}
    | {"TLSV1_ALERT_PROTOCOL_VERSION", "SSLV3_ALERT_HANDSHAKE_FAILURE", "NO_PROTOCOLS_AVAILABLE"}
    | {"NO_CERTIFICATE_OR_CRL_FOUND"}
)


class BodyWithDeadline:
    """`requests.Response.raw` (urllib3's response) with the clock checked at every read: its
    `read1` returns after at most one socket read, so a trickling body is cut off in time."""

    def __init__(self, raw: BaseHTTPResponse, deadline: float, late: str) -> None:
        self.__dict__.update(_raw=raw, _deadline=deadline, _late=late)

    def __getattr__(self, name: str) -> t.Any:
        return getattr(self._raw, name)

    def __setattr__(self, name: str, value: object) -> None:
        setattr(self._raw, name, value)  # e.g. `decode_content`, set by readers of the raw body

    def stream(self, amt: int | None, decode_content: bool | None = None) -> Iterator[bytes]:
        return iter(lambda: self.read(amt or CHUNK, decode_content), b"")  # `iter_content`'s

    def read(self, amt: int, decode_content: bool | None = None) -> bytes:  # ijson's: sized
        self._check()
        data = self._raw.read1(amt, decode_content=decode_content) or b""  # None once closed
        self._check()
        return data

    def _check(self) -> None:
        if time.monotonic() > self._deadline:
            self._raw.close()  # no more of it: the connection is not reused with bytes pending
            raise ResponseTooSlow(self._late)


def retry_after_seconds(
    response: requests.Response | None, now: Callable[[], float] = time.time
) -> float | None:
    """The wait a response's ``Retry-After`` asks for: delay-seconds or an HTTP-date (which
    the stdlib's `email.utils` parses exactly as RFC 9110 writes it); else None."""
    header = response.headers.get("Retry-After", "").strip() if response is not None else ""
    if not header:
        return None
    if header.isdigit():  # at most a year: a longer wait is past any budget all the same
        return min(float(header), 365 * 86_400.0)
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        logging.getLogger(__name__).debug("Unreadable Retry-After ignored")
        return None
    return max(0.0, when.timestamp() - now())
