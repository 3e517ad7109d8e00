"""When a later read is a gap and when it is not, and what its words say, over real HTTP against
the simulator.

- An answer whose `version` numbers run on from the bookmark's (`bookmark_version` + 1, each once,
  none absent) holds every version published since: no gap, the bookmarks move, even when the
  answer is short of what was asked (a server that caps `limit`) or the size limit stops growth.
- A gap's advice fits its cause: a larger `published_plans_limit` cannot help a server that
  answers fewer than asked, nor a response size limit.
- An answer of more versions than asked (a server that ignores `limit`) is all the server gives:
  the whole history at once, never asked again, and a gap when short of the bookmark.
- Two 500s with small answers are said to be a failing server, not the 32 MB limit.
- The closing line's count of projects downloaded leaves out a project whose answer failed.
"""

from __future__ import annotations

import dataclasses
import json
import typing as t

import pytest
from aphex_simulator import PlanProject, Simulator
from harness import (
    TapRun,
    first_run_then_published,
    log_lines,
    plans_config,
    run_cli,
    run_tap,
    selecting,
)
from test_published_plans import odd_project, plan_version, serve_plans

from tap_aphex.streams.plan_progress import FAR_BELOW_RESPONSE_LIMIT

if t.TYPE_CHECKING:
    from pytest_httpserver import HTTPServer

PLAN_STREAMS = ("published_plans", "published_plan_tasks", "published_plan_statuses")


def partition(run: TapRun, stream: str, project: PlanProject) -> dict[str, t.Any]:
    partitions = run.final_state["bookmarks"][stream]["partitions"]
    (found,) = [p for p in partitions if p["context"]["accountId"] == project.account_id]
    return t.cast("dict[str, t.Any]", found)


def numbers(run: TapRun) -> list[int]:
    return sorted(record["version"] for record in run.records("published_plans"))


def assert_no_gap(first: TapRun, second: TapRun, project: PlanProject, published: int) -> None:
    """Every version published since landed, nothing is said missing, every bookmark moved."""
    assert second.returncode == 0, second.stderr
    before = partition(first, "published_plans", project)["bookmark_version"]
    assert numbers(second) == list(range(before + 1, before + published + 1))
    assert "did not land" not in second.stderr
    assert "versions missing" not in second.stderr
    assert f"published_plans ({project.name}): stopped: up to date" in second.stderr
    for stream in PLAN_STREAMS:
        moved = partition(second, stream, project)
        assert moved["bookmark_version"] == before + published
        assert (
            moved["replication_key_value"]
            > (partition(first, stream, project)["replication_key_value"])
        )


@pytest.mark.parametrize("limit", [5, 100])
def test_a_capped_answer_numbered_on_from_the_bookmark_is_no_gap(limit: int) -> None:
    # The server answers at most 8; exactly 8 were published: the answer is short of what was
    # asked and reaches back to no landed version, yet its numbers prove nothing is missing.
    with Simulator(seed=5, events=0, plan_projects=2, plan_tasks=4, plans_max_limit=8) as sim:
        project = sim.plan_projects[1]
        first = run_tap(plans_config(sim.plan_projects, published_plans_limit=limit))
        for _ in range(8):
            sim.publish_version(project.account_id)

        second = run_cli(
            plans_config(sim.plan_projects, published_plans_limit=limit), first.final_state
        )
        third = run_cli(
            plans_config(sim.plan_projects, published_plans_limit=limit), second.final_state
        )

    assert_no_gap(first, second, project, 8)
    assert third.records("published_plans") == []  # not sent again


def test_an_answer_the_size_limit_stops_growing_is_no_gap_when_numbered_on() -> None:
    # 12 versions of 1,700 tasks are about 9.9 MB: past what is far below the API's 32 MB limit
    # (FAR_BELOW_RESPONSE_LIMIT, 8 MB), so 500s for more are that limit (beside far smaller
    # answers: a failure). No larger than that needs: the tap reads every byte of them.
    # One version before them (history_weeks=1): the first run lands it at once, and the second
    # run's 500s are for the 13 there are, one more than the server has room for.
    with Simulator(seed=17, events=0, plan_projects=1, plan_tasks=1_700, history_weeks=1) as probe:
        account = probe.plan_projects[0].account_id
        for _ in range(12):
            probe.publish_version(account)
        # The bytes the server sends (compact JSON), as it measures them against its limit.
        size_of_12 = len(json.dumps(probe.plan_document(account, 12), separators=(",", ":")))
    assert size_of_12 > FAR_BELOW_RESPONSE_LIMIT  # what makes the 500s the size limit
    # Room for 12 versions, not for 13: the API answers 13 or more with HTTP 500.
    with Simulator(
        seed=17,
        events=0,
        plan_projects=1,
        plan_tasks=1_700,
        history_weeks=1,
        max_response_bytes=size_of_12 + 1024,
    ) as sim:
        (project,) = sim.plan_projects
        first = first_run_then_published(sim, project, 12, published_plans_limit=2)

        second = run_cli(plans_config([project], published_plans_limit=50), first.final_state)

    assert [r.query["limit"] for r in sim.requests][-5:] == ["50", "50", "25", "12", "24"]
    assert_no_gap(first, second, project, 12)
    assert "out of reach" not in second.stderr


def test_a_real_gap_says_a_larger_limit_cannot_help_a_server_that_caps_it() -> None:
    with Simulator(seed=5, events=0, plan_projects=1, plan_tasks=4, plans_max_limit=5) as sim:
        (project,) = sim.plan_projects
        first = first_run_then_published(sim, project, 12, published_plans_limit=10)

        second = run_cli(plans_config([project], published_plans_limit=10), first.final_state)

    (warning,) = [line for line in log_lines(second.stderr, "WARNING") if "did not land" in line]
    assert "7 versions published between" in warning
    assert "raise `published_plans_limit`" not in warning
    assert "a larger `published_plans_limit` cannot help" in warning
    assert f"published_plans ({project.name}): stopped: versions missing" in second.stderr
    before = partition(first, "published_plans", project)
    assert partition(second, "published_plans", project) == before


def test_a_server_that_ignores_limit_is_asked_once_and_short_of_the_bookmark_is_a_gap(
    httpserver: HTTPServer,
) -> None:
    url = serve_plans(httpserver, [plan_version(n) for n in range(12, 0, -1)])
    config = {"projects": [odd_project(url)]}

    first = run_cli(config)
    first_asked = [request.args["limit"] for request, _ in httpserver.log]
    httpserver.clear()
    # Versions 30 to 16, more than the 5 asked, and none back to the bookmark's 12.
    serve_plans(httpserver, [plan_version(n) for n in range(30, 15, -1)])
    second = run_cli(config, first.final_state)

    assert first.returncode == 0, first.stderr
    assert first_asked == ["5"]  # not 5, 10 then 20: 12 versions are all the server gives
    assert numbers(first) == list(range(1, 13))
    assert "the API keeps (its first run, or a table newly selected): 12 versions" in first.stderr
    assert second.returncode == 0, second.stderr
    assert [request.args["limit"] for request, _ in httpserver.log] == ["5"]
    assert numbers(second) == list(range(16, 31))
    (warning,) = log_lines(second.stderr, "WARNING")
    assert (
        "Project Odd: the API answered 15 versions, more than the 5 asked, without the last "
        "version landed (published 2025-08-29 15:00:00 UTC): 3 versions published between "
    ) in warning
    assert "cannot help (the server answers more than asked, or the versions fell" in warning
    assert "published_plans (Odd): stopped: versions missing" in second.stderr
    for stream in PLAN_STREAMS:  # the bookmarks stay: the next run asks for 13 to 15 again
        assert second.final_state["bookmarks"][stream] == first.final_state["bookmarks"][stream]


def test_two_500s_with_small_answers_are_said_to_be_the_server_not_the_size_limit() -> None:
    with Simulator(seed=8, events=0, plan_projects=1, plan_tasks=4) as sim:
        (project,) = sim.plan_projects
        first = first_run_then_published(sim, project, 4, published_plans_limit=1)
        for kind in ("stall", "500", "stall", "500"):  # an answer, a 500, an answer, a 500
            sim.set_plan_fault(
                project.account_id, kind, stall_seconds=0 if kind == "stall" else None
            )

        second = run_cli(plans_config([project], published_plans_limit=1), first.final_state)

    # Not out of reach for good, as the size limit would put them: the project fails, so the
    # bookmark stays and the next run asks again for the versions the 500s kept out.
    assert second.returncode == 1
    (error, _) = log_lines(second.stderr, "ERROR")
    assert "32 MB response limit keeps" not in second.stderr
    assert "likely the server failing: the largest answer that arrived was " in error
    assert "far below the API's 32 MB response limit: the project's server fails" in error
    assert "2 versions of the project landed before the failure" in error
    assert partition(second, "published_plans", project) == (
        partition(first, "published_plans", project)
    )


def test_a_project_that_failed_is_not_counted_as_downloaded() -> None:
    with Simulator(seed=8, events=0, plan_projects=2, plan_tasks=4) as sim:
        page, healthy = sim.plan_projects
        sim.set_plan_fault(page.account_id, "garbage")  # an HTML page, HTTP 200

        run = run_cli(plans_config(sim.plan_projects))

    assert f"published_plans ({page.name}): stopped: failure" in run.stderr
    (summary,) = [line for line in run.stderr.splitlines() if "published plans: " in line]
    assert "published plans: 1 project downloaded in" in summary
    assert f"slowest: {healthy.name} (" in summary
    assert page.name not in summary


def test_one_version_is_said_in_the_singular() -> None:
    with Simulator(seed=8, events=0, plan_projects=1, plan_tasks=4) as sim:
        (project,) = sim.plan_projects
        first = first_run_then_published(sim, project, 2, published_plans_limit=1)

        second = run_cli(plans_config([project], published_plans_limit=1), first.final_state)

    assert "the API returned 1 version, as many as asked" in second.stderr
    assert "1 versions" not in second.stderr


def every_version_lands_in_the_end(first: TapRun, sim: Simulator) -> list[int]:
    """Runs after ``first`` until one lands nothing (at most four): the version numbers landed."""
    landed: list[int] = []
    state = first.final_state
    for _ in range(4):
        run = run_cli(plans_config(sim.plan_projects), state)
        assert run.returncode == 0, run.stderr
        if not numbers(run):
            break
        landed += numbers(run)
        state = run.final_state
    return sorted(set(landed))


def test_versions_published_at_the_bookmarks_very_time_are_never_passed_over() -> None:
    """The server answers at most 5: six versions published at the bookmark's millisecond. An
    answer whose oldest is at that time holds no proof that its neighbours there are in it."""
    with Simulator(seed=3, events=0, plan_projects=1, plan_tasks=3, plans_max_limit=5) as sim:
        (project,) = sim.plan_projects
        first = run_cli(plans_config(sim.plan_projects))
        for _ in range(6):
            sim.publish_version(project.account_id, same_time=True)

        second = run_cli(plans_config(sim.plan_projects), first.final_state)

    assert "did not land" in second.stderr  # the sixth is out of reach: said, never passed over
    assert partition(second, "published_plans", project) == partition(
        first, "published_plans", project
    )


def test_an_id_used_again_by_a_newer_version_is_not_the_bookmarks_own() -> None:
    """Ten versions after the bookmark, the newest with the bookmark's own id: the read goes on
    back, and every version between lands."""
    with Simulator(seed=3, events=0, plan_projects=1, plan_tasks=3) as sim:
        (project,) = sim.plan_projects
        versions = sim.plans.projects[0].versions
        first = run_cli(plans_config(sim.plan_projects))
        bookmarked = versions[-1].id
        for _ in range(10):
            sim.publish_version(project.account_id)
        versions[-1] = dataclasses.replace(versions[-1], id=bookmarked)
        before = partition(first, "published_plans", project)["bookmark_version"]

        landed = every_version_lands_in_the_end(first, sim)

    assert set(range(before + 1, before + 10)) <= set(landed)


def test_a_stream_newly_selected_does_not_carry_another_past_versions_it_never_had(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """published_plans alone first; fifteen versions later its tables are selected too, so the
    read is a whole history, which a server answering at most 10 cuts short of published_plans'
    bookmark: that is a gap for it, said, and its bookmark stays."""
    with Simulator(seed=3, events=0, plan_projects=1, plan_tasks=3, plans_max_limit=10) as sim:
        (project,) = sim.plan_projects
        config = plans_config(sim.plan_projects)
        alone = run_tap(config, catalog=selecting(config, ["published_plans"]))
        for _ in range(15):
            sim.publish_version(project.account_id)

        together = run_tap(config, alone.final_state)

    before = partition(alone, "published_plans", project)
    assert any("did not land" in r.getMessage() for r in caplog.records)
    assert partition(together, "published_plans", project) == before  # the gap stays asked for


@pytest.mark.parametrize("numbered", [True, False])
def test_a_backdated_version_in_a_short_answer_is_no_proof_of_reaching_back(
    numbered: bool,
) -> None:
    """The server answers at most 2: v27 and v28 are published, then one dated a day before the
    bookmark. The answer (the two most recently published) holds a version older than the
    bookmark, but not the bookmark's own: v27 may be (and is) missing between."""
    with Simulator(seed=3, events=0, plan_projects=1, plan_tasks=3, plans_max_limit=2) as sim:
        (project,) = sim.plan_projects
        versions = sim.plans.projects[0].versions
        first = run_cli(plans_config(sim.plan_projects))
        bookmarked_at = versions[-1].published_at
        sim.publish_version(project.account_id)
        sim.publish_version(project.account_id)
        sim.publish_version(project.account_id, at_ms=bookmarked_at - 86_400_000, numbered=numbered)

        second = run_cli(plans_config(sim.plan_projects), first.final_state)

    assert "did not land" in second.stderr
    assert partition(second, "published_plans", project) == partition(
        first, "published_plans", project
    )
