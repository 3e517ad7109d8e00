"""The simulator's truth, in the form the landing checks compare against."""

from __future__ import annotations

import typing as t

from aphex_simulator import Simulator

from .landing import Landing, differences, expected_tasks, landed_tasks


def event_ids(simulator: Simulator) -> list[str]:
    return [event["eventId"] for event in simulator.event_log.events]


def whole_history(simulator: Simulator, account_id: str) -> list[dict[str, t.Any]]:
    """Every version a project serves: what a first run reads (the API keeps six months)."""
    return list(simulator.plan_document(account_id, 1000)["publishedPlans"])


def served_versions(simulator: Simulator) -> set[tuple[str, str]]:
    """(accountId, publishedPlanId) of every version the projects serve."""
    return {
        (project.account_id, version["id"])
        for project in simulator.plan_projects
        for version in whole_history(simulator, project.account_id)
    }


def landing_differences(landing: Landing, simulator: Simulator) -> list[str]:
    """How what landed differs from the simulator: events, current tasks, published versions."""
    found = []
    if landing.event_ids() != event_ids(simulator):
        found.append(
            f"task_events: {len(landing.event_ids())} landed, {len(event_ids(simulator))} in the "
            "log, or not in the log's order"
        )
    truth = simulator.current_tasks()
    landed = landed_tasks(landing.current_tasks(), truth)
    expected = expected_tasks(truth, empty_text_as_null=landing.empty_text_as_null)
    found += differences(landed, expected)
    if sorted(landing.published_versions()) != sorted(served_versions(simulator)):
        found.append(f"published_plans: {sorted(landing.published_versions())[:3]}...")
    return found
