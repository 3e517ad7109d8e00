"""What the task-event log does with answers the simulator's happy path never gives, over real HTTP.

Each test scripts a small Data API with pytest-httpserver: which page answers which `startAfter`.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import time
import typing as t

import pytest
from aphex_simulator import Simulator
from harness import (
    CapturedStdout,
    TapRun,
    log_lines,
    parse_messages,
    replay_tasks,
    run_cli,
    run_tap,
)
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tap_aphex.report import RunFailedError, RunReport, StopReason
from tap_aphex.streams.task_events import TaskEventsStream
from tap_aphex.tap import TapAphex

PATH = "/apiTaskEventsV2"
KEY = "scripted-key"


@pytest.fixture(scope="module")
def log() -> list[dict[str, t.Any]]:
    """Twelve real-looking events (the simulator's generator), served here by scripts."""
    return Simulator(seed=3, events=12, plan_projects=0).event_log.events


@pytest.fixture(autouse=True)
def no_wait_on_503(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the waits between 503 retries instead of sleeping them (nothing here is timed)."""
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)  # backoff calls time.sleep
    return waits


class ScriptedApi:
    """Answers each request by its `startAfter` (None: the first request) from a script."""

    def __init__(self, server: HTTPServer, script: dict[str | None, list[Response]]) -> None:
        self.script = {cursor: list(answers) for cursor, answers in script.items()}
        self.cursors_sent: list[str | None] = []
        server.expect_request(PATH).respond_with_handler(self.answer)
        self.url = server.url_for(PATH)

    def answer(self, request: Request) -> Response:
        cursor = request.args.get("startAfter")
        self.cursors_sent.append(cursor)
        answers = self.script.get(cursor) or [Response(status=204)]
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def config(self, **settings: t.Any) -> dict[str, t.Any]:
        return {"api_key": KEY, "api_url": self.url, **settings}


def page(events: list[dict[str, t.Any]], **cursor: t.Any) -> Response:
    """A 200 page; ``cursor`` is ``next_start_after=...`` (default: the last event) or nothing."""
    body: dict[str, t.Any] = {"data": events}
    if cursor.get("omit") is not True:
        body["nextStartAfter"] = cursor.get("next_start_after", events[-1]["eventId"])
    return Response(json.dumps(body), status=200, content_type="application/json")


def unavailable(retry_after: str | None = None) -> Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Response('{"error": "Service Unavailable"}', status=503, headers=headers)


def ids(events: list[dict[str, t.Any]]) -> list[str]:
    return [event["eventId"] for event in events]


def run_reporting(config: dict[str, t.Any], state: dict[str, t.Any] | None = None) -> RunReport:
    with contextlib.redirect_stdout(CapturedStdout()):
        tap = TapAphex(config=config, state=copy.deepcopy(state or {}))
        tap.run()
    return tap.report


# --- The end of the log ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "last_page_cursor",
    [{"next_start_after": None}, {"omit": True}, {"next_start_after": ""}],
    ids=["null", "absent", "empty"],
)
def test_a_last_page_without_a_next_cursor_is_the_end_of_the_log(
    httpserver: HTTPServer, log: list[dict[str, t.Any]], last_page_cursor: dict[str, t.Any]
) -> None:
    api = ScriptedApi(
        httpserver,
        {None: [page(log[:4])], log[3]["eventId"]: [page(log[4:7], **last_page_cursor)]},
    )

    run = run_cli(api.config())

    assert run.returncode == 0, run.stderr
    assert ids(run.records("task_events")) == ids(log[:7])
    assert run.bookmark("task_events") == run.bookmark("tasks") == log[6]["eventId"]
    assert api.cursors_sent == [None, log[3]["eventId"]]  # nothing asked after the last page
    assert "Reached the end of the log: 7 events read in this run" in run.stderr


def test_a_page_member_nobody_documents_is_said_once_and_the_events_land(
    httpserver: HTTPServer, log: list[dict[str, t.Any]]
) -> None:
    def with_extra(events: list[dict[str, t.Any]]) -> Response:
        body = {"data": events, "nextStartAfter": events[-1]["eventId"], "totalCount": 12}
        return Response(json.dumps(body), status=200, content_type="application/json")

    api = ScriptedApi(
        httpserver, {None: [with_extra(log[:4])], log[3]["eventId"]: [with_extra(log[4:7])]}
    )

    run = run_cli(api.config())

    assert run.returncode == 0, run.stderr
    assert ids(run.records("task_events")) == ids(log[:7])
    said = [line for line in run.stderr.splitlines() if "`totalCount`" in line]
    assert len(said) == 1  # two pages, one WARNING
    assert "WARNING" in said[0]
    assert "a member the tap does not know" in said[0]


@pytest.mark.parametrize("cursor", [12, ["x"], "Kx8\ud83dAb"], ids=["number", "list", "surrogate"])
def test_a_next_cursor_that_is_no_event_id_stops_after_its_page_is_delivered(
    httpserver: HTTPServer, log: list[dict[str, t.Any]], cursor: object
) -> None:
    api = ScriptedApi(
        httpserver,
        {None: [page(log[:4])], log[3]["eventId"]: [page(log[4:7], next_start_after=cursor)]},
    )

    run = run_cli(api.config())

    assert run.returncode == 1
    assert ids(run.records("task_events")) == ids(log[:7])  # the page itself was fine
    assert run.bookmark("task_events") == run.bookmark("tasks") == log[6]["eventId"]
    assert '"nextStartAfter" is no event id' in run.stderr.strip().splitlines()[-1]
    assert "Traceback" not in run.stderr
    assert api.cursors_sent == [None, log[3]["eventId"]]  # never sent back
    if isinstance(cursor, str):  # said as the vendor wrote it, never as the tap decoded it
        assert '"Kx8\\ud83dAb"' in run.stderr
        assert "\ufffd" not in run.stderr


def test_an_id_of_20000_characters_lands_whole_and_each_line_naming_it_stays_short(
    httpserver: HTTPServer, log: list[dict[str, t.Any]]
) -> None:
    long_id = "K" * 20_000
    events = [*copy.deepcopy(log[:3]), {**copy.deepcopy(log[3]), "eventId": long_id}]
    events[3]["createdAt"] = "yesterday"  # a misfit: a WARNING names the event
    events[3]["K" * 20_000] = 1  # a field the tap does not know: a WARNING names it
    api = ScriptedApi(httpserver, {None: [page(events)], long_id: [page(log[4:6])]})

    run = run_cli(api.config())

    assert run.returncode == 0, run.stderr[-2000:]
    assert ids(run.records("task_events")) == [*ids(log[:3]), long_id, *ids(log[4:6])]
    assert api.cursors_sent[1] == long_id  # the cursor goes back whole
    lines = run.stderr.splitlines()
    assert any("… (20000 characters)" in line for line in lines)  # the id, named by its start
    assert max(len(line) for line in lines) < 2_000


def test_a_line_break_or_escape_code_in_an_id_is_shown_escaped_and_forges_no_log_line(
    httpserver: HTTPServer, log: list[dict[str, t.Any]]
) -> None:
    odd_id = "ev\x1b[31m\r\n2026-01-01 00:00:00,000 | INFO | forged"
    events = [*copy.deepcopy(log[:3]), {**copy.deepcopy(log[3]), "eventId": odd_id}]
    api = ScriptedApi(httpserver, {None: [page(events)], odd_id: [page(log[4:6])]})

    run = run_cli(api.config())

    assert run.returncode == 0, run.stderr[-2000:]
    assert run.bookmark("task_events") == log[5]["eventId"]
    assert odd_id in ids(run.records("task_events"))  # the record keeps it as it came
    assert "\x1b" not in run.stderr
    assert not any("forged" in line and "ev\\u001b" not in line for line in run.stderr.splitlines())
    assert "ev\\u001b[31m\\r\\n2026-01-01" in run.stderr


def test_the_end_of_the_log_is_reported_with_where_the_next_run_resumes(
    httpserver: HTTPServer, log: list[dict[str, t.Any]]
) -> None:
    api = ScriptedApi(httpserver, {None: [page(log[:5], next_start_after=None)]})

    report = run_reporting(api.config())

    stop = report.stops["task_events"]
    assert (stop.reason, stop.resume_at) == (
        StopReason.END_OF_LOG,
        f"after event {log[4]['eventId']}",
    )


def test_max_events_and_a_failure_are_reported_with_where_the_next_run_resumes(
    httpserver: HTTPServer, log: list[dict[str, t.Any]]
) -> None:
    refused = Response('{"error": "no"}', status=401)
    api = ScriptedApi(httpserver, {None: [page(log[:4])], log[3]["eventId"]: [refused]})

    limited = run_reporting(api.config(max_events_per_run=3))
    tap = TapAphex(config=api.config())
    with contextlib.redirect_stdout(CapturedStdout()), pytest.raises(RunFailedError):
        tap.run()

    stopped_by_limit = limited.stops["task_events"]
    assert (stopped_by_limit.reason, stopped_by_limit.resume_at) == (
        StopReason.MAX_EVENTS,
        f"after event {log[2]['eventId']}",
    )
    failed = tap.report.stops["task_events"]
    assert (failed.reason, failed.resume_at) == (
        StopReason.FAILURE,
        f"after event {log[3]['eventId']}",
    )
    assert tap.report.stops["tasks"] == failed


# --- Never a second lap ----------------------------------------------------------------------


def test_a_cursor_cycle_of_three_pages_stops_before_a_second_lap(
    httpserver: HTTPServer, log: list[dict[str, t.Any]]
) -> None:
    a, b, c = log[0:3], log[3:6], log[6:9]
    api = ScriptedApi(
        httpserver,
        {
            None: [page(a)],
            a[-1]["eventId"]: [page(b)],
            b[-1]["eventId"]: [page(c, next_start_after=a[-1]["eventId"])],  # back to page b
        },
    )

    run = run_cli(api.config())

    assert run.returncode == 1
    assert "a cursor this run already sent" in run.stderr
    assert "Traceback" not in run.stderr
    assert api.cursors_sent == [None, a[-1]["eventId"], b[-1]["eventId"]]
    assert ids(run.records("task_events")) == ids(a + b + c)  # each event once
    assert run.bookmark("task_events") == run.bookmark("tasks") == c[-1]["eventId"]


def test_events_already_delivered_in_this_run_are_dropped_with_a_warning_wherever_they_come(
    httpserver: HTTPServer, log: list[dict[str, t.Any]], caplog: pytest.LogCaptureFixture
) -> None:
    a, b = log[0:4], log[4:8]
    api = ScriptedApi(
        httpserver,
        {
            None: [page(a)],
            a[-1]["eventId"]: [page(b)],
            # A new cursor, but its page repeats events of page a, first and in the middle.
            b[-1]["eventId"]: [page(log[1:3] + log[8:9] + log[3:4] + log[9:10])],
        },
    )

    run = run_tap(api.config())

    assert ids(run.records("task_events")) == ids(a + b + log[8:10])  # each event once
    # `tasks` got no older copy of a task from the repeated events: its records are those the
    # delivered events produce, once each.
    produced_by = [record["eventId"] for record in run.records("tasks")]
    assert len(produced_by) == len(set(produced_by))
    assert set(produced_by) <= set(ids(a + b + log[8:10]))
    assert f"Event {log[1]['eventId']} came again" in caplog.text
    assert run.bookmark("task_events") == run.bookmark("tasks") == log[9]["eventId"]


def test_the_event_a_run_starts_after_served_again_is_not_sent_again(
    httpserver: HTTPServer, log: list[dict[str, t.Any]], caplog: pytest.LogCaptureFixture
) -> None:
    # A server that reads `startAfter` as inclusive: its page starts with the bookmark itself.
    bookmark = log[3]["eventId"]
    api = ScriptedApi(httpserver, {bookmark: [page(log[3:8], next_start_after=None)]})

    run = run_tap(api.config(start_after=bookmark))

    assert ids(run.records("task_events")) == ids(log[4:8])
    assert f"Event {bookmark} came again" in caplog.text
    assert run.bookmark("task_events") == log[7]["eventId"]


def test_a_page_of_only_the_event_asked_after_is_the_end_of_the_log(
    httpserver: HTTPServer, log: list[dict[str, t.Any]]
) -> None:
    # An inclusive server at the end of its log: the event asked after, and the same cursor.
    last = log[7]["eventId"]
    api = ScriptedApi(httpserver, {None: [page(log[:8])], last: [page(log[7:8])]})

    run = run_cli(api.config())

    assert run.returncode == 0, run.stderr
    assert ids(run.records("task_events")) == ids(log[:8])
    assert run.bookmark("task_events") == last
    assert "Reached the end of the log" in run.stderr


# --- HTTP 503: a passing outage, or the daily quota ------------------------------------------


def test_a_passing_503_is_retried_and_nothing_is_lost(
    httpserver: HTTPServer, log: list[dict[str, t.Any]], no_wait_on_503: list[float]
) -> None:
    api = ScriptedApi(
        httpserver,
        {
            None: [unavailable(), unavailable(), page(log[:6])],
            log[5]["eventId"]: [page(log[6:], next_start_after=None)],
        },
    )

    report = run_reporting(api.config())

    assert api.cursors_sent == [None, None, None, log[5]["eventId"]]
    assert no_wait_on_503 == list(TaskEventsStream.SERVICE_UNAVAILABLE_WAITS[:2])
    assert report.stops["task_events"].reason is StopReason.END_OF_LOG


def test_503_waits_honour_retry_after_within_the_budget(
    httpserver: HTTPServer, log: list[dict[str, t.Any]], no_wait_on_503: list[float]
) -> None:
    answers = [unavailable("20"), unavailable("soon"), page(log[:3])]
    api = ScriptedApi(httpserver, {None: answers})

    report = run_reporting(api.config())

    schedule = TaskEventsStream.SERVICE_UNAVAILABLE_WAITS
    assert no_wait_on_503 == [20.0, schedule[1]]  # an unreadable Retry-After: the schedule
    assert report.stops["task_events"].reason is StopReason.END_OF_LOG
    assert sum(schedule) <= 90, "about a minute in all"


def test_a_retry_after_beyond_the_budget_is_not_waited_it_is_the_daily_limit(
    httpserver: HTTPServer, log: list[dict[str, t.Any]], no_wait_on_503: list[float]
) -> None:
    api = ScriptedApi(httpserver, {None: [unavailable("100000"), page(log[:3])]})

    report = run_reporting({**api.config(), "retry_budget_seconds": 600})

    assert no_wait_on_503 == []
    assert api.cursors_sent == [None]
    assert report.stops["task_events"].reason is StopReason.DAILY_LIMIT


@pytest.mark.parametrize("budget", [0, 7])
def test_every_503_wait_is_charged_to_the_retry_budget(
    httpserver: HTTPServer, log: list[dict[str, t.Any]], no_wait_on_503: list[float], budget: int
) -> None:
    api = ScriptedApi(httpserver, {None: [unavailable()] * 6})

    report = run_reporting({**api.config(), "retry_budget_seconds": budget})

    assert sum(no_wait_on_503) <= budget
    assert no_wait_on_503 == (
        [] if budget == 0 else [TaskEventsStream.SERVICE_UNAVAILABLE_WAITS[0]]
    )
    assert report.stops["task_events"].reason is StopReason.DAILY_LIMIT


def test_a_503_that_persists_is_the_daily_limit_a_clean_stop_that_keeps_what_was_read(
    httpserver: HTTPServer, log: list[dict[str, t.Any]], caplog: pytest.LogCaptureFixture
) -> None:
    api = ScriptedApi(httpserver, {None: [page(log[:4])], log[3]["eventId"]: [unavailable()]})
    out = CapturedStdout()

    with contextlib.redirect_stdout(out):
        tap = TapAphex(config=api.config())
        tap.run()  # no failure: the quota is not an error

    run = TapRun(parse_messages(out.getvalue()))
    assert run.bookmark("task_events") == run.bookmark("tasks") == log[3]["eventId"]
    assert (
        api.cursors_sent.count(log[3]["eventId"])
        == len(TaskEventsStream.SERVICE_UNAVAILABLE_WAITS) + 1
    )
    assert tap.report.stops["task_events"].reason is StopReason.DAILY_LIMIT
    assert "4 events read in this run" in caplog.text


# --- Bookmarks that differ are said, never silent (an unusable one is refused: test_task_events) --


def test_bookmarks_that_differ_restart_from_start_after_and_say_so(
    httpserver: HTTPServer, log: list[dict[str, t.Any]], caplog: pytest.LogCaptureFixture
) -> None:
    api = ScriptedApi(httpserver, {log[1]["eventId"]: [page(log[2:], next_start_after=None)]})
    state = {
        "bookmarks": {
            "task_events": {
                "replication_key": "eventId",
                "replication_key_value": log[9]["eventId"],
            },
            "tasks": {"replication_key": "eventId", "replication_key_value": log[5]["eventId"]},
        }
    }

    run_reporting(api.config(start_after=log[1]["eventId"]), state)

    assert f"Reading after event {log[1]['eventId']} (`start_after`)" in caplog.text
    assert "the bookmarks differ" in caplog.text
    assert api.cursors_sent == [log[1]["eventId"]]


# --- A 400 says how to clear the state -------------------------------------------------------


def test_a_400_on_the_start_after_setting_says_to_check_that_setting(
    httpserver: HTTPServer,
) -> None:
    answer = Response('{"error": "Bad Request: startAfter is not a known eventId"}', status=400)
    api = ScriptedApi(httpserver, {"typo": [answer]})

    run = run_cli(api.config(start_after="typo"))

    assert run.returncode == 1
    last_line = run.stderr.strip().splitlines()[-1]
    assert "startAfter is not a known eventId" in last_line
    assert "Check `start_after`" in last_line
    assert "meltano state clear" not in last_line  # there is no state to clear


def test_a_400_on_the_servers_own_next_cursor_says_so(
    httpserver: HTTPServer, log: list[dict[str, t.Any]]
) -> None:
    answer = Response('{"error": "Bad Request: startAfter is not a known eventId"}', status=400)
    api = ScriptedApi(httpserver, {None: [page(log[:3])], log[2]["eventId"]: [answer]})

    run = run_cli(api.config())

    assert run.returncode == 1
    assert "the nextStartAfter of the Data API's previous page" in run.stderr
    assert run.bookmark("task_events") == log[2]["eventId"]


# --- Pages are decoded from bytes; a body that is not JSON is one clear line -------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": [{"eventId": "a"',  # cut off
        b'{"data": [{"eventId": "a", "apiVersion": "\xff"}]}',  # not UTF-8
        b'{"data": [{"eventId": "a"}], "extra": "\xc0\x80"}',  # not UTF-8, beside the events
    ],
)
def test_a_body_that_is_not_json_is_one_clear_line(httpserver: HTTPServer, body: bytes) -> None:
    broken = Response(body, status=200, content_type="application/json")
    api = ScriptedApi(httpserver, {None: [broken]})

    run = run_cli(api.config())

    assert run.returncode == 1
    assert "body that is not JSON" in run.stderr.strip().splitlines()[-1]


# --- tasks: each task's newest change per page -----------------------------------------------


def test_a_task_created_updated_and_deleted_in_one_page_is_one_deletion_record(
    httpserver: HTTPServer, log: list[dict[str, t.Any]]
) -> None:
    created = next(event for event in log if event["type"] == "TaskCreated")
    task_id = created["task"]["id"]
    updates = [
        {**created, "eventId": f"upd{n}", "type": "TaskUpdated", "task": {**created["task"]}}
        for n in range(3)
    ]
    deleted = {**created, "eventId": "del0", "type": "TaskDeleted", "task": {"id": task_id}}
    other = next(e for e in log if e["type"] == "TaskCreated" and e["task"]["id"] != task_id)
    script = [created, *updates, other, deleted]
    api = ScriptedApi(httpserver, {None: [page(script, next_start_after=None)]})

    run = run_tap(api.config())

    tasks = run.records("tasks")
    assert [(t["id"], t["eventId"]) for t in tasks] == [
        (other["task"]["id"], other["eventId"]),
        (task_id, "del0"),
    ]
    assert tasks[1]["_sdc_deleted_at"] is not None
    assert set(replay_tasks(tasks)) == {other["task"]["id"]}
    assert run.bookmark("tasks") == run.bookmark("task_events") == "del0"


@pytest.mark.parametrize(
    ("task_id", "got"),
    [
        ("", 'a string ""'),
        ("   ", 'a string "   "'),
        (5, "a number 5"),
        # A lone surrogate: it is U+FFFD in a record, so two such ids would be one task.
        ("\ud800x", 'a string "\\ud800x" (it holds a lone surrogate)'),
    ],
)
def test_an_event_whose_task_id_is_no_id_changes_no_task_with_one_warning(
    httpserver: HTTPServer, log: list[dict[str, t.Any]], task_id: object, got: str
) -> None:
    created = [event for event in log if event["type"] == "TaskCreated"][:3]
    broken = [
        {**event, "eventId": f"bad{n}", "task": {**event["task"], "id": task_id}}
        for n, event in enumerate(created[:2])
    ]
    script = [created[2], *broken]
    # As JSON writes it (ASCII): a lone surrogate is an escape, `\ud800`.
    body = json.dumps({"data": script, "nextStartAfter": None})
    answer = Response(body, status=200, content_type="application/json")
    api = ScriptedApi(httpserver, {None: [answer]})

    run = run_cli(api.config())

    assert run.returncode == 0, run.stderr
    assert ids(run.records("task_events")) == ids(script)  # the log as it came
    assert [task["id"] for task in run.records("tasks")] == [created[2]["task"]["id"]]
    assert {s["taskId"] for s in run.records("task_statuses")} <= {created[2]["task"]["id"]}
    warned = [line for line in log_lines(run.stderr, "WARNING") if "names no task id" in line]
    assert warned == [
        f"Event bad0 names no task id (got {got}; an id is text, not blank, without a lone "
        "surrogate): it is in task_events as it came and changes no task (said once per run)."
    ]
    assert run.bookmark("tasks") == run.bookmark("task_statuses") == "bad1"


@pytest.mark.parametrize("created_at", [None, "yesterday", "absent"])
def test_a_deletion_without_a_readable_time_is_dated_by_the_run_and_said_once(
    httpserver: HTTPServer, log: list[dict[str, t.Any]], created_at: str | None
) -> None:
    created = [event for event in log if event["type"] == "TaskCreated"][:2]
    deletions = [
        {"eventId": f"del{n}", "type": "TaskDeleted", "task": {"id": e["task"]["id"]}}
        | ({} if created_at == "absent" else {"createdAt": created_at})
        for n, e in enumerate(created)
    ]
    api = ScriptedApi(httpserver, {None: [page([*created, *deletions], next_start_after=None)]})
    before = time.time()

    run = run_cli(api.config())

    assert run.returncode == 0, run.stderr
    tasks = run.records("tasks")
    assert [task["eventId"] for task in tasks] == ["del0", "del1"]
    for task in tasks:  # still deletions, dated by the run
        deleted_at = dt.datetime.fromisoformat(task["_sdc_deleted_at"].replace("Z", "+00:00"))
        assert deleted_at.timestamp() >= before - 1
    warned = [line for line in log_lines(run.stderr, "WARNING") if "deletes task" in line]
    assert warned == [
        f"Event del0 deletes task {created[0]['task']['id']} but its createdAt is missing or "
        "unreadable: the deletion's _sdc_deleted_at is this run's time instead, not when it "
        "happened (said once per run)."
    ]
