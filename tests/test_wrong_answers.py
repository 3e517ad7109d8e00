"""Answers that are not what the API documents, said by their true cause; real HTTP.

A 404 for a URL that answered earlier in the run is the API's (or a proxy's) failure, not the URL
setting; an HTML page where JSON belongs is said to be one, never printed.
"""

from __future__ import annotations

import json
import typing as t

import pytest
from aphex_simulator import Simulator
from harness import events_config, log_lines, plans_config, run_cli, run_tap
from test_airbyte import read
from test_published_plans import odd_project, plan_version

from tap_aphex.client import AphexStream
from tap_aphex.report import RunFailedError

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from pytest_httpserver import HTTPServer

PAGE = 100


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(
        seed=11, events=3 * PAGE, page_size=PAGE, daily_quota=None, plan_projects=1
    ) as s:
        yield s


def lose_the_second_page(sim: Simulator) -> None:
    """The first page served as usual (a "stall" of no time), the second answered 404."""
    sim.inject_fault("stall", stall_seconds=0)
    sim.inject_fault("404")


# --- A 404 after the URL answered -------------------------------------------------------------


def test_a_404_for_a_later_page_is_no_url_setting_and_the_state_stays_at_what_landed(
    sim: Simulator,
) -> None:
    lose_the_second_page(sim)

    failed = run_cli(events_config(sim))

    assert failed.returncode != 0
    last = failed.stderr.strip().splitlines()[-1]
    first_page = [e["eventId"] for e in sim.event_log.events[:PAGE]]
    assert f"The page asked with startAfter={first_page[-1]} was not found" in last
    assert "answered at this URL earlier in this run" in last
    assert "api_url" not in failed.stderr
    assert [r["eventId"] for r in failed.records("task_events")] == first_page
    assert failed.bookmark("task_events") == first_page[-1] == failed.bookmark("tasks")
    resumed = run_tap(events_config(sim), state=failed.final_state)
    rest = [e["eventId"] for e in sim.event_log.events[PAGE:]]
    assert [r["eventId"] for r in resumed.records("task_events")] == rest


def test_a_404_after_an_answer_that_broke_off_is_no_url_setting_either(sim: Simulator) -> None:
    """A 200 whose body broke off proved the URL as well as a whole one: its retry's 404 is the
    API's failure, for the Data API as for a project (whose bodies stream)."""
    sim.inject_fault("truncate")
    sim.inject_fault("404")

    failed = run_cli(events_config(sim))

    assert failed.returncode != 0
    last = failed.stderr.strip().splitlines()[-1]
    assert "The page asked with no startAfter was not found" in last
    assert "(the API failed, or a proxy did). Nothing was delivered" in last
    assert "api_url" not in failed.stderr
    assert failed.records("task_events") == []
    assert "replication_key_value" not in json.dumps(failed.final_state)  # no position


def test_a_404_for_the_first_request_still_names_api_url(sim: Simulator) -> None:
    sim.inject_fault("404")

    failed = run_cli(events_config(sim))

    assert failed.returncode != 0
    assert "Check `api_url`" in failed.stderr.strip().splitlines()[-1]
    assert failed.records("task_events") == []


def test_a_404_for_a_resumed_runs_first_request_names_the_cursor_too(sim: Simulator) -> None:
    """The URL is most likely wrong, but the state's cursor may be what is not found."""
    state = run_tap(events_config(sim, max_events_per_run=PAGE)).final_state
    sim.inject_fault("404")

    failed = run_cli(events_config(sim), state)

    assert failed.returncode != 0
    last = failed.stderr.strip().splitlines()[-1]
    cursor = sim.event_log.events[PAGE - 1]["eventId"]
    assert "Check `api_url`" in last
    assert f"the cursor sent (startAfter={cursor}, from the state)" in last
    assert failed.final_state == state


def test_a_404_for_a_later_page_is_a_system_error_under_source_aphex(
    sim: Simulator, tmp_path: Path
) -> None:
    lose_the_second_page(sim)

    result = read(tmp_path, events_config(sim))

    (error,) = result.errors()
    assert error["failure_type"] == "system_error", error
    assert "was not found, though the Data API answered at this URL earlier" in error["message"]
    assert "api_url" not in error["message"]
    last_delivered = sim.event_log.events[PAGE - 1]["eventId"]
    assert result.states("task_events")[-1]["replication_key_value"] == last_delivered
    assert len(result.records("task_events")) == PAGE
    assert result.exit_code == 1


def lose_the_projects_second_answer(sim: Simulator) -> dict[str, t.Any]:
    """A config whose first read asks for 1 version, then for the whole history: the second
    answer is a 404."""
    (project,) = sim.plan_projects
    sim.set_plan_fault(project.account_id, "stall", stall_seconds=0)
    sim.set_plan_fault(project.account_id, "404")
    entry = {"url": project.url, "token": project.token, "name": "Site"}
    return {"projects": [entry], "published_plans_limit": 1}


def test_a_404_when_a_project_is_asked_again_is_no_url_setting(sim: Simulator) -> None:
    failed = run_cli(lose_the_projects_second_answer(sim))

    assert failed.returncode != 0
    assert "project Site: HTTP 404 Not Found" in failed.stderr
    assert "answered earlier in this run, so the URL setting is right" in failed.stderr
    assert "copy the URL again" not in failed.stderr
    assert "replication_key_value" not in json.dumps(failed.final_state)  # none moved


def test_a_404_when_a_project_is_asked_again_is_a_system_error_under_source_aphex(
    sim: Simulator, tmp_path: Path
) -> None:
    result = read(tmp_path, lose_the_projects_second_answer(sim))

    (error,) = result.errors()
    assert error["failure_type"] == "system_error", error
    assert "answered earlier in this run" in error["message"]
    assert result.exit_code == 1


# --- A plans document that breaks after versions went out -----------------------------------

# Three versions as JSON text; each break leaves the versions before it whole.
DOCUMENT = json.dumps(
    {"project": {"id": "p1"}, "publishedPlans": [plan_version(n) for n in (3, 2, 1)]}
)
BREAKS = [
    pytest.param(DOCUMENT + ' {"x":1}', 3, "trailing garbage", id="trailing garbage"),
    pytest.param(DOCUMENT[: DOCUMENT.index('{"id": "v1"')], 2, "premature EOF", id="cut off"),
    pytest.param(DOCUMENT.replace('{"id": "v1"', '{"id": v1'), 2, "invalid", id="a bad token"),
]


@pytest.mark.parametrize(("body", "landed", "why"), BREAKS)
def test_a_document_that_breaks_after_versions_landed_says_so_and_that_they_go_again(
    httpserver: HTTPServer, body: str, landed: int, why: str
) -> None:
    """Versions go out as they are read: a break after some is no "nothing from it was used"."""
    path = "/power-bi/v1/p1"
    httpserver.expect_request(path).respond_with_data(body, content_type="application/json")
    config = {"projects": [odd_project(httpserver.url_for(path), "Broken")]}

    failed = run_cli(config)
    again = run_cli(config, failed.final_state)

    assert failed.returncode == again.returncode == 1
    (error, _) = log_lines(failed.stderr, "ERROR")  # the project's, then the run's last line
    assert why in error
    assert "nothing from it was used" not in failed.stderr
    assert error.endswith(
        f"{landed} versions of the project landed before the failure: the next run sends each "
        "again (an upsert on the key absorbs it)."
    )
    sent = [r["publishedPlanId"] for r in failed.records("published_plans")]
    assert len(sent) == landed
    assert [r["publishedPlanId"] for r in again.records("published_plans")] == sent  # as said


def test_a_document_broken_before_its_first_version_still_says_nothing_was_used(
    httpserver: HTTPServer,
) -> None:
    path = "/power-bi/v1/p1"
    body = DOCUMENT.replace('{"id": "v3"', '{"id": v3')
    httpserver.expect_request(path).respond_with_data(body, content_type="application/json")

    failed = run_cli({"projects": [odd_project(httpserver.url_for(path), "Broken")]})

    assert failed.returncode == 1
    assert failed.records("published_plans") == []
    assert "invalid char in json text.); nothing from it was used. If it" in failed.stderr
    assert "landed before the failure" not in failed.stderr


def test_an_answer_that_breaks_off_for_good_says_how_many_versions_landed_before() -> None:
    """The simulator's answer breaks off half-way; no retry budget: the project fails there."""
    with Simulator(seed=13, events=0, plan_projects=1, plan_tasks=30) as sim:
        (project,) = sim.plan_projects
        sim.set_plan_fault(project.account_id, "truncate")
        config = plans_config([project], retry_budget_seconds=0, published_plans_limit=1000)

        failed = run_cli(config)
        again = run_tap(config, failed.final_state)

    assert failed.returncode == 1
    sent = [r["publishedPlanId"] for r in failed.records("published_plans")]
    assert 0 < len(sent) < 26
    (error, _) = log_lines(failed.stderr, "ERROR")
    assert "ChunkedEncodingError (the answer broke off)" in error
    assert f"gave up. {len(sent)} versions of the project landed before the failure: the " in error
    assert failed.bookmark("published_plans") is None  # so the next run sends them again
    again_sent = {r["publishedPlanId"] for r in again.records("published_plans")}
    assert set(sent) < again_sent


# --- An HTML page where JSON belongs ----------------------------------------------------------

PAGE_TEXT = "Sign in to continue"
HTML = f"<!DOCTYPE html>\n<html><head><title>{PAGE_TEXT}</title></head><body></body></html>"


XML = f'<?xml version="1.0"?><Error><Message>{PAGE_TEXT}</Message></Error>'


PAGES = [
    (HTML, "text/html; charset=utf-8", "an HTML page"),
    ("\r\n  " + HTML, "application/json", "an HTML page"),  # says it is JSON: its `<` tells
    (PAGE_TEXT, "text/html", "an HTML page"),  # no markup, but its type says it is a page
    (XML, "application/xml", "markup (HTML or XML)"),  # a gateway's or a storage's error
]
FAR = (" " * 100_000 + HTML, "application/json", "an HTML page")  # past a document's first chunk


# An error answer is said by its first bytes only: FAR as a 200 alone.
@pytest.mark.parametrize(
    ("body", "content_type", "said", "status"),
    [(*page, status) for page in PAGES for status in (200, 502)] + [(*FAR, 200)],
)
@pytest.mark.parametrize("api", ["task events", "project Site"])
def test_an_html_page_is_said_to_be_one_and_never_shown(
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    api: str,
    status: int,
    body: str,
    content_type: str,
    said: str,
) -> None:
    monkeypatch.setattr(AphexStream, "BACKOFF_FIRST_WAIT", 0.0)  # a 502 is retried at once
    httpserver.expect_request("/api").respond_with_data(body, status, content_type=content_type)
    url = httpserver.url_for("/api")
    config: dict[str, t.Any] = (
        {"api_key": "k" * 20, "api_url": url}
        if api == "task events"
        else {"projects": [{"url": url, "token": "t0ken", "name": "Site"}]}
    )

    with pytest.raises(RunFailedError) as failed:
        run_tap(config)

    message = str(failed.value)
    assert f"{said} ({content_type}), not JSON: a proxy, a login page or an error page" in message
    assert api in message
    assert f"HTTP {status}" in message or status == 200
    assert PAGE_TEXT not in message
    assert PAGE_TEXT not in caplog.text


def test_the_simulators_html_page_is_said_to_be_one_for_both_apis(sim: Simulator) -> None:
    (project,) = sim.plan_projects
    sim.inject_fault("garbage")
    sim.set_plan_fault(project.account_id, "garbage")
    entry = {"url": project.url, "token": project.token, "name": "Site"}

    failed = run_cli({**events_config(sim), "projects": [entry]})

    assert failed.returncode == 1
    last = failed.stderr.strip().splitlines()[-1]
    assert "The Data API answered with an HTML page (text/html), not JSON" in last
    assert "project Site: The Published Plans API answered with an HTML page (text/html)" in last
    assert "Server Error" not in failed.stderr
