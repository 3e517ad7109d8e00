"""How a run ends: the errors a user can act on (an `AphexError` is safe to print, and a
``FatalAPIError``: the SDK does not retry it), the run's report and summary, the stdout writer."""

from __future__ import annotations

import enum
import logging
import sys
import typing as t
from collections import Counter
from dataclasses import dataclass, field, fields

import requests
import urllib3
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import (
    FatalAPIError,
    MappingError,
    RetriableAPIError,
    StreamMapConfigError,
)
from singer_sdk.singerlib import RecordMessage, SingerMessageType
from singer_sdk.singerlib.encoding.simple import Message
from typing_extensions import override

from tap_aphex.logs import printable, safe_url
from tap_aphex.sdk_seam import stream_map_failure
from tap_aphex.signals import held


class AphexError(FatalAPIError):
    """A failure the user can fix; its message is safe to print."""


class AuthenticationError(AphexError):
    """The API refused the credentials."""


class CursorRejectedError(AphexError):
    """The Data API refused the ``startAfter`` cursor we sent."""


class UnexpectedResponseError(AphexError):
    """A response that is not the documented JSON."""


class RunFailedError(AphexError):
    """A part of the run (a stream with those it feeds, or a project) failed; raised at the end."""

    def __init__(self, failures: list[str], *, others_landed: bool = True) -> None:
        listed = " | ".join(failures)
        count = len(failures)  # "the rest" only if there was: one stream selected may fail
        if others_landed:
            what = "part of the run failed" if count == 1 else f"{count} parts failed"
            what += ", the rest of what was read landed"  # not "everything": a 503 stops early
        elif count == 1:
            what = "the run failed, with nothing else to read"
        else:
            what = f"all {count} parts of the run failed"
        super().__init__(f"{what} (the state holds what was delivered): {listed}")


class ServiceUnavailableError(RetriableAPIError):
    """HTTP 503: for the Data API, most likely its daily event quota is spent."""


class ResponseTooSlow(requests.exceptions.ReadTimeout):
    """The response did not arrive in full within `request_timeout`; its message says so."""


class ConfigError(AphexError):
    """A config or state file, environment variable or URL setting (a 404) the user must fix."""


#: What ends one stream or one project but not the run: the SDK's fatal and exhausted-retry
#: errors, and transport errors (urllib3's surface when a streamed body breaks off).
STREAM_FAILURES: tuple[type[Exception], ...] = (
    FatalAPIError,
    RetriableAPIError,
    requests.RequestException,
    urllib3.exceptions.HTTPError,
)


_SAME_COLUMN = "Duplicate column name produced in schema: "


def stream_map_problem(error: BaseException) -> str | None:
    """Words for a `stream_maps` expression that failed to parse or evaluate, else None."""
    where = stream_map_failure(error)
    if where is None and not isinstance(error, MappingError):
        return None
    text = printable(str(error), limit=300).rstrip(".")
    if text.startswith(_SAME_COLUMN):  # the SDK's flattening, as it sets up the maps
        return (
            f"The flattening settings make two columns of one name, "
            f"`{text.removeprefix(_SAME_COLUMN)}`: raise `flattening_max_key_length` (names are "
            "cut to it), or change `flattening_separator`."
        )
    what = "an expression failed"
    if isinstance(error, StreamMapConfigError):  # the stream's map as a whole, not one property
        where, what = (where or "").split(".")[0], "the stream map is refused"
    at = f"`stream_maps.{where}`" if where else "`stream_maps`"
    fix = "Fix it in the `stream_maps` setting"
    # The SDK's own example, `md5(ownerEmail)`, fails so: a name a deletion's record lacks.
    lacks = type(error.__cause__ or error).__name__ in ("NameNotDefined", "KeyError")
    if (where or "").startswith("tasks.") and lacks:
        fix += (
            " (a deleted task's record holds only `id`, `_sdc_deleted_at` and the event's: read "
            "others by `record.get`)"
        )
    return f"{at}: {what} ({type(error).__name__}: {text}). {fix}."


def describe(error: Exception) -> str:
    """One line for a failure; only our own errors' text is known to hold no secret."""
    if problem := stream_map_problem(error):
        return problem
    if isinstance(error, FatalAPIError):  # ours (AphexError) and the SDK's
        return str(error)[:1_000]
    if isinstance(error, RetriableAPIError) and error.response is not None:
        # What failed only (what landed is the run's to say); its text quotes the body, now closed.
        why = (
            "The Data API answers 503 once the organisation's 20,000 events of the day are read "
            "(or in an outage): the next run, tomorrow, goes on."
            if isinstance(error, ServiceUnavailableError)
            else "The server kept failing: the next run asks again from where this one stopped. "
            "If it lasts, tell Aphex (hello@aphex.co), quoting this line."
        )
        return f"{str(error)[:500]} It persisted after retries. {why}"
    if isinstance(error, requests.RequestException) and not isinstance(error, ResponseTooSlow):
        # The network's (requests' words quote host and port, not what to do): where, and that.
        return (
            f"{failure_words(error)} persisted after retries: check that the server is "
            "reachable from here, or allow more time (`request_timeout`, `retry_budget_seconds`)"
        )
    if not str(error) and error.__doc__:  # e.g. the daily-quota stop, whose name says it all
        return error.__doc__.strip().splitlines()[0]
    # Not worded by us: it may quote a key or token (escaped, too), or a URL's query values.
    return f"{type(error).__name__} persisted after retries: {printable(str(error), limit=300)}"


def failure_words(failure: object) -> str:
    """A failure (or a response) in a few words: its HTTP status, or its kind, meaning and place."""
    response = getattr(failure, "response", failure)  # requests' own errors come without one
    if isinstance(response, requests.Response):
        return f"HTTP {response.status_code} {response.reason} from {safe_url(response.url)}"
    if isinstance(failure, ResponseTooSlow):
        return str(failure)  # ours, and it names the URL safely
    if not isinstance(failure, requests.RequestException):
        return type(failure).__name__
    meanings = {
        requests.exceptions.SSLError: "the TLS handshake failed",  # a ConnectionError too
        requests.exceptions.ChunkedEncodingError: "the answer broke off",
        requests.Timeout: "no answer in time",
        requests.ConnectionError: "no connection",
    }
    meaning = next((v for k, v in meanings.items() if isinstance(failure, k)), "no whole answer")
    url = getattr(failure.request, "url", None)
    where = f" for {safe_url(url)}" if isinstance(url, str) else ""
    return f"{type(failure).__name__} ({meaning}){where}"


def html_page(content_type: str | None, head: bytes) -> str:
    """Words for a body of markup, which no Aphex API sends (not its content: it may be large)."""
    start = head.lstrip()[:5].lower().decode("latin-1")
    if "html" in (content_type or "").lower() or start in ("<!doc", "<html"):
        page = "an HTML page"
    elif start[:1] == "<":
        page = "markup (HTML or XML)"  # a cloud storage's or a gateway's XML error, say
    else:
        return ""
    return (
        f"{page} ({content_type or 'no Content-Type'}), not JSON: a proxy, a login page or an "
        "error page is likely in between; check the URL and any proxy"
    )


def quoted_body(response: requests.Response, limit: int = 200) -> str:
    """' The server said: "…".' (the start of the body, without the request's credentials, which a
    server may echo), or "" when it said nothing: a message can end with it either way."""
    try:
        head = next(response.iter_content(4 * limit), b"")  # UTF-8: up to 4 bytes a character
    except (requests.RequestException, OSError, RuntimeError):
        return ""  # the body broke off: the status line says enough
    if page := html_page(response.headers.get("Content-Type"), head):
        return f" It answered with {page}."  # not quoted: a page's words are no API's
    text = head.decode("utf-8", "replace")  # `iter_content` yields bytes (no decode_unicode)
    headers = response.request.headers if response.request is not None else {}
    found = [value for name in ("x-api-key", "Authorization") if (value := headers.get(name))]
    # An Authorization value may be echoed without its scheme ("Bearer").
    secrets = tuple(found + [value.split(" ", 1)[-1] for value in found if " " in value])
    text = printable(text, secrets, limit=limit)
    return f' The server said: "{text}".' if text else ""


class StopReason(str, enum.Enum):
    """Why a stream (or a project) stopped reading; the closing summary says it in these words."""

    END_OF_LOG = "end of the log"
    DAILY_LIMIT = "daily limit (HTTP 503)"
    MAX_EVENTS = "max_events_per_run reached"
    UP_TO_DATE = "up to date"
    VERSIONS_MISSING = "versions missing (see its WARNING)"
    FAILURE = "failure"


@dataclass
class StreamStop:
    reason: StopReason
    resume_at: str | None  # where the next run starts, in words safe to log
    stream: str = field(compare=False)  # the stream it is of (two streams can stop alike)
    part: bool = False  # one part of a stream (a project): its records are counted on the stream


@dataclass
class RunReport:
    """The run's account of itself; one per `TapAphex` run."""

    failures: list[str] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)  # behind `failures`, in the same order
    stops: dict[str, StreamStop] = field(default_factory=dict)
    records_sent: Counter[str] = field(default_factory=Counter)
    batch_files: Counter[str] = field(default_factory=Counter)  # with `batch_config`, per stream
    notes: list[str] = field(default_factory=list)  # more closing lines (e.g. the slowest projects)

    def failed(self, what: str, error: Exception, logger: logging.Logger, then: str = "") -> None:
        """A failure that ends one stream or one project; the rest of the run still lands.
        ``then``: a sentence after the error's words (a project's: what landed before it)."""
        message = f"{what}: {describe(error)}"
        message = f"{message.rstrip('.')}. {then}" if then else message
        logger.error("%s", message)
        self.failures.append(message)
        self.errors.append(error)

    def stopped(
        self, stream: str, reason: StopReason, resume_at: str | None, *, part: str = ""
    ) -> None:
        """How ``stream`` (or one ``part`` of it, e.g. a project) ended, and where it resumes."""
        name = f"{stream} ({part})" if part else stream
        self.stops[name] = StreamStop(reason, resume_at, stream, part=bool(part))

    def clear(self) -> None:
        # In place: the writer counts into `records_sent` (`RecordCounting.count_into`).
        for each in fields(self):
            getattr(self, each.name).clear()

    def summary(self, *, interrupted: bool = False) -> list[str]:
        """The closing lines: per stream, the records sent, why it stopped, where it resumes
        (``interrupted``: the streams still going have no stop; the run's last line says)."""
        lines = []
        for name in dict.fromkeys([*self.records_sent, *self.batch_files, *self.stops]):
            stop = self.stops.get(name)
            records, files = self.records_sent[name], self.batch_files[name]
            plural = "" if records == 1 else "s"
            # A stream's line counts its records; a part's (a project's) says only how it ended.
            sent = "" if stop and stop.part else f"{records:,} record{plural} sent"
            if files:  # their records are in the files, not counted
                sent = f"{files:,} BATCH file(s) written" + (f", {sent}" if records else "")
            line = f"{name}: {sent}"
            if stop:
                line += f"{'; ' if sent else ''}stopped: {stop.reason.value}"
                if stop.resume_at:
                    line += f"; the next run resumes {stop.resume_at}"
            lines.append(line)
        # Not the failures: each was an ERROR when it happened, and the run's last line lists them.
        lines += self.notes
        nothing = "sent before the interrupt" if interrupted else "selected, or nothing was new"
        return lines or ([] if self.failures else [f"nothing was {nothing}"])


class RecordCounting:
    """Both protocols' writers count a RECORD once its line is written, into the run's report;
    Airbyte's writer is made before the tap, so it is handed the report afterwards."""

    def __init__(self, report: RunReport | None = None) -> None:
        super().__init__()
        self.count_into(report or RunReport())  # until `count_into`: counted, reported nowhere

    def count_into(self, report: RunReport) -> None:
        self._sent, self._batch_files = report.records_sent, report.batch_files


class CountingWriter(RecordCounting, MsgSpecWriter):
    """The SDK's msgspec writer, counting RECORDs; each line goes out whole even when a signal
    comes. The SDK's flushes after every message, a system call per record: here RECORDs wait in
    stdout's buffer, flushed with the next other message, so no STATE gets ahead of them."""

    @override
    def write_message(self, message: Message) -> None:
        line = self.format_message(message)
        with held:
            sys.stdout.buffer.write(line)
            if isinstance(message, RecordMessage):
                self._sent[message.stream] += 1
            else:
                if message.type == SingerMessageType.BATCH:  # the SDK's message: its file list
                    batch = t.cast("t.Any", message)
                    self._batch_files[batch.stream] += len(batch.manifest)
                sys.stdout.flush()
