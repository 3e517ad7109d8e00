"""What ./demo shows of the warehouse: each report a named SQL query, its columns named for a
planner. The tasks table keeps deleted tasks as rows (see docs/deletions.md), so every report on
current tasks has the filter CURRENT_TASKS."""

from __future__ import annotations

import math
import re
import textwrap
import typing as t
from collections import defaultdict
from xml.sax.saxutils import escape

from meltano_runner import SCHEMA, STREAMS

if t.TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping, Sequence
    from pathlib import Path

# The one filter for the tasks that exist now: a deleted task's row stays, marked with the time it
# was deleted (docs/deletions.md).
CURRENT_TASKS = "_sdc_deleted_at IS NULL"

# Counts of the tasks table: all its rows, and those of deleted tasks.
TASK_COUNTS = f"""
    SELECT count(*) AS "rows", count(*) FILTER (WHERE NOT ({CURRENT_TASKS})) AS deleted
    FROM {SCHEMA}.tasks
"""

# Step 5: what landed, read from the loader's tables. Delays by category are not among them: step
# 6 shows them from the dbt model (aphex_delays), which a planner's report reads.
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

# How many weeks aphex_ppc scores, and the span of the event log that decides it: the model's
# own `log_span` (task versions and statuses), so that the words agree with its weeks.
PPC_WEEKS = f"""
    WITH log AS (
        SELECT valid_from AS at FROM {ANALYTICS}.aphex_task_history
        UNION ALL
        SELECT event_created_at FROM {ANALYTICS}.stg_aphex__task_statuses
    )
    SELECT (SELECT min(at) FROM log) AS log_from, (SELECT max(at) FROM log) AS log_to,
           (SELECT count(DISTINCT week_start) FROM {ANALYTICS}.aphex_ppc) AS weeks
"""

PPC_EXPLAINED = (
    "PPC, Percent Plan Complete: how much of the work planned when a week began was done in",
    "that week (the plan is each task as it stood at Monday 00:00 UTC). A planned day counts as",
    "done unless a delay was recorded against it. A parent task is not scored in a week its",
    "subtasks are dated in: it summarises them. Two ways to score it, as in Aphex's reports:",
    "  by task-day: for each task, the share of its planned days in the week that were done,",
    "               averaged over the tasks planned in the week;",
    "  by task:     of the tasks due to finish that week, the share that finished as planned.",
    "'(so far)': the data ends before that week does.",
)


def ppc_title(weeks: int) -> str:
    """The PPC table's title, true to what it shows: every week the data scores, or the last
    RECENT_WEEKS of them."""
    if weeks > RECENT_WEEKS:
        shown = f"the last {RECENT_WEEKS} of the {weeks} weeks the data scores"
    else:
        shown = f"the {'1 week' if weeks == 1 else f'{weeks} weeks'} the data scores"
    return f"PPC per project, {shown} (newest first)"


def ppc_weeks_explained(log_from: dt.datetime, log_to: dt.datetime, weeks: int) -> list[str]:
    """Why the table has as many weeks as it has: the span of the event log, and the rule that
    a week is scored only if the log began before its Monday."""
    span = f"{log_from:%a %d %b %Y %H:%M} to {log_to:%a %d %b %Y %H:%M} UTC"
    count = "no week" if weeks == 0 else "1 week" if weeks == 1 else f"{weeks} weeks"
    return textwrap.wrap(
        f"The event log runs from {span}. A week is scored only if the log began before its "
        f"Monday (what was planned must be known) and reaches into it: {count} here. Each later "
        "./demo run adds events, and in time the weeks after.",
        width=92,
    )


def draw_chart(
    ppc: Sequence[Mapping[str, t.Any]], delays: Sequence[Mapping[str, t.Any]], path: Path
) -> Path:
    """One SVG a planner reads without the README (any browser opens it): PPC per project and
    week by both methods, and the days of delay per project split by category. Drawn by hand in
    a few dozen lines: a charting library (matplotlib pulls in numpy, whose import the SDK then
    pays at every tap start) is a heavy dependency for three bar charts."""
    projects = sorted({str(row["project"]) for row in [*ppc, *delays]})
    weeks = sorted({row["week"] for row in ppc})
    so_far = {row["week"] for row in ppc if not row.get("complete", True)}
    categories = sorted({str(row["category"]) for row in delays})
    legend_rows = max(len(weeks), len(categories), 1)
    svg = _Svg(width=3 * _PANEL + 40, height=_TOP + _PLOT + 90 + 16 * legend_rows)
    svg.text(
        svg.width / 2,
        28,
        "Aphex demo: how much of each week's plan got done, and what delayed it",
        size=18,
        anchor="middle",
    )
    planned = {(str(row["project"]), row["week"]): row for row in ppc}
    for left, column, title in (
        (20, "task_day", ("PPC by task-day", "share of planned days done, averaged over tasks")),
        (20 + _PANEL, "task", ("PPC by task", "share of tasks due to finish that finished")),
    ):
        # Per project, a bar per week; a week with no PPC (no task planned, or none due to
        # finish) is no bar but "n/a", so that it is not read as 0%.
        bars = [
            [[_percent(planned.get((project, week), {}).get(column))] for week in weeks]
            for project in projects
        ]
        svg.panel(
            left,
            title,
            "percent of the plan done",
            projects,
            bars,
            [f"week from {week:%d %b %Y}{' (so far)' * (week in so_far)}" for week in weeks],
            top=110,
            grid=100,
            label=lambda value: f"{int(round(value, 6))}%",  # down, as Aphex shows it
            stacked=False,
        )
    delay: dict[tuple[str, str], float] = defaultdict(float)
    for row in delays:
        delay[str(row["project"]), str(row["category"])] += _number(row["delay_days"]) or 0.0
    # Per project, one bar stacking its categories.
    days = [[[delay[project, category] for category in categories]] for project in projects]
    top = _nice(max((sum(bar[0]) for bar in days), default=0.0))
    svg.panel(
        20 + 2 * _PANEL,
        ("Delays by category", "working days of delay on current tasks"),
        "working days of delay",
        projects,
        days,
        categories,
        top=top,
        grid=top,
        label=lambda value: "",
        stacked=True,
    )
    path.write_text(svg.document(), encoding="utf-8")
    return path


_PANEL, _TOP, _PLOT = 500, 110, 330  # a panel's width; where plots start; their height
_COLOURS = (  # told apart by colour-blind readers too (Paul Tol's bright and muted)
    "#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb",
    "#332288", "#88ccee", "#117733", "#999933", "#cc6677",
)  # fmt: skip


def _number(value: object) -> float | None:
    """A finite number, or None (no value, NaN or infinite: drawn as "n/a", never as a bar)."""
    number = None if value is None else float(t.cast("float", value))
    return number if number is not None and math.isfinite(number) else None


def _percent(share: object) -> float | None:
    number = _number(share)
    return None if number is None else 100 * number


def _shown(text: str, width: int = 32) -> str:
    """Text as the chart can hold it: no control character or lone surrogate (XML has none),
    and cut to ``width`` characters."""
    text = _NOT_IN_XML.sub("\ufffd", text)
    return text if len(text) <= width else text[: width - 1] + "…"


_NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _nice(value: float) -> float:
    """An axis top at or above ``value``: 1, 2 or 5 times a power of ten (never 0)."""
    step = 1.0
    while step * 5 < value:
        step *= 10
    return next(top for top in (step, 2 * step, 5 * step, 10 * step) if top >= value)


class _Svg:
    """Just what three bar charts need: text, rectangles, lines, one panel at a time."""

    def __init__(self, width: float, height: float) -> None:
        self.width, self.height, self.parts = width, height, list[str]()

    def text(
        self,
        x: float,
        y: float,
        words: str,
        *,
        size: int = 12,
        anchor: str = "start",
        rotate: float = 0,
    ) -> None:
        turn = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate else ""
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{turn}>'
            f"{escape(_shown(words, 80))}</text>"
        )

    def rect(self, x: float, y: float, width: float, height: float, colour: str) -> None:
        self.parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" '
            f'fill="{colour}"/>'
        )

    def line(self, x1: float, y1: float, x2: float, y2: float, colour: str = "#999") -> None:
        self.parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}"/>'
        )

    def panel(
        self,
        left: float,
        title: tuple[str, str],
        axis: str,
        groups: Sequence[str],
        bars: Sequence[Sequence[Sequence[float | None]]],  # per group, per bar, its values
        legend: Sequence[str],
        *,
        top: float,
        grid: float,
        label: t.Callable[[float], str],
        stacked: bool,
    ) -> None:
        """Bars per group: side by side, one colour each (``stacked`` False), or one bar per
        group whose values stack, one colour per value; the colours' names in ``legend``. The axis
        runs to ``top``, its highest gridline at ``grid``."""
        x0, width = left + 60, _PANEL - 90
        self.text(left + _PANEL / 2, 62, title[0], size=15, anchor="middle")
        self.text(left + _PANEL / 2, 80, f"({title[1]})", anchor="middle")
        self.text(left + 16, _TOP + _PLOT / 2, axis, anchor="middle", rotate=-90)
        for tick in (0, 0.25, 0.5, 0.75, 1.0):  # of the highest gridline: 100% or the top
            y = _TOP + _PLOT - _PLOT * tick * grid / top
            self.line(x0, y, x0 + width, y, "#ddd")
            self.text(x0 - 6, y + 4, f"{tick * grid:g}", anchor="end")
        slot = width / max(len(groups), 1)
        for index, (group, group_bars) in enumerate(zip(groups, bars, strict=True)):
            bar_width = 0.8 * slot / max(len(group_bars), 1)
            for number, values in enumerate(group_bars):
                x, base = x0 + index * slot + 0.1 * slot + number * bar_width, 0.0
                if None in values:
                    self.text(x + bar_width / 2, _TOP + _PLOT - 4, "n/a", size=10, anchor="middle")
                    continue
                for colour_index, value in enumerate(t.cast("Sequence[float]", values)):
                    # Drawn within the plot: nothing below 0, nothing above its top (the
                    # label still says the value).
                    height = _PLOT * min(max(value, 0.0), top - base * top / _PLOT) / top
                    colour = _COLOURS[(colour_index if stacked else number) % len(_COLOURS)]
                    self.rect(x, _TOP + _PLOT - base - height, bar_width * 0.95, height, colour)
                    base += height
                if words := label(sum(t.cast("Sequence[float]", values))):
                    self.text(
                        x + bar_width / 2, _TOP + _PLOT - base - 4, words, size=10, anchor="middle"
                    )
            centre = x0 + (index + 0.5) * slot
            self.text(centre, _TOP + _PLOT + 18, _shown(group), anchor="end", rotate=-15)
        self.line(x0, _TOP + _PLOT, x0 + width, _TOP + _PLOT, "#333")
        for number, name in enumerate(legend):
            y = _TOP + _PLOT + 70 + 16 * number
            self.rect(x0, y - 10, 10, 10, _COLOURS[number % len(_COLOURS)])
            self.text(x0 + 16, y, name, size=11)

    def document(self) -> str:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width:.0f}" '
            f'height="{self.height:.0f}" font-family="sans-serif">\n'
            f'<rect width="100%" height="100%" fill="white"/>\n'
            + "\n".join(self.parts)
            + "\n</svg>\n"
        )


CHART_PPC = f"""
    SELECT project_name AS project, week_start AS week, ppc_task_day AS task_day,
           ppc_task AS task, week_complete AS complete
    FROM {ANALYTICS}.aphex_ppc
    QUALIFY row_number() OVER (PARTITION BY project_id ORDER BY week_start DESC) <= {RECENT_WEEKS}
"""
CHART_DELAYS = f"""
    SELECT project_name AS project, category, sum(delay_days) AS delay_days
    FROM {ANALYTICS}.aphex_delays GROUP BY ALL
"""
