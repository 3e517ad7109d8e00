"""The simulator of the Aphex APIs, exercised over real HTTP (no mocks)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from aphex_simulator import (
    VARIATION_KINDS,
    EventLog,
    Simulator,
    SimulatorSettings,
    Variation,
    current_tasks,
    generate_events,
)
from aphex_simulator.__main__ import main as simulator_main
from aphex_simulator.faults import SERVICE_UNAVAILABLE
from aphex_simulator.plans import HISTORY_LIMIT_MS

TIMEOUT = 10
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[Simulator]:
    """A simulator for tests that only read (no quota, no faults, no appends)."""
    with Simulator(seed=3, events=2500, page_size=1000, daily_quota=None) as sim:
        yield sim


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A fresh simulator for tests that change its state."""
    with Simulator(seed=11, events=1200, page_size=500, daily_quota=None, stall_seconds=0.5) as sim:
        yield sim


def get_events(sim: Simulator, url: str | None = None, **params: str) -> requests.Response:
    return requests.get(
        url or sim.events_url, params=params, headers={"x-api-key": sim.api_key}, timeout=TIMEOUT
    )


def read_all(
    sim: Simulator, url: str | None = None, start_after: str | None = None
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while True:
        response = get_events(sim, url, **({"startAfter": start_after} if start_after else {}))
        if response.status_code == 204:
            return events
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["nextStartAfter"] == body["data"][-1]["eventId"]
        events.extend(body["data"])
        start_after = body["nextStartAfter"]


def replay(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    tasks: dict[str, dict[str, Any]] = {}
    for event in events:
        if event["type"] == "TaskDeleted":
            del tasks[event["task"]["id"]]
        else:
            tasks[event["task"]["id"]] = event["task"]
    return tasks


# ------------------------------------------------------------------------------ the event log

TASK_FIELDS = {
    "calendar",
    "duration",
    "end",
    "externalId",
    "id",
    "labourResources",
    "location",
    "materialResources",
    "name",
    "ownerEmail",
    "ownerName",
    "packageId",
    "parentId",
    "plantResources",
    "projectExternalId",
    "projectId",
    "projectName",
    "shift",
    "start",
    "statuses",
    "subcontractor",
    "successors",
    "wbsPath",
}
STATUS_TYPES = {"delay", "shortened", "completed", "onSchedule", "completedEarly"}


def test_generated_log_is_deterministic_valid_and_continuable() -> None:
    events = generate_events(5, 3000)
    assert events == generate_events(5, 3000)
    assert events != generate_events(6, 3000)

    log = EventLog(5)
    log.append(1000)
    log.append(2000)
    assert log.events == events  # appending later continues the very same log

    assert len({e["eventId"] for e in events}) == len(events)
    assert {e["type"] for e in events} == {"TaskCreated", "TaskUpdated", "TaskDeleted"}
    assert len({e["task"].get("projectId") for e in events} - {None}) == 4
    live: set[str] = set()
    deleted: set[str] = set()
    previous = 0
    for event in events:
        assert set(event) == {"apiVersion", "createdAt", "eventId", "task", "type"}
        assert len(event["eventId"]) == 20
        assert event["eventId"].isalnum()
        assert event["createdAt"] >= previous
        previous = event["createdAt"]
        task = event["task"]
        if event["type"] == "TaskDeleted":
            assert task == {"id": task["id"]}
            live.remove(task["id"])
            deleted.add(task["id"])
            continue
        assert set(task) == TASK_FIELDS
        assert task["id"] not in deleted
        if event["type"] == "TaskCreated":
            assert task["id"] not in live
            live.add(task["id"])
        else:
            assert task["id"] in live
        assert task["end"] >= task["start"]
        for status in task["statuses"]:
            assert status["type"] in STATUS_TYPES
            assert (status["category"] != "") == (status["type"] == "delay")
            if status["type"] == "delay":
                assert status["value"] > 0
    assert replay(events) == current_tasks(events)
    assert any(len(t["statuses"]) >= 3 for t in current_tasks(events).values())


# ------------------------------------------------------------------------------- data API


def test_paging_returns_every_event_once_in_order(shared_sim: Simulator) -> None:
    events = read_all(shared_sim)
    assert events == shared_sim.event_log.events
    assert replay(events) == shared_sim.current_tasks()
    pages = [r for r in shared_sim.requests if r.status == 200]
    assert [r.events for r in pages[-3:]] == [1000, 1000, 500]
    last = events[-1]["eventId"]
    assert get_events(shared_sim, startAfter=last).status_code == 204
    assert get_events(shared_sim, startAfter=last).content == b""


def test_other_event_paths_and_page_size(shared_sim: Simulator) -> None:
    assert read_all(shared_sim, shared_sim.events_v1_url) == shared_sim.event_log.events
    body = get_events(shared_sim, shared_sim.task_events_url, pageSize="7").json()
    assert body["data"] == shared_sim.event_log.events[:7]
    # The simulator's page size (1000 here) caps every path, /taskEvents's 2000 default too.
    assert len(get_events(shared_sim, shared_sim.task_events_url).json()["data"]) == 1000
    assert len(get_events(shared_sim, pageSize="3").json()["data"]) == 3
    third = shared_sim.event_log.events[2]["eventId"]
    body = get_events(shared_sim, startAfter=third, pageSize="2").json()
    assert body["data"] == shared_sim.event_log.events[3:5]


@pytest.mark.parametrize(
    "params",
    [
        {"startAfter": "NoSuchEventId0000000"},
        {"startAfter": ""},
        {"pageSize": "0"},
        {"pageSize": "4001"},
        {"pageSize": "abc"},
        {"pageSize": "+5"},
        {"since": "yesterday"},
    ],
)
def test_bad_query_is_400(shared_sim: Simulator, params: dict[str, str]) -> None:
    assert get_events(shared_sim, **params).status_code == 400


def test_key_and_method(shared_sim: Simulator) -> None:
    url = shared_sim.events_url
    assert requests.get(url, timeout=TIMEOUT).status_code == 401
    wrong = requests.get(url, headers={"x-api-key": "nope"}, timeout=TIMEOUT)
    assert wrong.status_code == 401
    assert "error" in wrong.json()
    headers = {"x-api-key": shared_sim.api_key}
    assert requests.post(url, headers=headers, data=b"{}", timeout=TIMEOUT).status_code == 403
    assert requests.put(url, headers=headers, timeout=TIMEOUT).status_code == 403
    for record in shared_sim.requests:
        assert shared_sim.api_key not in repr(record)


def test_daily_quota_then_new_day() -> None:
    with Simulator(seed=2, events=1300, page_size=500, daily_quota=1200) as sim:
        first = get_events(sim).json()
        second = get_events(sim, sim.task_events_url, startAfter=first["nextStartAfter"]).json()
        third = get_events(sim, startAfter=second["nextStartAfter"]).json()
        assert [len(p["data"]) for p in (first, second, third)] == [500, 500, 200]  # truncated
        assert sim.served_today == 1200
        cursor = third["nextStartAfter"]
        refused = get_events(sim, startAfter=cursor)
        assert refused.status_code == 503
        assert get_events(sim, sim.events_v1_url, startAfter=cursor).status_code == 503
        sim.new_day()
        assert sim.served_today == 0
        rest = read_all(sim, start_after=cursor)
        assert [*first["data"], *second["data"], *third["data"], *rest] == sim.event_log.events


def test_appended_events_continue_from_the_last_cursor(sim: Simulator) -> None:
    before = read_all(sim)
    new = sim.append_events(300)
    assert read_all(sim, start_after=before[-1]["eventId"]) == new
    assert new[0]["createdAt"] >= before[-1]["createdAt"]
    assert replay(before + new) == sim.current_tasks()


def test_grow_per_start() -> None:
    with Simulator(seed=4, events=50, daily_quota=None, grow_per_start=20) as sim:
        first_run = read_all(sim)
        assert len(first_run) == 50
        second_run = read_all(sim, start_after=first_run[-1]["eventId"])
        assert len(second_run) == 20
        assert len(sim.event_log) == 90


@pytest.mark.parametrize("kind", ["404", "500", "502", "429"])
def test_error_faults_then_recovery(sim: Simulator, kind: str) -> None:
    sim.inject_fault(kind, count=2, retry_after=3 if kind != "429" else None)
    for _ in range(2):
        response = get_events(sim)
        assert response.status_code == int(kind)
        assert response.headers["Retry-After"] == ("1" if kind == "429" else "3")
    assert get_events(sim).status_code == 200
    assert sim.served_today == 500
    records = sim.requests
    assert [r.fault for r in records] == [kind, kind, None]
    assert records[0].at <= records[1].at <= records[2].at


def test_500_without_retry_after(sim: Simulator) -> None:
    sim.inject_fault("500")
    response = get_events(sim)
    assert response.status_code == 500
    assert "Retry-After" not in response.headers


def test_drop_fault(sim: Simulator) -> None:
    sim.inject_fault("drop")
    with pytest.raises(requests.ConnectionError):
        get_events(sim)
    assert get_events(sim).status_code == 200
    assert sim.requests[0].status == 0


def test_garbage_fault(sim: Simulator) -> None:
    sim.inject_fault("garbage")
    response = get_events(sim)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    assert get_events(sim).json()["data"] == sim.event_log.events[:500]


def test_stall_fault(sim: Simulator) -> None:
    sim.inject_fault("stall", stall_seconds=0.6)
    with pytest.raises(requests.Timeout):
        requests.get(sim.events_url, headers={"x-api-key": sim.api_key}, timeout=0.2)
    sim.inject_fault("stall", stall_seconds=0.1)
    started = time.monotonic()
    response = get_events(sim)
    assert time.monotonic() - started >= 0.1
    assert response.json()["data"] == sim.event_log.events[:500]
    assert sim.served_today == 0  # faults never spend the quota


def test_cursor_faults(sim: Simulator) -> None:
    sim.inject_fault("missing_cursor")
    body = get_events(sim).json()
    assert body["data"] == sim.event_log.events[:500]
    assert "nextStartAfter" not in body
    cursor = sim.event_log.events[499]["eventId"]
    sim.inject_fault("same_cursor")
    body = get_events(sim, startAfter=cursor).json()
    assert body["data"] == sim.event_log.events[500:1000]
    assert body["nextStartAfter"] == cursor
    assert get_events(sim, startAfter=cursor).json()["nextStartAfter"] != cursor
    assert sim.served_today == 500


def test_faults_are_fifo_and_never_consume_quota() -> None:
    with Simulator(seed=9, events=100, page_size=50, daily_quota=60) as sim:
        sim.inject_fault("502")
        sim.inject_fault("missing_cursor")
        sim.inject_fault("429", retry_after=0)
        statuses = [get_events(sim).status_code for _ in range(3)]
        assert statuses == [502, 200, 429]
        assert sim.served_today == 0
        assert sim.pending_faults == 0
        assert [r.fault for r in sim.requests] == ["502", "missing_cursor", "429"]


def test_bad_fault_kind(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        sim.inject_fault("teapot")


# -------------------------------------------------------------------------- published plans


@pytest.fixture(scope="module")
def plans_sim() -> Iterator[Simulator]:
    with Simulator(seed=5, events=10, plan_projects=2, plan_tasks=30, history_weeks=30) as sim:
        yield sim


def get_plan(url: str, token: str | None, **params: str) -> requests.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return requests.get(url, params=params, headers=headers, timeout=TIMEOUT)


def test_plan_document_shape_and_limit(plans_sim: Simulator) -> None:
    project = plans_sim.plan_projects[0]
    assert project.url.startswith(plans_sim.base_url + "/power-bi/v1/")
    document = get_plan(project.url, project.token).json()
    assert document == plans_sim.plan_document(project.account_id)
    assert document["project"]["name"] == project.name
    plans = document["publishedPlans"]
    assert [p["version"] for p in plans] == [30, 29, 28, 27, 26]  # default limit 5, newest first
    assert plans[0]["publishedAt"] > plans[1]["publishedAt"]
    assert plans[0]["name"].startswith("Week ")
    assert len(plans[0]["tasks"]) == 30
    assert {t["taskId"] for t in plans[0]["tasks"]} == {t["taskId"] for t in plans[1]["tasks"]}
    task_ids = {t["taskId"] for t in plans[0]["tasks"]}
    assert {s["taskId"] for s in plans[0]["statuses"]} <= task_ids
    assert set(plans[0]["tasks"][0]) == {
        "taskId",
        "name",
        "start",
        "end",
        "duration",
        "shift",
        "ownerName",
        "ownerEmail",
        "subcontractor",
        "wbsPath",
        "wbsName",
        "externalId",
        "packageCode",
        "packageName",
        "keyTask",
        "status",
        "notes",
    }
    assert len(get_plan(project.url, project.token, limit="2").json()["publishedPlans"]) == 2
    # An unknown parameter is ignored: the vendor has at least one whose name we do not know.
    assert get_plan(project.url, project.token, other="x").status_code == 200


def test_plans_evolve_week_on_week(plans_sim: Simulator) -> None:
    project = plans_sim.plan_projects[1]
    plans = plans_sim.plan_document(project.account_id, limit=30)["publishedPlans"]
    oldest, newest = plans[-1], plans[0]
    complete = [sum(t["status"] == "Complete" for t in plan["tasks"]) for plan in reversed(plans)]
    assert complete == sorted(complete)  # a completed task never reopens
    assert complete[-1] > complete[0]
    assert len(newest["statuses"]) > len(oldest["statuses"])


def test_six_month_history(plans_sim: Simulator) -> None:
    project = plans_sim.plan_projects[0]
    plans = get_plan(project.url, project.token, limit="100").json()["publishedPlans"]
    assert len(plans) == 27  # 30 published weekly, but only 183 days are kept
    assert plans[0]["publishedAt"] - plans[-1]["publishedAt"] <= HISTORY_LIMIT_MS


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5"])
def test_bad_limit_is_400(plans_sim: Simulator, limit: str) -> None:
    project = plans_sim.plan_projects[0]
    assert get_plan(project.url, project.token, limit=limit).status_code == 400


def test_plan_auth_method_and_account(plans_sim: Simulator) -> None:
    project, other = plans_sim.plan_projects
    assert get_plan(project.url, None).status_code == 401
    assert get_plan(project.url, "wrong").status_code == 401
    assert get_plan(project.url, other.token).status_code == 401  # tokens are per project
    assert get_plan(plans_sim.base_url + "/power-bi/v1/nope", project.token).status_code == 404
    response = requests.post(
        project.url, headers={"Authorization": f"Bearer {project.token}"}, timeout=TIMEOUT
    )
    assert response.status_code == 403


def test_expired_token_and_new_version() -> None:
    with Simulator(seed=8, events=10, plan_projects=1, plan_tasks=5) as sim:
        project = sim.plan_projects[0]
        sim.expire_token(project.account_id)
        assert get_plan(project.url, project.token).status_code == 401
        new_token = sim.issue_token(project.account_id)
        assert sim.plan_projects[0].token == new_token
        before = get_plan(project.url, new_token, limit="1").json()["publishedPlans"][0]
        assert sim.publish_version(project.account_id) == before["version"] + 1
        after = get_plan(project.url, new_token, limit="1").json()["publishedPlans"][0]
        assert after["version"] == before["version"] + 1
        assert after["publishedAt"] - before["publishedAt"] >= 6 * 24 * 3600 * 1000


def test_response_size_limit_is_500() -> None:
    with Simulator(seed=8, events=10, plan_projects=1, max_response_bytes=60_000) as sim:
        project = sim.plan_projects[0]
        assert get_plan(project.url, project.token, limit="1").status_code == 200
        too_big = get_plan(project.url, project.token, limit="26")
        assert too_big.status_code == 500
        assert len(too_big.content) < 200


def test_plan_faults() -> None:
    with Simulator(seed=8, events=10, plan_projects=1, plan_tasks=5) as sim:
        project = sim.plan_projects[0]
        sim.set_plan_fault(project.account_id, "502", count=1, retry_after=2)
        sim.set_plan_fault(project.account_id, "garbage")
        failed = get_plan(project.url, project.token)
        assert (failed.status_code, failed.headers["Retry-After"]) == (502, "2")
        assert get_plan(project.url, project.token).headers["Content-Type"] == "text/html"
        assert get_plan(project.url, project.token).status_code == 200


def test_plans_latency_delays_every_answer_and_concurrent_requests_overlap() -> None:
    latency, clients = 1.0, 6  # a margin of 2 s on a loaded machine: sequential would be 6 s
    with Simulator(
        seed=8, events=10, plan_projects=1, plan_tasks=5, plans_latency_seconds=latency
    ) as sim:
        project = sim.plan_projects[0]
        started = time.monotonic()
        assert get_plan(project.url, None).status_code == 401  # refusals wait too
        assert time.monotonic() - started >= latency
        # N clients at once: each waits the latency, side by side (one thread per request), so
        # the whole takes about one latency, far from N of them.
        with ThreadPoolExecutor(clients) as pool:
            started = time.monotonic()
            answers = list(pool.map(lambda _: get_plan(project.url, project.token), range(clients)))
            elapsed = time.monotonic() - started
        assert [a.status_code for a in answers] == [200] * clients
        assert latency <= elapsed < latency * clients / 2, elapsed
        assert get_events(sim).status_code == 200  # the Data API has no latency
    parsed, _ = SimulatorSettings.from_args(["--plans-latency-seconds", "1.5"])
    assert parsed.plans_latency_seconds == 1.5
    assert SimulatorSettings().plans_latency_seconds == 0
    with pytest.raises(ValueError, match="plans_latency_seconds must be >= 0"):
        SimulatorSettings(plans_latency_seconds=-1)


# ---------------------------------------------------------------------- admin endpoints, CLI


def test_admin_endpoints(sim: Simulator) -> None:
    base = sim.base_url + "/_sim/"
    info = requests.get(base + "info", timeout=TIMEOUT).json()
    assert info["events_url"] == sim.events_url
    assert info["event_count"] == 1200
    assert requests.post(base + "append", params={"count": 5}, timeout=TIMEOUT).ok
    assert len(sim.event_log) == 1205
    fault = {"kind": "429", "count": "1", "retry_after": "2"}
    assert requests.post(base + "fault", params=fault, timeout=TIMEOUT).ok
    assert get_events(sim).status_code == 429
    assert requests.post(base + "fault", params={"kind": "x"}, timeout=TIMEOUT).status_code == 400
    assert requests.get(base + "new-day", timeout=TIMEOUT).status_code == 405
    assert requests.post(base + "new-day", timeout=TIMEOUT).ok
    account = sim.plan_projects[0].account_id
    published = requests.post(base + "publish", params={"account_id": account}, timeout=TIMEOUT)
    assert published.json()["version"] == 27
    expire = requests.post(base + "expire-token", params={"account_id": account}, timeout=10)
    assert expire.ok
    assert get_plan(sim.plan_projects[0].url, sim.plan_projects[0].token).status_code == 401
    assert requests.get(base + "tasks", timeout=TIMEOUT).json() == sim.current_tasks()


def test_cli_prints_one_json_line_and_stops_on_sigterm() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "aphex_simulator", "--events", "120", "--quiet"]
    command += ["--variations=string_number,null_value"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as process:
        try:
            assert process.stdout is not None
            info = json.loads(process.stdout.readline())
            assert set(info) >= {"base_url", "events_url", "api_key", "projects"}
            assert {"name", "url", "token"} <= set(info["projects"][0])
            assert info["variations"] == ["null_value", "string_number"]
            response = requests.get(
                info["events_url"], headers={"x-api-key": info["api_key"]}, timeout=TIMEOUT
            )
            assert len(response.json()["data"]) == 120
            project = info["projects"][0]
            assert get_plan(project["url"], project["token"]).status_code == 200
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=TIMEOUT) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


# ------------------------------------------------------------- settings: one home per default


def test_the_command_line_and_the_constructor_share_their_defaults() -> None:
    settings, quiet = SimulatorSettings.from_args([])
    assert settings == SimulatorSettings()
    assert not quiet
    parsed, _ = SimulatorSettings.from_args(
        ["--daily-quota", "0", "--page-size", "7", "--variations", "--quiet"]
    )
    assert parsed.daily_quota is None  # 0 on the command line: no quota
    assert parsed.page_size == 7
    assert parsed.variations == VARIATION_KINDS  # a bare --variations: every kind
    some, _ = SimulatorSettings.from_args(["--variations=passing_503,renamed_table"])
    assert some.variations == {"passing_503", "renamed_table"}
    base = SimulatorSettings(seed=3)
    assert Simulator(base, events=5, plan_projects=0).settings == SimulatorSettings(
        seed=3, events=5, plan_projects=0
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--page-size", "4001"], "page_size must be 1..4000"),
        (["--events", "-1"], "events must be >= 0"),
        (["--variations=teapot"], "unknown variation kind"),
        (["--events", "10", "--cursor-cycle-pages", "3"], "needs at least"),
    ],
)
def test_bad_settings_are_one_line_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert simulator_main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_the_generated_data_did_not_change() -> None:
    """Pins the log and the documents, so that a refactor keeps every byte a client reads."""
    events = json.dumps(generate_events(7, 2000)).encode()
    assert hashlib.sha256(events).hexdigest() == (
        "09646a50801658832dd8bf039e9d9bdf5be5c96b50a0eb56dc17d0f09a1375c3"
    )
    sim = Simulator(seed=5, events=0, plan_projects=2, plan_tasks=10, history_weeks=8)
    documents = [sim.plan_document(p.account_id, 8) for p in sim.plans.projects]
    assert hashlib.sha256(json.dumps(documents).encode()).hexdigest() == (
        "7b6071dea5a348e68964aa1944d79b41ecd6d6097028b7f1f14fbfbdf4efe976"
    )


def test_503_fault_looks_like_the_quota_and_clears(sim: Simulator) -> None:
    sim.inject_fault("503", count=2)
    refused = [get_events(sim) for _ in range(2)]
    assert [r.status_code for r in refused] == [503, 503]
    assert refused[0].json() == {"error": SERVICE_UNAVAILABLE}  # only a retry tells them apart
    assert get_events(sim).status_code == 200
    assert [r.fault for r in sim.requests] == ["503", "503", None]


# ------------------------------------------------------------------------ variations mode


def at_path(unit: Any, path: str) -> Any:
    """The value at a variation's path ("task.statuses[2].date"); KeyError if absent."""
    for part in path.replace("[", ".").replace("]", "").split("."):
        unit = unit[int(part)] if part.isdigit() else unit[part]
    return unit


def read_through_503s(sim: Simulator) -> list[dict[str, Any]]:
    """Every event, retrying passing 503s, ending on a 204 or a null nextStartAfter."""
    events: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        response = get_events(sim, **({"startAfter": cursor} if cursor else {}))
        if response.status_code == 503:
            continue
        if response.status_code == 204:
            return events
        body = response.json()
        events.extend(body["data"])
        cursor = body["nextStartAfter"]
        if cursor is None:
            return events


@pytest.fixture(scope="module")
def varied_sim() -> Iterator[Simulator]:
    with Simulator(
        seed=12,
        events=900,
        page_size=200,
        daily_quota=None,
        variations=True,
        plan_projects=2,
        plan_tasks=12,
        history_weeks=10,
    ) as sim:
        yield sim


def test_variations_serve_every_kind_where_they_say(varied_sim: Simulator) -> None:
    events = read_through_503s(varied_sim)
    assert events == varied_sim.event_log.events
    documents = {
        project.account_id: get_plan(project.url, project.token).json()
        for project in varied_sim.plan_projects
    }
    served = varied_sim.variations_served
    assert {v.kind for v in served} == VARIATION_KINDS
    by_id = {event["eventId"]: event for event in events}
    for variation in served:
        if variation.event_id is not None:
            unit = by_id[variation.event_id]
        elif variation.account_id is not None:
            plans = documents[variation.account_id]["publishedPlans"]
            unit = next(p for p in plans if p["version"] == variation.version)
        else:
            continue  # a page or a request: checked below
        if variation.kind in ("absent_key", "category_absent", "row_without_task_id"):
            with pytest.raises(KeyError):
                at_path(unit, variation.path)
        elif variation.kind != "renamed_table":
            assert at_path(unit, variation.path) == variation.value, variation
    # Only the first plan project carries surprises; the other is the happy path.
    first, second = varied_sim.plan_projects
    assert {v.account_id for v in served if v.account_id} == {first.account_id}
    plain = Simulator(seed=12, events=0, plan_projects=2, plan_tasks=12, history_weeks=10)
    assert documents[second.account_id] == plain.plan_document(second.account_id)


def test_variations_expectations_for_a_tolerant_reader() -> None:
    expected = {
        "string_number": "raw",
        "key_task_string": "raw",
        "seconds_time": "typed",
        "sample_time": "typed",
        "float_number": "typed",
        "null_value": "null",
        "absent_key": "null",
        "published_at_null": "warn",
        "passing_503": "warn",
        "cursor_cycle": "error",
    }
    assert {kind: Variation(kind, "").expect for kind in expected} == expected


def test_plan_variations_by_version(varied_sim: Simulator) -> None:
    project = varied_sim.plan_projects[0]
    plans = varied_sim.plan_document(project.account_id)["publishedPlans"]
    assert [p["version"] for p in plans] == [10, 9, 8, 7, 6]
    newest, renamed, keyless, undated, duplicate = plans
    assert {t["keyTask"] for t in newest["tasks"]} <= {"Yes", "No"}
    assert "tasks" not in renamed
    assert len(renamed["Tasks"]) == 12
    assert sum("taskId" not in t for t in keyless["tasks"]) == 1
    assert undated["publishedAt"] is None
    assert duplicate["id"] == keyless["id"]


def test_variations_are_deterministic_by_seed_and_keep_the_log() -> None:
    def varied(seed: int) -> tuple[list[dict[str, Any]], list[Variation]]:
        log = EventLog(seed, variations=VARIATION_KINDS)
        log.append(400)
        log.append(300)  # appending later continues the very same varied log
        return log.events, log.variations_between(0, len(log))

    events, variations = varied(4)
    assert (events, variations) == varied(4)
    assert variations != varied(5)[1]
    assert len(variations) > 40
    plain = generate_events(4, 700)
    assert [e["eventId"] for e in events] == [e["eventId"] for e in plain]
    changed = [a for a, b in zip(events, plain, strict=True) if a != b]
    assert len(changed) == len(variations)  # at most one variation an event, the rest untouched
    # The ground truth holds the values as served: a task's string `start` stays a string.
    truth = current_tasks(events)
    for variation in variations:
        if variation.path.startswith("task.") and variation.kind == "string_number":
            task_id = next(e for e in events if e["eventId"] == variation.event_id)["task"]["id"]
            last = [e for e in events if e["task"]["id"] == task_id][-1]
            if last["eventId"] == variation.event_id and task_id in truth:
                assert at_path({"task": truth[task_id]}, variation.path) == variation.value
                return
    pytest.fail("no task ended on a string number: pick another seed")


def test_passing_503s_clear_and_can_be_left_out() -> None:
    with Simulator(seed=6, events=500, page_size=100, daily_quota=None, variations=True) as sim:
        read_through_503s(sim)
        statuses = [r.status for r in sim.requests]
        assert statuses.count(503) == 3  # one early, then two in a row
        assert "503, 503, 503" not in str(statuses)  # each clears on the next request or two
        assert statuses[-1] == 200
        assert sim.served_today == 500
        assert {r.fault for r in sim.requests if r.status == 503} == {"503"}
    kinds = VARIATION_KINDS - {"passing_503"}
    with Simulator(seed=6, events=500, page_size=100, daily_quota=None, variations=kinds) as sim:
        read_through_503s(sim)
        assert 503 not in [r.status for r in sim.requests]


def test_last_page_carries_a_null_cursor() -> None:
    kinds = {"null_next_start_after"}
    with Simulator(seed=6, events=250, page_size=100, daily_quota=None, variations=kinds) as sim:
        pages = [get_events(sim).json()]
        while pages[-1]["nextStartAfter"] is not None:
            pages.append(get_events(sim, startAfter=pages[-1]["nextStartAfter"]).json())
        assert [len(page["data"]) for page in pages] == [100, 100, 50]
        last = sim.event_log.events[-1]["eventId"]
        assert get_events(sim, startAfter=last).status_code == 204
        new = sim.append_events(10)
        body = get_events(sim, startAfter=last).json()
        assert (body["data"], body["nextStartAfter"]) == (new, None)


def test_cursor_cycle_leads_back_until_cleared() -> None:
    with Simulator(
        seed=6, events=700, page_size=100, daily_quota=None, cursor_cycle_pages=3
    ) as sim:
        cursors: list[str | None] = [None]
        for _ in range(8):
            params = {"startAfter": cursors[-1]} if cursors[-1] else {}
            cursors.append(get_events(sim, **params).json()["nextStartAfter"])
        ids = [e["eventId"] for e in sim.event_log.events]
        loop = [ids[99], ids[199], ids[299]]  # page 4 leads back to page 2: pages 2-4 repeat
        assert cursors[1:] == [*loop, *loop, *loop[:2]]
        assert [r.fault for r in sim.requests].count("cycle") == 2
        assert {v.kind for v in sim.variations_served} == {"cursor_cycle"}
        sim.clear_faults()
        assert get_events(sim, startAfter=ids[299]).json()["nextStartAfter"] == ids[399]
        with pytest.raises(ValueError, match="needs at least"):
            sim.set_cursor_cycle(7)
        requests.post(sim.base_url + "/_sim/cycle", params={"pages": 2}, timeout=TIMEOUT)
        assert get_events(sim, startAfter=ids[199]).json()["nextStartAfter"] == ids[99]


def test_grow_per_start_also_after_a_null_cursor() -> None:
    kinds = {"null_next_start_after"}
    with Simulator(seed=4, events=50, daily_quota=None, grow_per_start=20, variations=kinds) as sim:
        first_run = read_through_503s(sim)
        assert len(first_run) == 50
        assert len(sim.event_log) == 70  # the last page had no cursor: the log grew at once
        second_run = get_events(sim, startAfter=first_run[-1]["eventId"]).json()
        assert (len(second_run["data"]), second_run["nextStartAfter"]) == (20, None)
