"""How task_events fails, stops and resumes: quota, refusals, faults, kills; real HTTP."""

from __future__ import annotations

import contextlib
import copy
import http.server
import io
import json
import logging
import threading
import time
import typing as t
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aphex_simulator import Simulator
from harness import (
    CapturedStdout,
    TapRun,
    events_config,
    killed_after_states,
    log_lines,
    parse_messages,
    replay_tasks,
    run_cli,
    run_tap,
)
from pytest_httpserver import HTTPServer
from tls_front import CERTIFICATE, tls_front

from tap_aphex.airbyte import cli as airbyte_cli
from tap_aphex.client import AphexStream
from tap_aphex.report import RunFailedError, RunReport, StopReason
from tap_aphex.streams.task_events import TaskEventsStream
from tap_aphex.tap import TapAphex


def event_ids(records: list[dict[str, t.Any]]) -> list[str]:
    return [record["eventId"] for record in records]


@pytest.fixture(autouse=True)
def no_wait_on_503(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 503 or a 5xx is still retried as often, without the minute's wait, nor the backoff's
    seconds (in this process only: what a wait does is test_http's and test_retry_after's)."""
    waits = tuple(0.0 for _ in TaskEventsStream.SERVICE_UNAVAILABLE_WAITS)
    monkeypatch.setattr(TaskEventsStream, "SERVICE_UNAVAILABLE_WAITS", waits)
    monkeypatch.setattr(AphexStream, "BACKOFF_FIRST_WAIT", 0.01)


def run_reporting(
    config: dict[str, t.Any], state: dict[str, t.Any] | None = None
) -> tuple[TapRun, RunReport]:
    """Run the tap in this process and also return what it told its RunReport."""
    out = CapturedStdout()
    with contextlib.redirect_stdout(out):
        tap = TapAphex(config=config, state=copy.deepcopy(state or {}))
        tap.run()
    return TapRun(parse_messages(out.getvalue())), tap.report


def assert_state_points_at_an_emitted_event(run: TapRun) -> None:
    emitted = event_ids(run.records("task_events"))
    if emitted:
        assert run.bookmark("task_events") == emitted[-1]


# --- The daily quota -------------------------------------------------------------------------


def test_the_daily_limit_ends_the_run_cleanly_and_the_next_day_resumes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    with Simulator(seed=3, events=2_600, page_size=400, daily_quota=1_000, plan_projects=0) as sim:
        first, report = run_reporting(events_config(sim))

        assert "daily event limit" in caplog.text
        assert "after 1,000 events read in this run" in caplog.text
        last = sim.event_log.events[999]["eventId"]
        per_page = (
            f"1,000 events read in this run (5% of the 20,000-a-day quota), last eventId {last}"
        )
        assert per_page in caplog.text
        assert first.bookmark("task_events") == sim.event_log.events[999]["eventId"]
        assert first.bookmark("tasks") == first.bookmark("task_events")
        tries = len(TaskEventsStream.SERVICE_UNAVAILABLE_WAITS) + 1
        assert [r.status for r in sim.requests].count(503) == tries  # it costs no quota
        stop = report.stops["task_events"]
        assert stop.reason is StopReason.DAILY_LIMIT
        assert stop.resume_at == f"after event {sim.event_log.events[999]['eventId']}"

        sim.new_day()
        second = run_tap(events_config(sim), state=first.final_state)
        assert event_ids(second.records("task_events")) == event_ids(
            sim.event_log.events[1000:2000]
        )


def test_a_backfill_larger_than_the_quota_lands_every_event_exactly_once_over_several_days() -> (
    None
):
    # Half the log, quota and pages it had: still three days (1,000 + 1,000 + 750), and two spare.
    with Simulator(seed=5, events=2_750, page_size=250, daily_quota=1_000, plan_projects=0) as sim:
        delivered: list[str] = []
        tasks: list[dict[str, t.Any]] = []
        state: dict[str, t.Any] = {}
        for _day in range(5):
            run = run_tap(events_config(sim), state=state)
            delivered += event_ids(run.records("task_events"))
            tasks += run.records("tasks")
            state = run.final_state
            sim.new_day()

        assert delivered == event_ids(sim.event_log.events)
        assert set(replay_tasks(tasks)) == set(sim.current_tasks())


def queue_faults(sim: Simulator, answers: str, *, retry_after: int | None = None) -> None:
    for fault in answers.split(","):
        sim.inject_fault(fault, 1, retry_after=retry_after)


@pytest.mark.parametrize(
    "answers", ["502,502,502,502,503", "503,502,503,502,503", "503,500,503,503,503"]
)
def test_an_outage_that_ends_on_503s_is_retried_on_their_schedule_and_lands_everything(
    simulator: Simulator, answers: str
) -> None:
    queue_faults(simulator, answers)  # then the log answers again

    run, report = run_reporting(events_config(simulator))

    assert event_ids(run.records("task_events")) == event_ids(simulator.event_log.events)
    assert report.stops["task_events"].reason is StopReason.END_OF_LOG
    assert [r.status for r in simulator.requests][: len(answers.split(","))] == [
        int(answer) for answer in answers.split(",")
    ]


def test_a_passing_fault_before_the_days_503s_is_still_the_daily_limit() -> None:
    with Simulator(seed=3, events=600, page_size=200, daily_quota=400, plan_projects=0) as sim:
        first, _ = run_reporting(events_config(sim))  # the day's quota spent: a clean stop
        sim.clear_requests()
        sim.inject_fault("502", 1)

        second, report = run_reporting(events_config(sim), state=first.final_state)

    tries = len(TaskEventsStream.SERVICE_UNAVAILABLE_WAITS) + 1
    assert [r.status for r in sim.requests] == [502, *[503] * tries]
    assert report.stops["task_events"].reason is StopReason.DAILY_LIMIT
    assert not report.failures
    assert second.bookmark("task_events") == first.bookmark("task_events")


def test_other_failures_between_503s_end_the_request_after_their_own_tries(
    simulator: Simulator,
) -> None:
    answers = ["503", "502"] * AphexStream.TRIES
    queue_faults(simulator, ",".join(answers))

    with pytest.raises(RunFailedError) as failed:
        run_reporting(events_config(simulator))

    assert [r.status for r in simulator.requests] == [int(answer) for answer in answers]
    assert "HTTP 502" in str(failed.value)
    assert "daily event limit" not in str(failed.value)


@pytest.mark.parametrize(
    ("answers", "steps"), [("502,502,503,503", [0, 1]), ("503,500,503,503", [0, 0, 1])]
)
def test_the_503_schedule_steps_by_the_503s_in_a_row(
    simulator: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    answers: str,
    steps: list[int],
) -> None:
    schedule = (0.01, 0.02, 0.03, 0.04)
    monkeypatch.setattr(TaskEventsStream, "SERVICE_UNAVAILABLE_WAITS", schedule)
    queue_faults(simulator, answers)

    run = run_tap(events_config(simulator))

    assert event_ids(run.records("task_events")) == event_ids(simulator.event_log.events)
    retries = [r.args for r in caplog.records if "retrying in" in r.msg]
    waited = [float(str(args[2])) for args in retries if str(args[1]).startswith("HTTP 503")]  # type: ignore[index]
    assert waited == [schedule[step] for step in steps]


def test_the_daily_limit_line_counts_only_the_waits_for_503s(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(AphexStream, "BACKOFF_FIRST_WAIT", 1.0)  # one 502: a whole second
    with Simulator(seed=3, events=600, page_size=200, daily_quota=400, plan_projects=0) as sim:
        sim.inject_fault("502", 1)

        _, report = run_reporting(events_config(sim))

    assert report.stops["task_events"].reason is StopReason.DAILY_LIMIT
    assert "(HTTP 503; 0 s waited for it in this run" in caplog.text


@pytest.mark.parametrize("retry_after", [None, 3600])
def test_503s_the_budget_cuts_short_after_other_faults_are_still_the_daily_limit(
    simulator: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    retry_after: int | None,
) -> None:
    monkeypatch.setattr(TaskEventsStream, "SERVICE_UNAVAILABLE_WAITS", (5.0, 10.0, 15.0, 30.0))
    simulator.inject_fault("502", 1)  # its backoff fits the budget, the 503's wait does not
    simulator.inject_fault("503", 5, retry_after=retry_after)

    _, report = run_reporting(events_config(simulator, retry_budget_seconds=1))

    assert report.stops["task_events"].reason is StopReason.DAILY_LIMIT
    assert not report.failures
    wait = "the server asked (Retry-After) for a 3600 s" if retry_after else "the next is a 5 s"
    left = "0.99 s left of `retry_budget_seconds`"  # the 502's 0.01 s backoff paid
    cut = f"after 2 tries (502, 503); {wait} wait, more than the {left}"
    assert f"HTTP 503 Service Unavailable from {simulator.events_url} {cut}" in caplog.text
    assert [r.status for r in simulator.requests] == [502, 503]


def test_a_503_the_budget_cannot_wait_for_says_no_retry_was_made(
    simulator: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(TaskEventsStream, "SERVICE_UNAVAILABLE_WAITS", (5.0, 10.0, 15.0, 30.0))
    config = events_config(simulator, retry_budget_seconds=0)
    simulator.inject_fault("503", 2)
    Path(tmp_path, "config.json").write_text(json.dumps(config))
    out = io.BytesIO()

    airbyte_cli.run(["check", "--config", str(tmp_path / "config.json")], out)  # source-aphex
    _, report = run_reporting(config)  # a sync: the daily limit's clean stop, said so

    messages = [json.loads(line) for line in out.getvalue().splitlines()]
    (status,) = [m for m in messages if m["type"] == "CONNECTION_STATUS"]
    message = status["connectionStatus"]["message"]
    assert "persisted" not in message
    cut = "after 1 try; the next is a 5 s wait, more than the 0 s left of `retry_budget_seconds`"
    assert f"Data API: HTTP 503 Service Unavailable from {simulator.events_url} {cut}" in message
    assert "not asked again" in message
    assert f"{cut}: not asked again." in caplog.text
    assert report.stops["task_events"].reason is StopReason.DAILY_LIMIT
    assert [r.status for r in simulator.requests] == [503, 503]


# --- Refusals -------------------------------------------------------------------------------


def test_a_wrong_key_is_one_clear_line_naming_api_key_without_traceback_or_secret(
    simulator: Simulator,
) -> None:
    secret = "wrong-key-4f8e1c2a9b"
    run = run_cli(events_config(simulator, api_key=secret), env={"LOGLEVEL": "DEBUG"})

    assert run.returncode != 0
    assert "`api_key`" in run.stderr
    assert "HTTP 401" in run.stderr
    assert "Traceback" not in run.stderr
    assert secret not in run.stderr + run.stdout


def test_the_key_never_appears_in_any_output_even_at_debug_level(simulator: Simulator) -> None:
    run = run_cli(events_config(simulator), env={"LOGLEVEL": "DEBUG"})

    assert run.returncode == 0, run.stderr
    assert simulator.api_key not in run.stderr + run.stdout


def test_a_refused_cursor_says_which_cursor_and_how_to_reset_it(simulator: Simulator) -> None:
    stale = {"replication_key": "eventId", "replication_key_value": "noSuchEvent000000000"}
    state = {"bookmarks": {name: stale for name in ("task_events", "tasks", "task_statuses")}}
    run = run_cli(events_config(simulator), state)

    assert run.returncode != 0
    assert "startAfter=noSuchEvent000000000" in run.stderr
    assert "startAfter is not a known eventId" in run.stderr  # the server's own words
    assert "remove the task_events, tasks and task_statuses bookmarks from that state" in run.stderr
    assert "meltano state clear` drops the plans' too" in run.stderr
    assert "without `--state`" in run.stderr
    assert "set `start_after`" not in run.stderr  # it does nothing while a state exists
    assert "Traceback" not in run.stderr
    # One story: what happened, that nothing was read, what to do; never that a run resumes there.
    said = log_lines(run.stderr, "ERROR")[0]
    assert "the Data API does not know it: nothing was read, and every run from that state " in said
    assert said.endswith("or run tap-aphex without `--state`.")
    assert "resume" not in said
    assert not [line for line in log_lines(run.stderr, "INFO") if "resume" in line]
    assert "resume" not in run.stderr.splitlines()[-1]


@pytest.mark.parametrize("url", ["http://example.com/apiTaskEventsV2", "ftp://example.com/x"])
def test_an_insecure_api_url_is_refused_before_any_request(simulator: Simulator, url: str) -> None:
    run = run_cli(events_config(simulator, api_url=url))

    assert run.returncode != 0
    assert "`api_url`" in run.stderr
    assert simulator.requests == []


def test_https_to_a_plain_http_server_fails_at_once_saying_the_handshake_failed() -> None:
    # Not passing: every try fails the same (the backoff spent 15 s on four more).
    with Simulator(seed=1, events=10, page_size=10, daily_quota=None, plan_projects=1) as sim:
        (project,) = sim.plan_projects
        config = events_config(sim, api_url=sim.events_url.replace("http://", "https://"))
        config["projects"] = [{"url": project.url.replace("http://", "https://"), "token": "t"}]

        started = time.monotonic()
        run = run_cli(config)
        took = time.monotonic() - started

    assert run.returncode == 1
    assert not log_lines(run.stderr, "WARNING")  # no "retrying in"
    failures = [line for line in log_lines(run.stderr, "ERROR") if "handshake" in line]
    assert len(failures) == 3  # the log's, the project's, then the run's line listing both
    for where in ("task events (after 0 read in this run): SSL", f"{project.account_id}: SSL"):
        assert any(where in line for line in failures), failures
    for failure in failures:
        assert "SSLError (the TLS handshake failed) for https://127.0.0.1:" in failure
        assert (
            "(WRONG_VERSION_NUMBER: wrong version number); not tried again. Check the URL's "
            "scheme (https:// for a server that speaks TLS, http:// for one on this machine that "
            "does not) and any proxy in between"
        ) in failure
    assert took < 10


def _port(sim: Simulator) -> int:
    return t.cast("int", urlsplit(sim.base_url).port)


def _through_tls(sim: Simulator, port: int) -> dict[str, t.Any]:
    """The events config with the Data API behind the TLS front on ``port``."""
    return events_config(sim, api_url=f"https://127.0.0.1:{port}/apiTaskEventsV2")


def test_a_handshake_cut_off_is_retried_and_a_ca_bundle_set_in_the_environment_is_trusted() -> None:
    with (
        Simulator(seed=1, events=300, page_size=100, daily_quota=None, plan_projects=0) as sim,
        tls_front(_port(sim), cut=1) as port,
    ):
        run = run_cli(_through_tls(sim, port), env={"REQUESTS_CA_BUNDLE": str(CERTIFICATE)})

    assert run.returncode == 0, run.stderr
    assert len(run.records("task_events")) == 300
    [retried] = log_lines(run.stderr, "WARNING")
    assert "SSLError" in retried
    assert "retrying in" in retried


def test_a_certificate_this_machine_does_not_trust_fails_at_once_naming_the_ca_bundle() -> None:
    with (
        Simulator(seed=1, events=30, page_size=100, daily_quota=None, plan_projects=0) as sim,
        tls_front(_port(sim)) as port,
    ):
        run = run_cli(_through_tls(sim, port))

    assert run.returncode == 1
    assert not log_lines(run.stderr, "WARNING")  # not tried again
    error = log_lines(run.stderr, "ERROR")[0]
    assert "(CERTIFICATE_VERIFY_FAILED: certificate verify failed" in error
    assert "REQUESTS_CA_BUNDLE" in error


def test_a_ca_bundle_holding_no_certificate_fails_at_once(tmp_path: Path) -> None:
    # OpenSSL's "no certificate" is no passing fault: retried, it said to allow more time.
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    with (
        Simulator(seed=1, events=30, page_size=100, daily_quota=None, plan_projects=0) as sim,
        tls_front(_port(sim)) as port,
    ):
        run = run_cli(_through_tls(sim, port), env={"REQUESTS_CA_BUNDLE": str(empty)})

    assert run.returncode == 1
    assert not log_lines(run.stderr, "WARNING")  # not tried again
    error = log_lines(run.stderr, "ERROR")[0]
    assert "(NO_CERTIFICATE_OR_CRL_FOUND: no certificate or crl found" in error
    assert "REQUESTS_CA_BUNDLE" in error


LONG = "x" * 100_000  # past what an HTTP server takes in a request line or a header


@pytest.mark.parametrize(
    ("setting", "state", "said"),
    [
        (
            {"start_after": LONG},
            None,
            "HTTP 414 Request-URI Too Long from {url}?startAfter=…. The request's URL (100,050 "
            "characters) is longer than the server, or a proxy in between, takes. The cursor in "
            "it (startAfter), from `start_after`, is 100,000 characters. Check `start_after`: it "
            "must be an eventId exactly as you received it.",
        ),
        (
            {},
            LONG,
            "The cursor in it (startAfter), from the state, is 100,000 characters. Check the "
            "state: it must be an eventId exactly as you received it.",
        ),
        (
            {"api_key": LONG},
            None,
            "HTTP 431 Line too long from {url}. The request's headers are larger than the server, "
            "or a proxy in between, takes: the longest, x-api-key, is 100,000 characters; check "
            "`api_key`: it must be exactly as Aphex shows it.",
        ),
    ],
)
def test_a_request_too_long_for_the_server_names_what_is_long(
    simulator: Simulator, setting: dict[str, str], state: str | None, said: str
) -> None:
    # The server's 414 or 431 page is HTML, which read as "a proxy or a login page in between".
    bookmark = {"replication_key": "eventId", "replication_key_value": state}
    states = {"bookmarks": dict.fromkeys(("task_events", "tasks", "task_statuses"), bookmark)}

    run = run_cli(events_config(simulator, **setting), states if state else None)

    assert run.returncode == 1
    errors = log_lines(run.stderr, "ERROR")  # the stream's, then the run's listing it
    assert errors
    assert all(said.format(url=simulator.events_url) in error for error in errors), errors
    assert "HTML" not in run.stderr


def test_a_token_too_long_for_the_server_is_named_as_the_projects_token() -> None:
    with Simulator(seed=1, events=0, daily_quota=None, plan_projects=1) as sim:
        (project,) = sim.plan_projects
        run = run_cli({"projects": [{"url": project.url, "token": LONG}]})

    assert run.returncode == 1
    assert (
        f"project {project.url}: HTTP 431 Line too long from {project.url}?limit=…. The "
        "request's headers are larger than the server, or a proxy in between, takes: the longest, "
        "Authorization, is 100,007 characters; check `projects[0].token`: it must be exactly as "
        "Aphex shows it."
    ) in log_lines(run.stderr, "ERROR")


def test_a_refused_key_or_token_names_where_it_was_set() -> None:
    # `--config ENV` puts a stale `TAP_APHEX_API_KEY` over the config file's key without a word:
    # "Check the `api_key` setting" sent the user to the file, which was right.
    with Simulator(seed=1, events=10, daily_quota=None, plan_projects=2) as sim:
        projects = [{"url": p.url, "token": p.token} for p in sim.plan_projects]
        stale = [projects[0], projects[1] | {"token": "stale-t0ken-value"}]
        config = {"api_key": "stale-k3y-value", "api_url": sim.events_url, "projects": stale}
        in_file = run_cli(config)
        variables = {
            "TAP_APHEX_API_KEY": "stale-k3y-value",
            "TAP_APHEX_PROJECTS": json.dumps(stale),
        }
        fine = config | {"api_key": sim.api_key, "projects": projects}
        in_variables = run_cli(fine, None, "--config", "ENV", env=variables)

    for run, key, token in [
        (in_file, "`api_key`", "`projects[1].token`"),
        (in_variables, "`TAP_APHEX_API_KEY`", "`TAP_APHEX_PROJECTS[1].token`"),
    ]:
        assert run.returncode == 1, run.stderr
        last = log_lines(run.stderr, "ERROR")[-1]
        assert f"The Data API refused the key (HTTP 401). Check {key}: it must be" in last
        assert f"Integrations page; put it in {token}." in last
        assert "projects[0]" not in last
        assert "stale-" not in run.stderr


def test_a_config_with_no_credentials_is_refused() -> None:
    run = run_cli({})

    assert run.returncode != 0
    assert "set `api_key`" in run.stderr


# --- Transient faults are retried -----------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "count", "retry_after"),
    [("500", 2, None), ("502", 1, 0), ("429", 2, 0), ("drop", 2, None)],
)
def test_transient_faults_are_retried_and_nothing_is_lost(
    simulator: Simulator, fault: str, count: int, retry_after: int | None
) -> None:
    simulator.inject_fault(fault, count, retry_after=retry_after)

    run = run_tap(events_config(simulator))

    assert event_ids(run.records("task_events")) == event_ids(simulator.event_log.events)
    assert simulator.pending_faults == 0


def test_retry_after_is_honoured(simulator: Simulator) -> None:
    simulator.inject_fault("429", 1, retry_after=1)

    run_tap(events_config(simulator))

    first, second = simulator.requests[0], simulator.requests[1]
    assert first.status == 429
    assert second.at - first.at >= 1.0  # asked for, not the shortened backoff


def test_a_stalled_response_times_out_and_is_retried(simulator: Simulator) -> None:
    simulator.inject_fault("stall", 1, stall_seconds=3)

    run = run_tap(events_config(simulator, request_timeout=1))

    assert event_ids(run.records("task_events")) == event_ids(simulator.event_log.events)


def test_a_page_that_breaks_off_is_asked_again(
    simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    simulator.inject_fault("truncate", 1)

    run = run_tap(events_config(simulator, page_size=321))

    assert event_ids(run.records("task_events")) == event_ids(simulator.event_log.events)
    # Named as the other retries are, its query's values hidden: requests' error names no URL.
    (retry,) = [line for line in caplog.messages if "retrying in" in line]
    said = f"ChunkedEncodingError (the answer broke off) for {simulator.events_url}?pageSize=…;"
    assert said in retry
    assert "321" not in retry


def test_a_plans_answer_that_breaks_off_is_asked_again_and_every_version_lands_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO")
    # The answer breaks off half-way whatever its size: 100 tasks a version leave as many
    # versions before the break as 300 did.
    with Simulator(seed=13, events=0, plan_projects=2, plan_tasks=100) as sim:
        broken, other = sim.plan_projects
        sim.set_plan_fault(broken.account_id, "truncate", 1)
        projects = [{"url": p.url, "token": p.token, "name": p.name} for p in sim.plan_projects]

        run = run_tap({"projects": projects, "published_plans_limit": 1000})

        for project in (broken, other):
            history = [
                v["id"] for v in sim.plan_document(project.account_id, 1000)["publishedPlans"]
            ]
            landed = [
                r["publishedPlanId"]
                for r in run.records("published_plans")
                if r["accountId"] == project.account_id
            ]
            assert sorted(landed) == sorted(history)  # each once, the broken answer's too
        broken_answers = [r for r in sim.requests if r.fault == "truncate"]
    assert len(broken_answers) == 1
    # The retry is said, naming the project whose answer broke off.
    (retry,) = [line for line in caplog.messages if "retrying in" in line]
    assert f"project {broken.name}" in retry
    assert "ChunkedEncodingError (the answer broke off) for http://" in retry  # and where
    # Both tries are counted in the project's closing line.
    (answered,) = [
        line for line in caplog.messages if line.startswith(f"Project {broken.name}: answered")
    ]
    assert "(2 requests, " in answered


def test_a_fault_that_persists_fails_clearly_with_the_state_on_emitted_events(
    simulator: Simulator,
) -> None:
    simulator.inject_fault("502", 1)  # nothing lost before the fault below
    first_page = simulator.page_size
    run_ok_pages = run_tap(events_config(simulator, max_events_per_run=first_page))
    simulator.inject_fault("502", 10, retry_after=0)

    run = run_cli(events_config(simulator), run_ok_pages.final_state)

    assert run.returncode != 0
    assert "502" in run.stderr
    assert "Traceback" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert f"HTTP 502 Bad Gateway from {simulator.events_url}?startAfter=…." in last
    assert "It persisted after retries." in last
    assert run.bookmark("task_events") == run_ok_pages.bookmark("task_events")


# --- Responses that break the protocol -------------------------------------------------------


def test_a_body_that_is_not_json_is_a_clear_error_and_the_state_stays_safe(
    simulator: Simulator,
) -> None:
    first = run_tap(events_config(simulator, max_events_per_run=500))
    simulator.inject_fault("garbage", 1)

    failed = run_cli(events_config(simulator), first.final_state)

    assert failed.returncode != 0
    assert "not JSON" in failed.stderr.strip().splitlines()[-1]
    assert failed.records("task_events") == []
    assert failed.bookmark("task_events") == first.bookmark("task_events")
    resumed = run_tap(events_config(simulator), state=failed.final_state)
    assert event_ids(resumed.records("task_events")) == event_ids(simulator.event_log.events[500:])


@pytest.mark.parametrize(
    ("fault", "what_the_page_says"),
    [("missing_cursor", "no nextStartAfter"), ("same_cursor", "nextStartAfter: null")],
)
def test_a_page_with_no_way_forward_is_the_end_of_the_log(
    simulator: Simulator, fault: str, what_the_page_says: str
) -> None:
    simulator.inject_fault(fault, 1)  # the first request has no startAfter: the echo is null

    first = run_cli(events_config(simulator))
    requests_of_the_first_run = len(simulator.requests)
    second = run_tap(events_config(simulator), state=first.final_state)

    assert first.returncode == 0, first.stderr
    assert requests_of_the_first_run == 1
    first_page = event_ids(simulator.event_log.events[:500])
    assert event_ids(first.records("task_events")) == first_page, what_the_page_says
    assert first.bookmark("task_events") == first.bookmark("tasks") == first_page[-1]
    assert event_ids(second.records("task_events")) == event_ids(simulator.event_log.events[500:])


def test_the_cursor_sent_coming_back_as_next_is_refused(simulator: Simulator) -> None:
    cursor = simulator.event_log.events[9]["eventId"]
    simulator.inject_fault("same_cursor", 1)

    with pytest.raises(RunFailedError, match=f"nextStartAfter={cursor}, a cursor this run already"):
        run_tap(events_config(simulator, start_after=cursor))

    assert len(simulator.requests) == 1


# --- A run killed at any moment -------------------------------------------------------------


def test_a_run_killed_mid_way_resumes_from_its_last_state_with_nothing_lost() -> None:
    # Killed after 4 pages of 250 (a pipe's worth ahead at most): 2,500 events leave most of the
    # log to the resumed run.
    with Simulator(seed=11, events=2_500, page_size=250, daily_quota=None, plan_projects=0) as sim:
        config = events_config(sim)
        killed = killed_after_states(config, 4)  # once it has checkpointed a few pages
        last_state = [m["value"] for m in killed if m["type"] == "STATE"][-1]
        bookmark = last_state["bookmarks"]["task_events"]["replication_key_value"]
        delivered = [
            m["record"]["eventId"]
            for m in killed
            if m["type"] == "RECORD" and m["stream"] == "task_events"
        ]
        assert 0 < len(delivered) < len(sim.event_log.events)

        resumed = run_tap(config, state=last_state)

        kept = delivered[: delivered.index(bookmark) + 1]  # what a target committed with that state
        assert kept + event_ids(resumed.records("task_events")) == event_ids(sim.event_log.events)


@pytest.mark.parametrize("status", [304, 302, 300])  # 302 without a Location is no redirect
def test_a_3xx_that_is_no_redirect_is_one_clear_failure(
    httpserver: HTTPServer, status: int
) -> None:
    httpserver.expect_request("/apiTaskEventsV2").respond_with_data(status=status)

    run = run_cli(
        {"api_key": "key-for-3xx-test", "api_url": httpserver.url_for("/apiTaskEventsV2")}
    )

    assert run.returncode == 1
    assert f"HTTP {status}" in run.stderr
    assert "No Aphex API documents that answer" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_redirect_is_not_followed_with_the_key(httpserver: HTTPServer) -> None:
    with HTTPServer(host="127.0.0.1") as elsewhere:
        elsewhere.expect_request("/x").respond_with_data(status=204)
        httpserver.expect_request("/apiTaskEventsV2").respond_with_data(
            status=302, headers={"Location": elsewhere.url_for("/x")}
        )

        run = run_cli(
            {
                "api_key": "secret-key-for-redirect",
                "api_url": httpserver.url_for("/apiTaskEventsV2"),
            }
        )

        assert elsewhere.log == []  # the key never went there
    assert run.returncode != 0
    assert "redirected (HTTP 302)" in run.stderr
    assert [request.headers.get("x-api-key") for request, _ in httpserver.log] == [
        "secret-key-for-redirect"
    ]


class _RedirectWithLatin1Location(http.server.BaseHTTPRequestHandler):
    """A 302 whose Location holds byte 0x85 as it is (werkzeug would percent-encode it)."""

    def do_GET(self) -> None:
        self.wfile.write(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/\x85x\r\n")
        self.wfile.write(b"Content-Length: 0\r\nConnection: close\r\n\r\n")

    def log_message(self, *args: object) -> None:
        pass


def test_a_redirect_to_a_location_that_is_not_utf8_is_the_same_one_line() -> None:
    # requests reads a redirect's Location even with redirects off, and fails on this byte.
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RedirectWithLatin1Location) as server:
        # Polled every 0.05 s (the default 0.5 s is what `shutdown` below waits, at most).
        serve = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        serve.start()
        url = f"http://127.0.0.1:{server.server_address[1]}/apiTaskEventsV2"
        try:
            with pytest.raises(RunFailedError) as failed:
                run_tap({"api_key": "key-for-redirect-test", "api_url": url})
        finally:
            server.shutdown()

    assert "the API redirected (HTTP 302) to http://127.0.0.1:1/\x85x;" in str(failed.value)


def test_a_misplaced_secret_in_config_is_not_echoed_by_validation() -> None:
    run = run_cli(
        {"api_key": 123456789, "projects": [{"url": "https://x/power-bi/v1/a", "token": 987654321}]}
    )

    assert run.returncode != 0
    assert "`api_key` must be a string, not a number; `projects[0].token` must be a" in run.stderr
    assert "123456789" not in run.stderr
    assert "987654321" not in run.stderr


def test_a_data_api_failure_lets_the_published_plans_land_then_fails_the_run() -> None:
    with Simulator(seed=4, events=300, daily_quota=None, plan_projects=1) as sim:
        project = sim.plan_projects[0]
        config = {
            "api_key": "not-the-key",
            "api_url": sim.events_url,
            "projects": [{"url": project.url, "token": project.token, "name": project.name}],
        }

        run = run_cli(config)

        assert run.returncode != 0
        assert run.records("published_plans")
        assert "`api_key`" in run.stderr.strip().splitlines()[-1]
