"""What ./demo shows of the warehouse: each report a named SQL query, its columns named for a
planner. The tasks table keeps deleted tasks as rows (see docs/deletions.md), so every report on
current tasks has the filter CURRENT_TASKS."""

from __future__ import annotations

import typing as t

from meltano_runner import SCHEMA, STREAMS

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

# The one filter for the tasks that exist now: a deleted task's row stays, marked with the time it
# was deleted (docs/deletions.md).
CURRENT_TASKS = "_sdc_deleted_at IS NULL"

# What DuckDB needs to read a task's statuses, stored by target-duckdb as JSON text.
STATUS_SHAPE = '[{"type": "VARCHAR", "category": "VARCHAR", "value": "DOUBLE"}]'

# Counts of the tasks table: all its rows, and those of deleted tasks.
TASK_COUNTS = f"""
    SELECT count(*) AS "rows", count(*) FILTER (WHERE NOT ({CURRENT_TASKS})) AS deleted
    FROM {SCHEMA}.tasks
"""

REPORTS: dict[str, str] = {
    "Tables and their rows": " UNION ALL ".join(
        f'SELECT \'{stream}\' AS "table", count(*) AS "rows" FROM {SCHEMA}.{stream}'
        for stream in STREAMS
    ),
    f"Current tasks by project (where {CURRENT_TASKS.lower()})": f"""
        SELECT projectName AS project, count(*) AS tasks
        FROM {SCHEMA}.tasks WHERE {CURRENT_TASKS}
        GROUP BY ALL ORDER BY project
    """,
    "Delays on current tasks: working days lost by category and project": f"""
        WITH delay AS (
            SELECT t.projectName AS project, s.category AS category, s.value AS days
            FROM {SCHEMA}.tasks AS t,
                 unnest(from_json(t.statuses, '{STATUS_SHAPE}')) AS u(s)
            WHERE t.{CURRENT_TASKS} AND s.type = 'delay'
        )
        PIVOT delay ON category USING sum(days) GROUP BY project ORDER BY project
    """,
    "Published plans: each project's newest version, its tasks by status": f"""
        WITH newest AS (
            SELECT accountId, max(version) AS version, count(*) AS versions
            FROM {SCHEMA}.published_plans GROUP BY accountId
        ), plan AS (
            SELECT json_extract_string(p.project, '$.name') AS project,
                   n.versions AS "versions landed", p.version AS "newest version",
                   p.publishedAt::DATE AS published, t.status
            FROM {SCHEMA}.published_plans AS p
            JOIN newest AS n USING (accountId, version)
            LEFT JOIN {SCHEMA}.published_plan_tasks AS t
                   ON t.accountId = p.accountId AND t.publishedPlanId = p.publishedPlanId
        )
        PIVOT plan ON status USING count(*)
        GROUP BY project, "versions landed", "newest version", published
        ORDER BY project
    """,
}


# ------------------------------------------------------------------------------------------------
# The planner's weekly reports: what transform/'s dbt models (docs/analytics.md) built in the
# schema below, read back for ./demo's text and chart.

ANALYTICS = "aphex_analytics"  # meltano.yml's dbt-duckdb `schema`
RECENT_WEEKS = 6

# Each project's last weeks of PPC, newest first; percents rounded down, as Aphex shows them.
PPC_REPORT = f"""
    SELECT project_name AS project,
           strftime(week_start, '%d %b %Y') || CASE WHEN week_complete THEN '' ELSE ' (so far)' END
               AS "week from Monday",
           ppc_task_day_percent || '%' AS "PPC by task-day",
           task_day_tasks_planned AS "tasks planned",
           task_day_days_planned AS "days planned",
           task_day_days_done AS "days done",
           coalesce(ppc_task_percent || '%', '') AS "PPC by task",
           task_tasks_planned AS "due to finish",
           task_tasks_done AS "finished"
    FROM {ANALYTICS}.aphex_ppc
    QUALIFY row_number() OVER (PARTITION BY project_id ORDER BY week_start DESC) <= {RECENT_WEEKS}
    ORDER BY project, week_start DESC
"""

# Working days of delay per project and category, every week the data holds.
DELAYS_REPORT = f"""
    WITH delay AS (
        SELECT project_name AS project, category, delay_days FROM {ANALYTICS}.aphex_delays
    )
    PIVOT delay ON category USING sum(delay_days) GROUP BY project ORDER BY project
"""

PPC_EXPLAINED = (
    "PPC, Percent Plan Complete: how much of the work planned when a week began was done in",
    "that week (the plan is each task as it stood at Monday 00:00 UTC). A planned day counts as",
    "done unless a delay was recorded against it. Two ways to score it, as in Aphex's reports:",
    "  by task-day: for each task, the share of its planned days in the week that were done,",
    "               averaged over the tasks planned in the week;",
    "  by task:     of the tasks due to finish that week, the share that finished as planned.",
    "'(so far)': the data ends before that week does. A week is scored only if the data began",
    "before its Monday (what was planned must be known).",
)


def draw_chart(
    ppc: Sequence[Mapping[str, t.Any]], delays: Sequence[Mapping[str, t.Any]], path: Path
) -> Path:
    """One PNG a planner reads without the README: PPC per project and week by both methods,
    and the days of delay per project split by category."""
    import matplotlib  # imported here: only the demo draws, and it is slow to import

    matplotlib.use("Agg")  # no display needed
    from matplotlib import pyplot

    figure, (left, middle, right) = pyplot.subplots(1, 3, figsize=(17, 5.5), layout="constrained")
    figure.suptitle("Aphex demo: how much of each week's plan got done, and what delayed it")
    projects = sorted({str(row["project"]) for row in [*ppc, *delays]})
    weeks = sorted({row["week"] for row in ppc})
    width = 0.8 / max(len(weeks), 1)
    for axes, column, title in (
        (left, "task_day", "PPC by task-day\n(share of planned days done, averaged over tasks)"),
        (middle, "task", "PPC by task\n(share of tasks due to finish that finished as planned)"),
    ):
        for index, week in enumerate(weeks):
            values = {str(row["project"]): row[column] for row in ppc if row["week"] == week}
            xs = [i + index * width for i in range(len(projects))]
            heights = [100 * (values.get(project) or 0) for project in projects]
            bars = axes.bar(xs, heights, width, label=f"week from {week:%d %b %Y}")
            axes.bar_label(bars, labels=[f"{int(h)}%" if h else "" for h in heights], fontsize=8)
        axes.set_title(title)
        axes.set_ylim(0, 110)
        axes.set_ylabel("percent of the plan done")
        axes.set_xticks([i + width * (len(weeks) - 1) / 2 for i in range(len(projects))])
        axes.set_xticklabels(projects, rotation=15)
        axes.legend(loc="lower right", fontsize=8)
    categories = sorted({str(row["category"]) for row in delays})
    bottom = [0.0] * len(projects)
    for category in categories:
        days = [
            sum(
                float(row["delay_days"])
                for row in delays
                if row["project"] == project and row["category"] == category
            )
            for project in projects
        ]
        right.bar(projects, days, bottom=bottom, label=category)
        bottom = [b + d for b, d in zip(bottom, days, strict=True)]
    right.set_title("Delays by category\n(working days of delay on current tasks, all weeks)")
    right.set_ylabel("working days of delay")
    right.tick_params(axis="x", labelrotation=15)
    right.legend(title="category", fontsize=8)
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
    return path


CHART_PPC = f"""
    SELECT project_name AS project, week_start AS week, ppc_task_day AS task_day, ppc_task AS task
    FROM {ANALYTICS}.aphex_ppc
    QUALIFY row_number() OVER (PARTITION BY project_id ORDER BY week_start DESC) <= 4
"""
CHART_DELAYS = f"""
    SELECT project_name AS project, category, sum(delay_days) AS delay_days
    FROM {ANALYTICS}.aphex_delays GROUP BY ALL
"""
