"""What ./demo shows of the warehouse: each report a named SQL query, its columns named for a
planner. The tasks table keeps deleted tasks as rows (see docs/deletions.md), so every report on
current tasks has the filter CURRENT_TASKS."""

from __future__ import annotations

from meltano_runner import SCHEMA, STREAMS

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
