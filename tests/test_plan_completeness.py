"""Every published version lands or is named (issue 18), over real HTTP against the simulator.

- A response with fewer versions than asked whose oldest is newer than the bookmark is a gap: a
  WARNING names the project, how many versions are missing and between which dates, and no
  bookmark moves over them.
- Versions are told apart by id: one published at the bookmark's very time still lands, once.
- A warning about a version is said on the run that first reads it, not on every later run.
- SCHEMA goes out once per stream per run, for every fed stream (plan tables, `tasks`).
"""

from __future__ import annotations

import typing as t
from collections import Counter

import pytest
from aphex_simulator import PlanProject, Simulator
from harness import (
    TapRun,
    events_config,
    first_run_then_published,
    log_lines,
    plans_config,
    run_cli,
    run_tap,
)

PLAN_STREAMS = ("published_plans", "published_plan_tasks", "published_plan_statuses")


def landed(run: TapRun, stream: str = "published_plans") -> list[str]:
    return [r["publishedPlanId"] for r in run.records(stream)]


def bookmarks(run: TapRun, stream: str) -> list[dict[str, t.Any]]:
    return list(run.final_state["bookmarks"][stream]["partitions"])


def newest_ids(sim: Simulator, project: PlanProject, count: int) -> list[str]:
    return [v["id"] for v in sim.plan_document(project.account_id, count)["publishedPlans"]]


# --- gaps ---------------------------------------------------------------------------------------


def test_a_server_that_caps_limit_leaves_a_gap_that_is_named_and_never_passed_over() -> None:
    with Simulator(seed=5, events=0, plan_projects=2, plan_tasks=4, plans_max_limit=5) as sim:
        capped, other = sim.plan_projects
        first = run_tap(plans_config([capped, other], published_plans_limit=10))
        for _ in range(12):
            sim.publish_version(capped.account_id)
        sim.publish_version(other.account_id)

        second = run_cli(plans_config([capped, other], published_plans_limit=10), first.final_state)

        assert second.returncode == 0, second.stderr
        # What was answered lands; the project next to it is untouched by the gap.
        assert set(landed(second)) == set(newest_ids(sim, capped, 5)) | set(
            newest_ids(sim, other, 1)
        )
        (warning,) = [
            line for line in log_lines(second.stderr, "WARNING") if "did not land" in line
        ]
        assert f"Project {capped.name}: the API answered 5 versions, fewer than the 10 asked" in (
            warning
        )
        assert "7 versions published between " in warning
        # Every selected stream's bookmark of the capped project stays; the other's moves.
        for stream in PLAN_STREAMS:
            before = {p["context"]["accountId"]: p for p in bookmarks(first, stream)}
            after = {p["context"]["accountId"]: p for p in bookmarks(second, stream)}
            assert (
                after[capped.account_id]["replication_key_value"]
                == (before[capped.account_id]["replication_key_value"])
            )
            assert (
                after[other.account_id]["replication_key_value"]
                > (before[other.account_id]["replication_key_value"])
            )
        assert f"published_plans ({capped.name}): stopped: versions missing" in second.stderr
        # The next run asks again, and says it again: the versions are still missing.
        third = run_cli(plans_config([capped], published_plans_limit=10), second.final_state)
        assert "7 versions published between" in third.stderr


def test_a_first_run_against_a_server_that_caps_limit_names_where_its_answer_began() -> None:
    # No bookmark to reach back to: a capped answer looks like a short history, so the closing
    # line names the oldest version's number, for the missing start to show.
    with Simulator(seed=5, events=0, plan_projects=1, plan_tasks=4, plans_max_limit=5) as sim:
        (project,) = sim.plan_projects

        first = run_cli(plans_config([project], published_plans_limit=10))

        assert first.returncode == 0, first.stderr
        numbers = [record["version"] for record in first.records("published_plans")]
        assert len(numbers) == 5
        assert min(numbers) > 1  # versions before it exist, and the log shows where it began
        assert "5 versions landed (published " in first.stderr
        assert f", the oldest numbered {min(numbers)})." in first.stderr


def test_a_bookmark_older_than_what_the_api_keeps_is_a_gap_too() -> None:
    with Simulator(seed=6, events=0, plan_projects=1, plan_tasks=3, history_weeks=3) as sim:
        (project,) = sim.plan_projects
        first = run_tap(plans_config([project]))
        for _ in range(30):  # past the API's six months: the oldest new ones fall out of it
            sim.publish_version(project.account_id)

        second = run_cli(plans_config([project], published_plans_limit=40), first.final_state)

        assert second.returncode == 0, second.stderr
        warning = [line for line in log_lines(second.stderr, "WARNING") if "did not land" in line]
        assert len(warning) == 1, second.stderr
        assert (
            bookmarks(second, "published_plans")[0]["replication_key_value"]
            == (bookmarks(first, "published_plans")[0]["replication_key_value"])
        )


def test_without_a_gap_more_new_versions_than_the_limit_still_all_land() -> None:
    with Simulator(seed=5, events=0, plan_projects=1, plan_tasks=4) as sim:
        (project,) = sim.plan_projects
        first = first_run_then_published(sim, project, 7, published_plans_limit=2)

        second = run_cli(plans_config([project], published_plans_limit=2), first.final_state)

        assert sorted(landed(second)) == sorted(newest_ids(sim, project, 7))
        assert "did not land" not in second.stderr


# --- ties -----------------------------------------------------------------------------------------


def test_a_version_published_at_the_bookmarks_very_time_lands_once() -> None:
    with Simulator(seed=8, events=0, plan_projects=1, plan_tasks=4) as sim:
        (project,) = sim.plan_projects
        first = run_tap(plans_config([project]))
        sim.publish_version(project.account_id, same_time=True)
        newest_two = sim.plan_document(project.account_id, 2)["publishedPlans"]
        assert newest_two[0]["publishedAt"] == newest_two[1]["publishedAt"]

        second = run_tap(plans_config([project]), first.final_state)
        third = run_tap(plans_config([project]), second.final_state)
        sim.publish_version(project.account_id, same_time=True)
        fourth = run_tap(plans_config([project]), third.final_state)

        tie = newest_two[0]["id"]
        assert landed(second) == [tie]
        assert {r["publishedPlanId"] for r in second.records("published_plan_tasks")} == {tie}
        assert landed(third) == []
        assert third.records("published_plan_tasks") == []
        assert landed(fourth) == newest_ids(sim, project, 1)
        (partition,) = bookmarks(fourth, "published_plans")
        assert sorted(partition["bookmark_ids"]) == sorted(newest_ids(sim, project, 3))


@pytest.mark.parametrize("numbered", [True, False], ids=["numbered past it", "without a number"])
def test_a_backdated_version_stops_no_read_short_of_the_bookmark(numbered: bool) -> None:
    with Simulator(seed=9, events=0, plan_projects=1, plan_tasks=4) as sim:
        (project,) = sim.plan_projects
        first = run_tap(plans_config([project], published_plans_limit=2))
        newest = sim.plan_document(project.account_id, 1)["publishedPlans"][0]
        for _ in range(6):
            sim.publish_version(project.account_id)
        # The newest of all, dated an hour before the bookmark: no sign that the read reached
        # back (the 6 before it are new too); the read goes back to the bookmark's own version.
        at_ms = newest["publishedAt"] - 3_600_000
        sim.publish_version(project.account_id, at_ms=at_ms, numbered=numbered)
        second = run_tap(plans_config([project], published_plans_limit=2), first.final_state)
        third = run_tap(plans_config([project], published_plans_limit=2), second.final_state)

    # Numbered past the bookmark, it is new by its number alone. Without a number, it is taken
    # as one landed before (docs/operations.md): without every id ever landed, nothing tells
    # them apart. Either way the 6 between all land.
    new = newest_ids(sim, project, 7) if numbered else newest_ids(sim, project, 7)[1:]
    assert sorted(landed(second)) == sorted(new)
    assert {r["publishedPlanId"] for r in second.records("published_plan_tasks")} == set(new)
    assert landed(third) == []


def test_after_a_version_published_in_the_future_every_later_one_lands_once() -> None:
    with Simulator(seed=9, events=0, plan_projects=1, plan_tasks=4) as sim:
        (project,) = sim.plan_projects
        first = run_tap(plans_config([project]))
        # Years ahead (a clock gone wrong): the bookmark goes there, said in a WARNING.
        sim.publish_version(project.account_id, at_ms=4_102_444_800_000)  # 2100-01-01
        second = run_cli(plans_config([project]), first.final_state)
        for _ in range(6):
            sim.publish_version(project.account_id)
        third = run_cli(plans_config([project], published_plans_limit=2), second.final_state)
        fourth = run_tap(plans_config([project], published_plans_limit=2), third.final_state)

    future = newest_ids(sim, project, 7)[-1]
    assert landed(second) == [future]
    (warning,) = log_lines(second.stderr, "WARNING")
    assert f"({future}) is published 2100-01-01T00:00:00.000Z, in the future" in warning
    # Then its bookmark, once per run (not once per stream: each has the same one).
    (warning,) = log_lines(third.stderr, "WARNING")
    assert (
        "the state's bookmark of published_plans, published_plan_tasks and "
        "published_plan_statuses (2100-01-01T00:00:00.000Z) is in the future: until then, only a "
        "version numbered past " in warning
    )
    # Older than the bookmark, but numbered past it: each lands, none is left behind.
    assert sorted(landed(third)) == sorted(newest_ids(sim, project, 6))
    assert landed(fourth) == []


def test_bookmark_ids_or_version_the_tap_cannot_use_are_said_and_left_out() -> None:
    with Simulator(seed=8, events=0, plan_projects=1, plan_tasks=4) as sim:
        (project,) = sim.plan_projects
        first = run_tap(plans_config([project]))
        state = first.final_state
        (partition,) = state["bookmarks"]["published_plans"]["partitions"]
        partition |= {"bookmark_ids": "notalist", "bookmark_version": "26"}

        second = run_cli(plans_config([project]), state)

    assert second.returncode == 0, second.stderr
    (warning,) = log_lines(second.stderr, "WARNING")
    assert (
        'bookmark_ids is a string "notalist", not a list of ids and bookmark_version is ' in warning
    )
    assert 'a string "26", not a version number: left out' in warning
    # Without the ids, the version at the bookmark's very time lands again; nothing is lost.
    assert landed(second) == newest_ids(sim, project, 1)
    (partition,) = bookmarks(second, "published_plans")
    assert partition["bookmark_ids"] == newest_ids(sim, project, 1)


def test_a_bookmark_in_the_future_in_the_state_is_said_once_per_bookmark() -> None:
    """Once per time (a version's), naming the streams whose bookmark it is."""
    with Simulator(seed=8, events=0, plan_projects=1, plan_tasks=4) as sim:
        (project,) = sim.plan_projects
        state = run_tap(plans_config([project])).final_state
        for stream, year in [
            ("published_plans", 2099),
            ("published_plan_tasks", 2099),
            ("published_plan_statuses", 2098),
        ]:
            (partition,) = state["bookmarks"][stream]["partitions"]
            partition |= {
                "replication_key_value": f"{year}-01-01T00:00:00.000Z",
                "bookmark_ids": [],
            }

        second = run_cli(plans_config([project]), state)

    assert second.returncode == 0, second.stderr
    assert log_lines(second.stderr, "WARNING") == [
        f"Project {project.name}: the state's bookmark of {streams} ({year}-01-01T00:00:00.000Z) "
        "is in the future: until then, only a version numbered past 26 lands. If no version was "
        "published then, clear that project's state."
        for streams, year in [
            ("published_plans and published_plan_tasks", 2099),
            ("published_plan_statuses", 2098),
        ]
    ]
    assert landed(second) == []


# --- warnings about a version: once, on the run that first reads it ----------------------------

SURPRISES = frozenset(
    {
        "key_task_string",
        "renamed_table",
        "row_without_task_id",
        "published_at_null",
        "duplicate_version_id",
        "string_number",
        "null_value",
    }
)


def test_a_warning_about_a_version_is_said_on_the_run_that_first_reads_it_only() -> None:
    with Simulator(seed=9, events=0, plan_projects=1, plan_tasks=6, variations=SURPRISES) as sim:
        (project,) = sim.plan_projects
        first = run_cli(plans_config([project]))
        assert first.returncode == 0, first.stderr
        said = log_lines(first.stderr, "WARNING")
        assert any("a table the tap does not know, `Tasks`" in line for line in said), said
        assert any("its publishedAt is null" in line for line in said), said
        assert any("more than once" in line for line in said), said

        # Later runs read the newest versions again (the default limit reaches back to them).
        second = run_cli(plans_config([project]), first.final_state)
        sim.publish_version(project.account_id)
        third = run_cli(plans_config([project]), second.final_state)

    assert second.returncode == third.returncode == 0
    assert log_lines(second.stderr, "WARNING") == []
    assert log_lines(third.stderr, "WARNING") == []
    assert len(landed(third)) == 1


# --- SCHEMA once per stream per run --------------------------------------------------------------


def schemas_sent(run: TapRun) -> Counter[str]:
    return Counter(m["stream"] for m in run.messages if m["type"] == "SCHEMA")


def test_schema_goes_out_once_per_stream_per_run() -> None:
    with Simulator(
        seed=4, events=2_000, page_size=200, daily_quota=None, plan_projects=3, plan_tasks=4
    ) as sim:
        config = {**events_config(sim), **plans_config(sim.plan_projects)}

        run = run_tap(config)

    sent = schemas_sent(run)
    assert set(sent) == {"task_events", "tasks", "task_statuses", *PLAN_STREAMS}
    assert all(count == 1 for count in sent.values()), sent
    assert len(run.records("tasks")) > 0
    assert len({r["publishedPlanId"] for r in run.records("published_plan_tasks")}) > 3


@pytest.mark.parametrize("limit", [3])
def test_a_tie_inside_one_document_lands_both(limit: int) -> None:
    with Simulator(seed=12, events=0, plan_projects=1, plan_tasks=2, history_weeks=2) as sim:
        (project,) = sim.plan_projects
        sim.publish_version(project.account_id, same_time=True)

        run = run_tap(plans_config([project], published_plans_limit=limit))

    assert sorted(landed(run)) == sorted(newest_ids(sim, project, 3))


def test_a_plans_state_the_tap_cannot_use_is_said_not_skipped_silently() -> None:
    with Simulator(seed=8, events=0, plan_projects=1, plan_tasks=4) as sim:
        (project,) = sim.plan_projects
        state = run_tap(plans_config([project])).final_state
        plans = state["bookmarks"]["published_plans"]
        (partition,) = plans["partitions"]
        plans["partitions"].append({**partition, "context": {**partition["context"], "x": 1}})
        plans["replication_key_value"] = partition["replication_key_value"]

        second = run_cli(plans_config([project]), state)

    assert second.returncode == 0, second.stderr
    warnings = log_lines(second.stderr, "WARNING")
    assert any("State: published_plans holds a partition for an object" in w for w in warnings)
    assert any(
        "State: published_plans holds a position outside `partitions`" in w for w in warnings
    )
    assert landed(second) == []  # the project's own partition is used as ever


def test_a_bookmark_left_under_a_projects_old_id_is_said() -> None:
    with Simulator(seed=8, events=0, plan_projects=1, plan_tasks=4) as sim:
        (project,) = sim.plan_projects
        state = run_tap(plans_config([project])).final_state
        (partition,) = state["bookmarks"]["published_plans"]["partitions"]
        old = project.account_id.upper()  # as an earlier URL spelt it
        partition["context"] = {"accountId": old}

        second = run_cli(plans_config([project]), state)

    assert second.returncode == 0, second.stderr
    assert any(
        f"holds the bookmark of project `{old}`, which is not in `projects`, while project "
        f"`{project.account_id}` has none" in warning
        for warning in log_lines(second.stderr, "WARNING")
    )
