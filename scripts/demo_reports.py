"""What ./demo shows of the warehouse: each report a named SQL query, printed by DuckDB itself."""

from __future__ import annotations

from meltano_runner import SCHEMA, STREAMS

# What DuckDB needs to read a task's statuses, stored by target-duckdb as JSON text.
STATUS_SHAPE = '[{"type": "VARCHAR", "category": "VARCHAR", "value": "DOUBLE"}]'

REPORTS: dict[str, str] = {
    "Tables and their rows": " UNION ALL ".join(
        f'SELECT \'{stream}\' AS "table", count(*) AS "rows" FROM {SCHEMA}.{stream}'
        for stream in STREAMS
    ),
    "Current tasks by project (deletions applied; deleted tasks stay, marked)": f"""
        SELECT coalesce(projectName, '(deleted)') AS project, count(*) AS tasks
        FROM (SELECT CASE WHEN _sdc_deleted_at IS NULL THEN projectName END AS projectName
              FROM {SCHEMA}.tasks)
        GROUP BY ALL ORDER BY project
    """,
    "Delays on current tasks: working days lost by category and project": f"""
        WITH delay AS (
            SELECT t.projectName AS project, s.category AS category, s.value AS days
            FROM {SCHEMA}.tasks AS t,
                 unnest(from_json(t.statuses, '{STATUS_SHAPE}')) AS u(s)
            WHERE t._sdc_deleted_at IS NULL AND s.type = 'delay'
        )
        PIVOT delay ON category USING sum(days) GROUP BY project ORDER BY project
    """,
    "Published plans: the newest version of each project, its tasks by status": f"""
        WITH newest AS (
            SELECT accountId, max(version) AS version, count(*) AS versions
            FROM {SCHEMA}.published_plans GROUP BY accountId
        ), plan AS (
            SELECT json_extract_string(p.project, '$.name') AS project, n.versions, p.version,
                   p.publishedAt::DATE AS published, t.status
            FROM {SCHEMA}.published_plans AS p
            JOIN newest AS n USING (accountId, version)
            LEFT JOIN {SCHEMA}.published_plan_tasks AS t
                   ON t.accountId = p.accountId AND t.publishedPlanId = p.publishedPlanId
        )
        PIVOT plan ON status USING count(*) GROUP BY project, versions, version, published
        ORDER BY project
    """,
}
