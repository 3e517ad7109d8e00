"""published_plans and its tables against the simulated Published Plans API, over real HTTP."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import re
import subprocess
import sys
import threading
import typing as t
from pathlib import Path

import pytest
from aphex_simulator import PlanProject, Simulator
from harness import (
    CapturedStdout,
    TapRun,
    events_config,
    log_lines,
    parse_messages,
    plans_config,
    run_cli,
    run_tap,
    selecting,
)
from pytest_httpserver import HTTPServer
from schema_check import invalid_records
from singer_sdk.helpers.conform import TypeConformanceLevel
from werkzeug import Request, Response

from tap_aphex.report import RunFailedError, StopReason
from tap_aphex.schemas import epoch_to_rfc3339
from tap_aphex.streams.plan_document import DocumentReader, PublishedVersion
from tap_aphex.streams.published_plans import (
    PublishedPlansStream,
    PublishedPlanStatusesStream,
    PublishedPlanTasksStream,
)
from tap_aphex.tap import TapAphex


@pytest.fixture
def portfolio() -> t.Iterator[Simulator]:
    """Three projects, six months of weekly publications, no task events needed."""
    with Simulator(seed=13, events=0, plan_projects=3, plan_tasks=30) as sim:
        yield sim


def versions_by_project(run: TapRun) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for record in run.records("published_plans"):
        found.setdefault(record["accountId"], set()).add(record["publishedPlanId"])
    return found


def expected_versions(sim: Simulator, project: PlanProject, limit: int = 1000) -> set[str]:
    """The newest ``limit`` versions; by default the whole history the API keeps."""
    return {v["id"] for v in sim.plan_document(project.account_id, limit)["publishedPlans"]}


def read_versions(document: object) -> list[PublishedVersion]:
    body = io.BytesIO(json.dumps(document).encode())
    return [v for v in DocumentReader(logging.getLogger("test")).versions(body, "p1") if v]


def test_every_project_lands_its_published_versions_with_every_task(portfolio: Simulator) -> None:
    projects = portfolio.plan_projects

    run = run_tap(plans_config(projects))

    assert versions_by_project(run) == {
        p.account_id: expected_versions(portfolio, p) for p in projects
    }
    for project in projects:
        document = portfolio.plan_document(project.account_id, 1000)
        expected_rows = {
            (version["id"], task["taskId"])
            for version in document["publishedPlans"]
            for task in version["tasks"]
        }
        landed = {
            (row["publishedPlanId"], row["taskId"])
            for row in run.records("published_plan_tasks")
            if row["accountId"] == project.account_id
        }
        assert landed == expected_rows
    statuses = sum(
        len(version["statuses"])
        for p in projects
        for version in portfolio.plan_document(p.account_id, 1000)["publishedPlans"]
    )
    assert len(run.records("published_plan_statuses")) == statuses


def test_published_times_are_the_documents_epoch_times_as_rfc3339_utc(
    portfolio: Simulator,
) -> None:
    project = portfolio.plan_projects[0]
    run = run_tap(plans_config([project]))

    served = {
        v["id"]: v for v in portfolio.plan_document(project.account_id, 1000)["publishedPlans"]
    }
    assert run.records("published_plans")
    for record in run.records("published_plans"):
        version = served[record["publishedPlanId"]]
        assert record["publishedAt"] == epoch_to_rfc3339(version["publishedAt"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["publishedAt"])
    for row in run.records("published_plan_tasks"):
        task = served[row["publishedPlanId"]]["tasks"][row["rowNumber"] - 1]
        assert row["start"] == epoch_to_rfc3339(task["start"])


def test_published_plans_limit_is_the_size_of_later_requests(portfolio: Simulator) -> None:
    project = portfolio.plan_projects[0]
    first = run_tap(plans_config([project], published_plans_limit=2))
    portfolio.publish_version(project.account_id)
    portfolio.clear_requests()

    second = run_tap(plans_config([project], published_plans_limit=2), state=first.final_state)

    assert [r.query for r in portfolio.requests] == [{"limit": "2"}]
    assert len(second.records("published_plans")) == 1


def test_a_later_run_emits_only_versions_published_since(portfolio: Simulator) -> None:
    projects = portfolio.plan_projects
    first = run_tap(plans_config(projects))
    portfolio.publish_version(projects[1].account_id)

    second = run_tap(plans_config(projects), state=first.final_state)

    newest = portfolio.plan_document(projects[1].account_id, 1)["publishedPlans"][0]
    assert versions_by_project(second) == {projects[1].account_id: {newest["id"]}}
    assert {row["publishedPlanId"] for row in second.records("published_plan_tasks")} == {
        newest["id"]
    }


def test_state_is_per_project_and_never_holds_a_token(portfolio: Simulator) -> None:
    projects = portfolio.plan_projects

    run = run_tap(plans_config(projects))

    partitions = run.final_state["bookmarks"]["published_plans"]["partitions"]
    assert {p["context"]["accountId"] for p in partitions} == {p.account_id for p in projects}
    state_text = json.dumps(run.final_state)
    assert not any(project.token in state_text for project in projects)


def test_an_expired_token_fails_that_project_only_and_the_run_ends_non_zero(
    portfolio: Simulator,
) -> None:
    projects = portfolio.plan_projects
    expired = projects[1]
    portfolio.expire_token(expired.account_id)

    run = run_cli(plans_config(projects), env={"LOGLEVEL": "DEBUG"})

    assert run.returncode != 0
    landed = versions_by_project(run)
    assert set(landed) == {projects[0].account_id, projects[2].account_id}
    summary = run.stderr.strip().splitlines()[-1]
    assert f"project {expired.name}: The Published Plans API refused the token" in summary
    assert "Integrations page" in summary
    assert "part of the run failed, the rest of what was read landed" in summary
    # Said when it happened and on the last line; the summary before it says only the stop.
    assert run.stderr.count("The Published Plans API refused the token") == 2
    assert f"Summary: published_plans ({expired.name}): stopped: failure" in run.stderr
    assert "Traceback" not in run.stderr
    assert not any(p.token in run.stderr + run.stdout for p in projects)


@pytest.mark.parametrize(("suffix", "slash_said"), [("x", False), ("/", True)])
def test_a_url_with_no_plans_fails_that_project_with_what_to_copy(
    portfolio: Simulator, suffix: str, slash_said: bool
) -> None:
    wrong, right = portfolio.plan_projects[:2]
    config = plans_config([wrong, right])
    config["projects"][0]["url"] += suffix  # sent as written: the API answers 404

    run = run_cli(config)

    assert run.returncode == 1
    assert set(versions_by_project(run)) == {right.account_id}
    summary = run.stderr.strip().splitlines()[-1]
    assert f"project {wrong.name}: No published plans at its URL (HTTP 404)" in summary
    assert "copy the URL again from the project's Integrations page" in summary
    assert ("(without the `/` this one ends with)" in summary) is slash_said


def test_a_response_size_limit_keeps_older_versions_out_of_reach_on_a_first_run() -> None:
    # Two versions of 8,000 tasks are about 9.7 MB: an answer that large can be near the API's
    # 32 MB limit, so 500s for more are taken as that limit (no later run could reach further).
    with Simulator(seed=17, events=0, plan_projects=1, plan_tasks=8_000) as probe:
        size_of_two = len(json.dumps(probe.plan_document(probe.plan_projects[0].account_id, 2)))
    # Room for two versions but not five: the API answers HTTP 500 past its response limit.
    with Simulator(
        seed=17, events=0, plan_projects=1, plan_tasks=8_000, max_response_bytes=size_of_two + 1024
    ) as sim:
        project = sim.plan_projects[0]

        run = run_cli(plans_config([project]))

        assert run.returncode == 0, run.stderr
        # Once more as asked, then half; then one try at the largest size not known to fail.
        assert [r.query["limit"] for r in sim.requests] == ["5", "5", "2", "4"]
        assert "asking again with limit=2" in run.stderr
        assert "HTTP 500 when asking for more (likely the API's 32 MB response limit" in run.stderr
        assert "keeps older versions out of reach" in run.stderr
        assert versions_by_project(run) == {project.account_id: expected_versions(sim, project, 2)}


def test_500s_beside_small_answers_fail_the_project_and_lose_no_version_for_good(
    portfolio: Simulator,
) -> None:
    # Answers far below 32 MB arrived, so 500s for more are the server failing, not the size
    # limit: on a first run, moving the bookmarks would pass over the older versions for good.
    project = portfolio.plan_projects[0]
    config = plans_config([project])
    portfolio.set_plan_fault(project.account_id, "500", count=2)
    config["published_plans_limit"] = 2  # the first answer is full: the tap asks for more

    failed = run_cli(config)
    portfolio.clear_requests()
    healthy = run_cli(config, failed.final_state)

    assert failed.returncode == 1
    assert "the project's server fails, not its size limit. Its bookmarks stay" in failed.stderr
    assert "Traceback" not in failed.stderr
    everything = expected_versions(portfolio, project)
    assert versions_by_project(healthy) == {project.account_id: everything}


def test_plain_http_to_a_remote_project_is_refused(portfolio: Simulator) -> None:
    config = plans_config(portfolio.plan_projects[:1])
    config["projects"][0]["url"] = "http://app.aphex.co/power-bi/v1/abc"

    run = run_cli(config)

    assert run.returncode != 0
    assert "plain http://" in run.stderr
    assert portfolio.requests == []


def test_projects_alone_run_the_published_plans_streams_alone(portfolio: Simulator) -> None:
    run = run_cli(plans_config(portfolio.plan_projects[:1]))

    assert run.returncode == 0, run.stderr
    assert "No `api_key` set: skipping the task_events, tasks and task_statuses" in run.stderr
    assert run.records("task_events") == []
    assert run.records("published_plans")


def test_fields_the_assumed_shape_does_not_name_are_kept() -> None:
    document = {
        "project": {"id": "p1"},
        "generatedAt": 1_700_000_000_000,
        "publishedPlans": [
            {
                "id": "v1",
                "version": 3,
                "publishedAt": 1_700_000_000_123,
                "approvedBy": "site@example.org",
                "tasks": [{"taskId": "t1", "start": 1_700_000_000_000, "crew": 4}],
                "statuses": [],
                "constraints": [{"taskId": "t1", "kind": "access"}],
            }
        ],
    }

    (version,) = read_versions(document)

    assert version.record["publishedAt"] == "2023-11-14T22:13:20.123Z"
    assert version.record["undocumented"] == {
        "approvedBy": "site@example.org",
        "constraints": [{"taskId": "t1", "kind": "access"}],
        "document": {"generatedAt": 1_700_000_000_000},
    }
    (task,) = version.rows("tasks")
    assert task["undocumented"] == {"crew": 4}
    assert task["start"] == "2023-11-14T22:13:20.000Z"


def test_a_project_that_fails_mid_document_keeps_its_bookmark(portfolio: Simulator) -> None:
    project = portfolio.plan_projects[0]
    first = run_tap(plans_config([project]))
    for _ in range(3):
        portfolio.publish_version(project.account_id)
    portfolio.set_plan_fault(project.account_id, "garbage", 1)

    failed = run_cli(plans_config([project]), first.final_state)
    resumed = run_tap(plans_config([project]), state=failed.final_state)

    assert failed.returncode != 0
    assert (
        failed.final_state["bookmarks"]["published_plans"]
        == (first.final_state["bookmarks"]["published_plans"])
    )
    newest_three = {
        v["id"] for v in portfolio.plan_document(project.account_id, 3)["publishedPlans"]
    }
    assert versions_by_project(resumed) == {project.account_id: newest_three}


def test_more_new_versions_than_the_limit_are_all_fetched(portfolio: Simulator) -> None:
    project = portfolio.plan_projects[0]
    first = run_tap(plans_config([project], published_plans_limit=2))
    for _ in range(5):
        portfolio.publish_version(project.account_id)
    portfolio.clear_requests()

    second = run_tap(plans_config([project], published_plans_limit=2), state=first.final_state)

    newest_five = {
        v["id"] for v in portfolio.plan_document(project.account_id, 5)["publishedPlans"]
    }
    assert versions_by_project(second) == {project.account_id: newest_five}
    assert [r.query["limit"] for r in portfolio.requests] == ["2", "4", "8"]
    assert len(second.records("published_plans")) == 5  # each version once


def test_a_table_selected_alone_is_incremental(
    portfolio: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    from tap_aphex.tap import TapAphex

    caplog.set_level("INFO")
    project = portfolio.plan_projects[0]
    config = plans_config([project])
    catalog = TapAphex(config=config).catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] == "published_plan_tasks"

    first = run_tap(config, catalog=catalog)
    portfolio.publish_version(project.account_id)
    second = run_tap(config, state=first.final_state, catalog=catalog)

    assert first.records("published_plans") == []
    newest = portfolio.plan_document(project.account_id, 1)["publishedPlans"][0]
    assert {row["publishedPlanId"] for row in second.records("published_plan_tasks")} == {
        newest["id"]
    }
    # Its line says what landed: the tasks, not the statuses nobody selected.
    (landed,) = [line for line in caplog.messages if f"({newest['id']}) published" in line]
    assert landed.endswith(f"landed: {len(second.records('published_plan_tasks'))} tasks.")
    # Its STATE holds bookmarks only: none of the SDK's in-run keys, which it drops from the
    # streams it finalizes itself (a table is finalized by its parent, here a deselected one).
    for run in (first, second):
        (partition,) = run.final_state["bookmarks"]["published_plan_tasks"]["partitions"]
        assert {"replication_key_signpost", "starting_replication_value"}.isdisjoint(partition)
        assert partition["replication_key_value"]


def test_a_passing_server_error_does_not_cost_any_version(portfolio: Simulator) -> None:
    project = portfolio.plan_projects[0]
    first = run_tap(plans_config([project], published_plans_limit=2))
    for _ in range(5):
        portfolio.publish_version(project.account_id)
    portfolio.set_plan_fault(project.account_id, "500", 1)
    portfolio.clear_requests()

    second = run_tap(plans_config([project], published_plans_limit=2), state=first.final_state)

    newest_five = expected_versions(portfolio, project, 5)
    assert versions_by_project(second) == {project.account_id: newest_five}
    assert [(r.status, r.query["limit"]) for r in portfolio.requests] == [
        (500, "2"),
        (200, "2"),
        (200, "4"),
        (200, "8"),
    ]


@pytest.mark.parametrize("set_in", ["batch_config", "TAP_APHEX_BATCH_CONFIG"])
def test_batch_config_with_plans_and_their_tables_together_is_refused_clearly(
    portfolio: Simulator, tmp_path: Path, set_in: str
) -> None:
    """Named where it was set: the config file's setting, or the variable (`--config ENV`)."""
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": tmp_path.as_uri()},
    }

    if set_in == "batch_config":
        run = run_cli(plans_config(portfolio.plan_projects[:1], batch_config=batch_config))
    else:
        env = {set_in: json.dumps(batch_config)}
        config = plans_config(portfolio.plan_projects[:1])
        run = run_cli(config, None, "--config", "ENV", env=env)

    assert run.returncode != 0
    assert f"`{set_in}` with published_plans and its tables" in run.stderr
    assert "Traceback" not in run.stderr
    assert portfolio.requests == []


def test_a_version_is_emitted_before_the_rest_of_the_document_has_arrived(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    """The document is streamed: a 32 MB response is never held whole before records go out."""

    def version(number: int) -> bytes:
        notes = "x" * 300_000  # far more than one read of the body: the reader must not wait
        row = {"taskId": f"t{number}", "notes": notes, "start": 1_700_000_000_000}
        plan = {"id": f"v{number}", "version": number, "publishedAt": 1_700_000_000_000 + number}
        return json.dumps({**plan, "tasks": [row], "statuses": []}).encode()

    rest_may_come = threading.Event()

    def slow_document() -> t.Iterator[bytes]:
        yield b'{"project": {"id": "p1"}, "publishedPlans": [' + version(2) + b","
        yield b" " * 200_000  # JSON whitespace, so that reads past the version's end
        rest_may_come.wait(timeout=20)
        yield version(1) + b"]}"

    def handler(request: Request) -> Response:
        return Response(slow_document(), content_type="application/json")  # no Content-Length

    httpserver.expect_request("/power-bi/v1/p1").respond_with_handler(handler)
    deadline = threading.Timer(15, rest_may_come.set)  # if the tap waits for the whole body
    deadline.start()
    config = {"projects": [{"url": httpserver.url_for("/power-bi/v1/p1"), "token": "t0ken"}]}
    (tmp_path / "config.json").write_text(json.dumps(config))
    emitted: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-m", "tap_aphex", "--config", str(tmp_path / "config.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as tap:
        try:
            assert tap.stdout is not None
            for line in tap.stdout:
                message = json.loads(line)
                if message["type"] == "RECORD" and message["stream"] == "published_plans":
                    if not emitted:
                        assert not rest_may_come.is_set(), "the first version waited for the body"
                        rest_may_come.set()
                    emitted.append(message["record"]["publishedPlanId"])
            assert tap.wait(timeout=30) == 0
        finally:
            deadline.cancel()
            rest_may_come.set()
            tap.kill()
    assert emitted == ["v2", "v1"]


# --- Trust nothing the wire says (issue 7): each rule over real HTTP --------------------------

T0 = 1_749_222_000_000  # 2025-06-06T15:00:00Z


def plan_version(number: int, **fields: t.Any) -> dict[str, t.Any]:
    tasks = [
        {"taskId": f"t{n}", "name": f"Task {n}", "start": T0, "keyTask": False} for n in (1, 2)
    ]
    statuses = [{"taskId": "t1", "type": "delay", "value": 2, "createdAt": 1_749_222_000}]
    base = {"id": f"v{number}", "version": number, "publishedAt": T0 + number * 604_800_000}
    return {**base, "tasks": tasks, "statuses": statuses, **fields}


def serve_plans(httpserver: HTTPServer, versions: list[t.Any], account: str = "p1") -> str:
    """A project whose document holds ``versions`` (whatever ``limit`` asks); its URL."""
    path = f"/power-bi/v1/{account}"
    httpserver.expect_request(path).respond_with_json(
        {"project": {"id": account}, "publishedPlans": versions}
    )
    return httpserver.url_for(path)


def odd_project(url: str, name: str = "Odd") -> dict[str, t.Any]:
    return {"url": url, "token": "t0ken-odd", "name": name}


def schema_problems(run: TapRun) -> list[str]:
    """Each record checked against the SCHEMA the tap sent for its stream."""
    sent = {m["stream"]: m["schema"] for m in run.messages if m["type"] == "SCHEMA"}
    return [
        f"{stream}: {problem}"
        for stream, schema in sent.items()
        for problem in invalid_records(schema, run.records(stream))
    ]


def test_a_first_run_reads_the_whole_history_then_asks_for_the_configured_limit(
    portfolio: Simulator,
) -> None:
    project = portfolio.plan_projects[0]

    first = run_cli(plans_config([project]))
    asked = [r.query["limit"] for r in portfolio.requests]
    portfolio.publish_version(project.account_id)
    portfolio.clear_requests()
    second = run_tap(plans_config([project]), state=first.final_state)

    everything = expected_versions(portfolio, project)
    assert versions_by_project(first) == {project.account_id: everything - latest(portfolio)}
    assert len(everything) - 1 == 26  # six months of weekly versions, not only the newest 5
    assert asked == ["5", "10", "20", "40"]  # until a response holds fewer than asked
    oldest = min(record["version"] for record in first.records("published_plans"))
    assert (
        f"Project {project.name}: read the whole history the API keeps (its first run, or a "
        "table newly selected): 26 versions landed (published 2025-06-06 to 2025-11-28, the "
        f"oldest numbered {oldest})." in first.stderr
    )
    assert [r.query["limit"] for r in portfolio.requests] == ["5"]  # the second run's
    assert versions_by_project(second) == {project.account_id: latest(portfolio)}


def latest(sim: Simulator) -> set[str]:
    project = sim.plan_projects[0]
    return {sim.plan_document(project.account_id, 1)["publishedPlans"][0]["id"]}


def test_each_version_landed_is_one_info_line_with_its_rows(portfolio: Simulator) -> None:
    project = portfolio.plan_projects[0]
    first = run_cli(plans_config([project]))
    # A first run's whole history is summed up in one line; each version's own line is DEBUG.
    assert not [line for line in first.stderr.splitlines() if " landed: " in line]
    assert "26 versions landed" in first.stderr
    portfolio.publish_version(project.account_id)
    portfolio.publish_version(project.account_id)

    run = run_cli(plans_config([project]), first.final_state)

    landed = [line for line in run.stderr.splitlines() if " landed: " in line]
    assert all("| INFO " in line for line in landed)
    assert len(landed) == len(run.records("published_plans")) == 2
    newest = portfolio.plan_document(project.account_id, 1)["publishedPlans"][0]
    assert any(
        f"Project {project.name}: version {newest['version']} ({newest['id']}) published " in line
        and f"landed: 30 tasks, {len(newest['statuses'])} statuses." in line
        for line in landed
    )
    assert project.token not in run.stderr


def test_versions_that_cannot_be_keyed_or_dated_are_skipped_and_the_rest_lands(
    httpserver: HTTPServer,
) -> None:
    url = serve_plans(
        httpserver,
        [
            plan_version(3, publishedAt=None),
            plan_version(2, id=None),
            plan_version(1),
            plan_version(0, publishedAt="last tuesday"),
        ],
    )

    run = run_cli({"projects": [odd_project(url)]})

    assert run.returncode == 0, run.stderr
    assert [r["publishedPlanId"] for r in run.records("published_plans")] == ["v1"]
    assert {r["publishedPlanId"] for r in run.records("published_plan_tasks")} == {"v1"}
    assert "Project Odd: skipped version v3: its publishedAt is null" in run.stderr
    assert (
        "Project Odd: skipped a version without an id: id is null, version is a number 2"
        in run.stderr
    )
    assert "skipped version v0: its publishedAt is a string" in run.stderr
    assert "Traceback" not in run.stderr
    assert schema_problems(run) == []


def test_duplicates_unknown_tables_and_unkeyed_rows_are_said_kept_and_never_sent_unkeyed(
    httpserver: HTTPServer,
) -> None:
    unkeyed = {"id": "t9", "name": "Named differently"}
    odd = plan_version(1, Tasks=[{"taskId": "T1"}], taskStatuses=[{"taskId": "t1"}])
    odd["tasks"].append(unkeyed)
    odd["tasks"][0]["keyTask"] = "No"
    url = serve_plans(httpserver, [odd, plan_version(1, name="again"), plan_version(1)])

    run = run_cli({"projects": [odd_project(url)]})

    assert run.returncode == 0, run.stderr
    (version,) = run.records("published_plans")  # each id once: the first of them
    assert version["undocumented"] == {
        "Tasks": [{"taskId": "T1"}],
        "taskStatuses": [{"taskId": "t1"}],
        "unkeyed_rows": {"tasks": [unkeyed]},
    }
    rows = run.records("published_plan_tasks")
    assert [row["taskId"] for row in rows] == ["t1", "t2"]
    assert rows[0]["keyTask"] is None
    assert rows[0]["undocumented"] == {"keyTask": "No"}
    assert run.stderr.count("holds version id v1 more than once") == 1
    assert "a table the tap does not know, `Tasks` (the tap reads `tasks`)" in run.stderr
    assert "a table the tap does not know, `taskStatuses`" in run.stderr
    assert "1 tasks row(s) without a `taskId` (text, not blank)" in run.stderr
    assert 'keyTask is a string "No", not the documented boolean' in run.stderr
    assert schema_problems(run) == []


def test_a_broken_document_fails_its_project_only_and_the_event_log_still_lands(
    httpserver: HTTPServer,
) -> None:
    path = "/power-bi/v1/broken"
    document = json.dumps({"publishedPlans": [plan_version(2), plan_version(1)]})
    httpserver.expect_request(path).respond_with_data(
        document[:-40],
        content_type="application/json",  # cut off inside the second version
    )
    with Simulator(seed=2, events=300, page_size=100, daily_quota=None, plan_projects=1) as sim:
        healthy = sim.plan_projects[0]
        config = {
            **plans_config([healthy]),
            "api_key": sim.api_key,
            "api_url": sim.events_url,
        }
        config["projects"].insert(0, odd_project(httpserver.url_for(path), "Broken"))

        run = run_cli(config)

        assert run.returncode == 1
        assert len(run.records("task_events")) == 300
        assert versions_by_project(run)[healthy.account_id] == expected_versions(sim, healthy)
    summary = run.stderr.strip().splitlines()[-1]
    assert (
        "project Broken: The Published Plans API answered with a body that is not JSON" in summary
    )
    assert "part of the run failed, the rest of what was read landed" in summary
    assert "Traceback" not in run.stderr
    assert {p["context"]["accountId"] for p in plan_partitions(run)} == {healthy.account_id}


def plan_partitions(run: TapRun) -> list[dict[str, t.Any]]:
    partitions = run.final_state["bookmarks"]["published_plans"]["partitions"]
    return [p for p in partitions if "replication_key_value" in p]


def test_an_unexpected_error_in_a_projects_parsing_ends_that_project_only(
    portfolio: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing, healthy = portfolio.plan_projects[:2]
    real = DocumentReader.versions

    def versions(self: DocumentReader, body: t.IO[bytes], label: str, **options: t.Any) -> t.Any:
        if label == failing.name:
            raise KeyError("surprise")
        return real(self, body, label, **options)

    monkeypatch.setattr(DocumentReader, "versions", versions)
    out = CapturedStdout()
    tap = TapAphex(config=plans_config([failing, healthy]))
    with contextlib.redirect_stdout(out), pytest.raises(RunFailedError) as failed:
        tap.run()

    run = TapRun(parse_messages(out.getvalue()))
    assert set(versions_by_project(run)) == {healthy.account_id}
    assert f"project {failing.name}: could not read its published plans (KeyError" in str(
        failed.value
    )
    stops = tap.report.stops
    assert stops[f"published_plans ({failing.name})"].reason is StopReason.FAILURE
    assert stops[f"published_plans ({healthy.name})"].reason is StopReason.UP_TO_DATE


GONE: t.Any = ...  # a key left out of the partition


def unusable(label: str, why: str) -> str:
    """The one WARNING of a project whose bookmarks the tap could not have written (``why``)."""
    return (
        f"Project {label}: the state's bookmarks cannot be used: {why}. Reading the project from "
        "the start (versions already landed are sent again, which an upsert on the key absorbs)."
    )


def first_state(sim: Simulator, projects: list[PlanProject]) -> dict[str, t.Any]:
    return run_tap(plans_config(projects)).final_state


def edit(state: dict[str, t.Any], stream: str, project: PlanProject, **changes: t.Any) -> str:
    """``changes`` made to the project's partition of ``stream`` ("{bookmark}" in a text: the
    tap's own bookmark); returns that bookmark."""
    partitions = state["bookmarks"][stream]["partitions"]
    (partition,) = [p for p in partitions if p["context"]["accountId"] == project.account_id]
    bookmark = str(partition["replication_key_value"])
    for key, value in changes.items():
        if value is GONE:
            partition.pop(key)
        else:
            partition[key] = value.format(bookmark=bookmark) if isinstance(value, str) else value
    return bookmark


MARKERS_ONLY = {
    "replication_key": GONE,
    "replication_key_value": GONE,
    "bookmark_ids": GONE,
    "bookmark_version": GONE,
    "progress_markers": {"replication_key": "publishedAt", "replication_key_value": "{bookmark}"},
}


def not_a_time(value: str) -> str:
    return f"its replication_key_value is {value}, not a time"


def not_the_key(value: str) -> str:
    return f"its replication_key is {value}, not publishedAt"


@pytest.fixture(scope="module")
def read_once() -> t.Iterator[tuple[Simulator, dict[str, t.Any]]]:
    """The `portfolio` organisation and the state of a first run of its first two projects, made
    once for the tests that start a run from a changed copy of that state and change nothing on
    the server (they read no request log either)."""
    with Simulator(seed=13, events=0, plan_projects=3, plan_tasks=30) as sim:
        yield sim, first_state(sim, sim.plan_projects[:2])


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"replication_key_value": "last tuesday"}, not_a_time('a string "last tuesday"')),
        ({"replication_key_value": 1_749_222_000_000}, not_a_time("a number 1749222000000")),
        ({"replication_key_value": "2025-06-06"}, not_a_time('a string "2025-06-06"')),
        ({"replication_key_value": " {bookmark}"}, not_a_time('a string " {bookmark}"')),
        ({"replication_key_value": None}, not_a_time("null")),
        ({"replication_key": "eventId"}, not_the_key('a string "eventId"')),
        ({"replication_key": "nonsense"}, not_the_key('a string "nonsense"')),
        ({"replication_key": None}, not_the_key("null")),
        ({"replication_key": GONE}, not_the_key("missing")),
        (
            {"replication_key": GONE, "replication_key_value": GONE},
            "it has no replication_key_value, only `bookmark_ids`, `bookmark_version`",
        ),
        (MARKERS_ONLY, "it holds only the SDK's progress_markers, an unconfirmed position"),
    ],
)
def test_a_bookmark_the_tap_could_not_have_written_is_a_warning_and_the_project_read_again(
    read_once: tuple[Simulator, dict[str, t.Any]], changes: dict[str, t.Any], why: str
) -> None:
    """Used, each would land nothing (the tap's own bookmark is kept beside it); dropped without
    a word, every version would land again unexplained."""
    portfolio, first = read_once
    project, other = portfolio.plan_projects[:2]
    state = copy.deepcopy(first)  # the first run's state, as it was: `edit` changes it in place
    bookmark = edit(state, "published_plans", project, **changes)

    run = run_cli(plans_config([project, other]), state)

    assert run.returncode == 0, run.stderr
    said = f"in the bookmark of published_plans, {why.format(bookmark=bookmark)}"
    assert log_lines(run.stderr, "WARNING") == [unusable(project.name, said)]
    # Its whole history lands again in published_plans only: the tables' bookmarks are the tap's.
    assert versions_by_project(run) == {project.account_id: expected_versions(portfolio, project)}
    assert run.records("published_plan_tasks") == []
    moved = {p["context"]["accountId"]: p for p in plan_partitions(run)}[project.account_id]
    assert (moved["replication_key"], moved["replication_key_value"]) == ("publishedAt", bookmark)
    assert "progress_markers" not in moved


def test_bookmarks_the_tap_could_not_have_written_are_said_once_per_project(
    portfolio: Simulator,
) -> None:
    first, second, untouched = portfolio.plan_projects
    state = first_state(portfolio, [first, second, untouched])
    edit(state, "published_plans", first, replication_key="eventId")
    edit(state, "published_plan_tasks", first, replication_key="eventId")
    edit(state, "published_plan_statuses", first, replication_key_value="last tuesday")
    edit(state, "published_plan_tasks", second, **MARKERS_ONLY)

    run = run_cli(plans_config([first, second, untouched]), state)

    assert run.returncode == 0, run.stderr
    event_id, tuesday = not_the_key('a string "eventId"'), not_a_time('a string "last tuesday"')
    markers = "it holds only the SDK's progress_markers, an unconfirmed position"
    assert log_lines(run.stderr, "WARNING") == [
        unusable(
            first.name,
            f"in the bookmark of published_plan_statuses, {tuesday}; in the bookmark of "
            f"published_plan_tasks and published_plans, {event_id}",
        ),
        unusable(second.name, f"in the bookmark of published_plan_tasks, {markers}"),
    ]
    everything = expected_versions(portfolio, first)
    assert versions_by_project(run) == {first.account_id: everything}
    for stream, project, versions in [
        ("published_plan_tasks", first, everything),
        ("published_plan_statuses", first, everything),
        ("published_plan_tasks", second, expected_versions(portfolio, second)),
        ("published_plan_statuses", second, set()),
    ]:
        rows = run.records(stream)
        assert {r["publishedPlanId"] for r in rows if r["accountId"] == project.account_id} == (
            versions
        ), stream
    assert not [
        r for r in run.records("published_plan_tasks") if r["accountId"] == untouched.account_id
    ]


def carried_on(why: str) -> str:
    """The one WARNING of the bookmarks the tap could not have written that a run does not read."""
    return (
        f"The state's bookmarks cannot be used: {why}. Not read in this run, they stay in the "
        "state (but for the SDK's progress markers); a run that reads one reads its project from "
        "the start (versions already landed are sent again, which an upsert on the key absorbs)."
    )


@pytest.mark.parametrize(
    ("run_of", "selected"),
    [
        ("api_key only", None),
        ("both APIs", ["task_events"]),  # the plans streams deselected
        ("projects", ["published_plans"]),  # its tables deselected
        ("the other project", None),  # the first project no longer configured
    ],
)
def test_a_bookmark_the_tap_could_not_have_written_and_does_not_read_is_said_once(
    read_once: tuple[Simulator, dict[str, t.Any]],
    tmp_path: Path,
    run_of: str,
    selected: list[str] | None,
) -> None:
    """Carried on in every STATE, it was said in no run that did not read it."""
    portfolio, first_run = read_once
    first, second = portfolio.plan_projects[:2]
    state = copy.deepcopy(first_run)  # the first run's state, as it was: `edit` changes it in place
    edit(state, "published_plans", first, replication_key="eventId")
    edit(state, "published_plan_tasks", second, replication_key_value="last tuesday")
    config = {
        "api_key only": events_config(portfolio),
        "both APIs": {**events_config(portfolio), **plans_config([first, second])},
        "projects": plans_config([first, second]),
        "the other project": plans_config([second]),
    }[run_of]
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(selecting(config, selected or [])))

    run = run_cli(config, state, *(["--catalog", str(catalog)] if selected else []))

    assert run.returncode == 0, run.stderr
    key, tuesday = not_the_key('a string "eventId"'), not_a_time('a string "last tuesday"')
    plans = f"published_plans (project {first.account_id})"
    tasks = f"published_plan_tasks (project {second.account_id})"
    of_plans, of_tasks = (
        f"in the bookmark of {plans}, {key}",
        f"in the bookmark of {tasks}, {tuesday}",
    )
    said = {
        "api_key only": [carried_on(f"{of_tasks}; {of_plans}")],
        "both APIs": [carried_on(f"{of_tasks}; {of_plans}")],
        "projects": [
            carried_on(of_tasks),
            unusable(first.name, of_plans.replace(plans, "published_plans")),
        ],
        "the other project": [
            carried_on(of_plans),
            unusable(second.name, of_tasks.replace(tasks, "published_plan_tasks")),
        ],
    }
    assert log_lines(run.stderr, "WARNING") == said[run_of]
    # What was said is what goes on: the unread partition, as it was given, in the last STATE.
    tables = run_of == "projects"
    unread = ("published_plan_tasks", second) if tables else ("published_plans", first)
    assert partition_of(run.final_state, *unread) == partition_of(state, *unread)


def test_bookmarks_a_run_does_not_read_are_said_in_one_short_line_with_their_projects(
    portfolio: Simulator,
) -> None:
    # A state of many projects (a portfolio moved to another tap config): one readable line, the
    # first few named; and a position outside `partitions`, said as a plans run says it.
    partitions = [
        {"context": {"accountId": f"acc{n}"}, "replication_key": f"k{n}"} for n in range(300)
    ]
    state: dict[str, t.Any] = {"bookmarks": {"published_plans": {"partitions": partitions}}}
    state["bookmarks"]["published_plan_tasks"] = {"replication_key_value": "x"}

    run = run_cli(events_config(portfolio), state)

    assert run.returncode == 0, run.stderr
    (line,) = log_lines(run.stderr, "WARNING")
    assert len(line) < 1_000
    assert "published_plans (project acc0)" in line
    assert "and 298 more" in line  # the problems; each says its value
    assert "published_plan_tasks, it holds a position outside `partitions`" in line


def partition_of(state: dict[str, t.Any], stream: str, project: PlanProject) -> t.Any:
    partitions = state["bookmarks"][stream]["partitions"]
    return next(p for p in partitions if p["context"]["accountId"] == project.account_id)


def test_type_conformance_off_changes_no_byte_of_valid_output(
    portfolio: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = plans_config(portfolio.plan_projects[:2])
    ours = run_tap(config)
    for stream in (PublishedPlansStream, PublishedPlanTasksStream, PublishedPlanStatusesStream):
        monkeypatch.setattr(stream, "TYPE_CONFORMANCE_LEVEL", TypeConformanceLevel.RECURSIVE)

    conformed = run_tap(config)

    assert records_of(ours) == records_of(conformed)
    assert schema_problems(ours) == []


def records_of(run: TapRun) -> list[tuple[str, str]]:
    return [
        (m["stream"], json.dumps(m["record"], sort_keys=True))
        for m in run.messages
        if m["type"] == "RECORD"
    ]


def test_document_members_after_the_versions_list_are_named_and_nothing_else_is_lost(
    httpserver: HTTPServer,
) -> None:
    # Versions are streamed, one in memory at a time: what follows the list cannot join those
    # already out (holding them all would hold the document). The assumed shape is then wrong.
    path = "/power-bi/v1/late"
    document = {"publishedPlans": [plan_version(2), plan_version(1)], "project": {"id": "late"}}
    httpserver.expect_request(path).respond_with_json(document)

    run = run_cli({"projects": [odd_project(httpserver.url_for(path))]})

    assert run.returncode == 0, run.stderr
    assert [p["publishedPlanId"] for p in run.records("published_plans")] == ["v2", "v1"]
    assert len(run.records("published_plan_tasks")) == 4
    [said] = [line for line in log_lines(run.stderr, "WARNING") if 'after "publishedPlans"' in line]
    assert 'has "project" after "publishedPlans", where the tap assumes they come first' in said
    assert "report this to tap-aphex's maintainers" in said


def test_a_table_that_is_no_array_is_kept_as_the_vendor_wrote_it() -> None:
    # A lone surrogate in it went into the record as the decode policy's private markers.
    body = io.BytesIO(
        b'{"project": {"id": "p1"}, "publishedPlans": [{"id": "v1", "version": 1, '
        b'"publishedAt": 1700000000000, "tasks": "a\\ud83d", "statuses": []}]}'
    )

    (version,) = [v for v in DocumentReader(logging.getLogger("test")).versions(body, "p1") if v]

    assert version.record["undocumented"] == {"tasks": "a\\ud83d"}
