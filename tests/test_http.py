"""HTTP as the tap meets it: clear 4xx messages, a retry budget, and a deadline per response.

Odd servers are scripted with pytest-httpserver; each test runs the real tap over real HTTP.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import typing as t
from email.utils import format_datetime

import pytest
import requests
from aphex_simulator import Simulator
from harness import run_tap
from singer_sdk.exceptions import ConfigValidationError, RetriableAPIError
from werkzeug import Request, Response

from tap_aphex.client import retry_after_seconds
from tap_aphex.logs import remember_secrets
from tap_aphex.report import AphexError, RunFailedError, describe, quoted_body
from tap_aphex.streams.published_plans import PublishedPlansStream
from tap_aphex.tap import TapAphex

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from pytest_httpserver import HTTPServer

KEY = "sEcReT-kEy-0123456789"
PATH = "/apiTaskEventsV2"


def events_config(server: HTTPServer, **settings: t.Any) -> dict[str, t.Any]:
    return {"api_key": KEY, "api_url": server.url_for(PATH), **settings}


def failure_of(config: dict[str, t.Any]) -> str:
    """The run's failure message (the run must fail: these servers never answer well)."""
    with pytest.raises(RunFailedError) as failed:
        run_tap(config)
    return str(failed.value)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            403,
            "Forbidden: plan does not include API access",
            [
                "HTTP 403 FORBIDDEN from http://localhost",
                'The server said: "Forbidden: plan does not include API access".',
                "check that the key (`api_key`) belongs to an organisation on the Enterprise plan",
                "GET",
            ],
        ),
        (404, "no such route", ["HTTP 404 NOT FOUND", '"no such route"', "Check `api_url`"]),
        # The first request, with nothing of ours in its query: the URL is what to check.
        (400, "bad request", ["HTTP 400): no startAfter.", "Check `api_url`"]),
        (418, "", ["HTTP 418 I'M A TEAPOT from http://localhost"]),
        # A server that echoes the key: the quote hides it.
        (403, f"bad key {KEY}\n\x1b[31m", ['The server said: "bad key … [31m".']),
    ],
)
def test_a_4xx_says_what_to_check_and_quotes_the_server_without_secrets(
    httpserver: HTTPServer, status: int, body: str, expected: list[str]
) -> None:
    httpserver.expect_request(PATH).respond_with_data(body, status=status)

    message = failure_of(events_config(httpserver))

    for words in expected:
        assert words in message
    assert KEY not in message


def test_a_retry_after_beyond_the_budget_fails_at_once_instead_of_waiting(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request(PATH).respond_with_data(
        "slow down", status=429, headers={"Retry-After": "100000"}
    )

    message = failure_of(events_config(httpserver))

    assert "HTTP 429 TOO MANY REQUESTS" in message
    assert "the server asked (Retry-After) for a 100000 s wait" in message
    assert "more than the 600 s left of `retry_budget_seconds`" in message
    assert len(httpserver.log) == 1  # no second try: the wait alone would overrun the budget


def test_retries_stop_when_the_budget_is_spent(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_data("down", status=502)

    message = failure_of(events_config(httpserver, retry_budget_seconds=1))

    # The first wait (1 s) fits in 1 s; the second (2 s) does not.
    assert "HTTP 502 BAD GATEWAY" in message
    assert "after 2 tries; the next is a 2 s wait, more than the 0 s left" in message
    assert len(httpserver.log) == 2


def test_the_retry_budget_is_time_with_half_a_second_of_grace_beside_a_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Three projects' download threads each told to wait 1 s (Retry-After), asking 0.3 s apart,
    # on a budget of 1 s. The first pays 1 s; the second, beside it, pays the 0.3 s it adds
    # (within the half second of grace); the third's 0.3 s more is past it. The clock is stepped
    # by hand: how far apart threads ask is the point, which no server sets to the millisecond.
    config = {"projects": [{"url": "https://example.com/power-bi/v1/abc", "token": "t0ken-1"}]}
    stream = TapAphex(config={**config, "retry_budget_seconds": 1}).streams["published_plans"]
    assert isinstance(stream, PublishedPlansStream)
    answer = requests.Response()
    answer.status_code, answer.reason, answer.url = (
        429,
        "Too Many Requests",
        config["projects"][0]["url"],
    )
    answer.headers["Retry-After"] = "1"
    now = [100.0]
    monkeypatch.setattr("tap_aphex.client.time.monotonic", lambda: now[0])

    waits = []
    for _ in range(2):
        waits.append(stream.retry_wait(RetriableAPIError("429", answer), []))
        now[0] += 0.3
    with pytest.raises(AphexError, match=r"a 1 s wait, more than the 0 s left"):
        stream.retry_wait(RetriableAPIError("429", answer), [])

    assert waits == [1.0, 1.0]
    assert stream.retry_left == pytest.approx(-0.3)  # the grace spent is never said: 0 s left


def test_a_body_that_trickles_in_is_cut_off_at_request_timeout(httpserver: HTTPServer) -> None:
    page = json.dumps({"data": [], "nextStartAfter": None}).encode()

    def trickle(request: Request) -> Response:
        def body() -> Iterator[bytes]:
            yield page[:1]
            for _ in range(40):  # 20 s in all, each byte well within the socket timeout
                time.sleep(0.5)
                yield b" "
            yield page[1:]

        return Response(body(), content_type="application/json")

    httpserver.expect_request(PATH).respond_with_handler(trickle)

    message = failure_of(events_config(httpserver, request_timeout=1, retry_budget_seconds=0))

    assert "took longer than `request_timeout` (1 s) to arrive in full" in message


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        (format_datetime(dt.datetime(2030, 1, 1, 0, 2, tzinfo=dt.timezone.utc), usegmt=True), 120),
        (format_datetime(dt.datetime(2029, 1, 1, tzinfo=dt.timezone.utc), usegmt=True), 0.0),
        ("soon", None),
        ("-5", None),
        ("9" * 5000, 365 * 86_400.0),  # at most a year: past any budget, and said in seconds
        (None, None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(
    header: str | None, expected: float | None
) -> None:
    response = requests.Response()
    if header is not None:
        response.headers["Retry-After"] = header
    now = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc).timestamp()

    assert retry_after_seconds(response, now=lambda: now) == expected


def test_quoted_body_is_short_and_names_nothing_secret(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/long").respond_with_data(f"{KEY} " + "x" * 1000, status=400)
    httpserver.expect_request("/empty").respond_with_data("", status=400)

    long = requests.get(httpserver.url_for("/long"), headers={"x-api-key": KEY}, timeout=5)
    empty = requests.get(httpserver.url_for("/empty"), timeout=5)

    assert quoted_body(long).startswith(' The server said: "… xxx')
    assert len(quoted_body(long)) < 230
    assert KEY not in quoted_body(long)
    assert quoted_body(empty) == ""


@pytest.mark.parametrize(
    "key",
    [
        "K3Y-s3cr3t\nZZQ",
        "K3Y-s3cr3t\r\nX-Evil: 1",
        "K3Y-s3cr3t€",
        "K3Y-s3cr3t\x00",
        "K3Y\x7fs3cr3t",
    ],
)
def test_a_key_no_header_can_carry_is_refused_before_any_request(
    httpserver: HTTPServer, key: str
) -> None:
    httpserver.expect_request(PATH).respond_with_json({"data": [], "nextStartAfter": None})

    with pytest.raises(ConfigValidationError) as refused:
        run_tap(events_config(httpserver) | {"api_key": key})

    assert refused.value.errors == [
        "`api_key` holds a character an HTTP header cannot carry (a line break, a control "
        "character, or one outside Latin-1 such as '€'); set it exactly as Aphex shows it."
    ]
    assert httpserver.log == []


SECRET = "SECRETTOKEN\r\nX-Evil: 1"


@pytest.mark.parametrize(
    "error",
    [
        requests.exceptions.InvalidHeader(f"Invalid header value {('Bearer ' + SECRET)!r}"),
        ValueError(f"Invalid header value {SECRET.encode()!r}"),
        requests.ConnectionError(f"failed with {SECRET.encode('unicode_escape').decode()}"),
        requests.ConnectionError(f"failed with {SECRET}"),
    ],
)
def test_a_failure_we_did_not_word_never_quotes_a_secret_in_any_form(error: Exception) -> None:
    remember_secrets(SECRET)  # as the tap does with its config's key and tokens

    text = describe(error)
    remember_secrets()  # forgotten again: other tests' configs have their own

    assert "SECRETTOKEN" not in text
    assert "persisted after retries" in text


@pytest.mark.parametrize(
    "error",
    [
        requests.exceptions.ReadTimeout,
        requests.ConnectionError,
        requests.exceptions.ChunkedEncodingError,
    ],
)
def test_a_network_failure_that_persisted_says_where_and_what_to_do(
    error: type[requests.RequestException],
) -> None:
    request = requests.Request("GET", "http://127.0.0.1:9/power-bi/v1/acc1?limit=5").prepare()

    text = describe(
        error("HTTPConnectionPool(host='127.0.0.1', port=9): Read timed out.", request=request)
    )

    meaning = {
        "ReadTimeout": "no answer in time",
        "ConnectionError": "no connection",
        "ChunkedEncodingError": "the answer broke off",
    }[error.__name__]
    assert text == (
        f"{error.__name__} ({meaning}) for http://127.0.0.1:9/power-bi/v1/acc1?limit=… persisted "
        "after retries: check that the server is reachable from here, or allow more time "
        "(`request_timeout`, `retry_budget_seconds`)"
    )


@pytest.mark.parametrize("fault", ["a URL with nothing behind it", "500"])
def test_a_refused_answer_is_closed_before_its_error_goes_on(fault: str) -> None:
    # A project's answer is streamed: one refused and left open held its socket until the garbage
    # collector found the error's traceback (the suite's unclosed-socket ResourceWarning).
    with Simulator(seed=3, events=0, plan_projects=1, history_weeks=1) as sim:
        (project,) = sim.plan_projects
        url = project.url + "x" if fault.startswith("a URL") else project.url
        if fault == "500":
            sim.set_plan_fault(project.account_id, "500", 1)
        config = {"projects": [{"url": url, "token": project.token, "name": "P"}]}
        stream = TapAphex(config=config).streams["published_plans"]
        assert isinstance(stream, PublishedPlansStream)
        session = stream.requests_session
        try:
            response = session.get(url, headers={"Authorization": f"Bearer {project.token}"})
            assert response.status_code in {404, 500}
            assert not response.raw.closed  # streamed: the body waits to be read
            with pytest.raises(AphexError):
                stream.validate_response(response)
            assert response.raw.closed
        finally:
            session.close()
