"""The analytics models' answers computed in plain Python from the simulator's own truth.

Independent of transform/'s SQL: it reads the simulator's event log and current tasks (values as
served, see aphex_simulator.variations) and applies the rules docs/analytics.md states, so that a
mistake in the models' SQL (a join, a window, the working-day arithmetic) shows up as a
difference. Only the documented rules are shared: weeks from Monday, end exclusive, Five / Six /
Seven Day calendars, a `delay` status fails its day, "planned" = the task as the log held it when
the week began, deleted tasks left out, a task that another task (of the week's plan, or live
for the delays) names as its `parentId` left out as a summary of its subtasks.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aphex_simulator import Simulator

Task = Mapping[str, t.Any]
_SECONDS_BELOW = 10**11  # a time below this is in epoch seconds (as the vendor's samples allow)
_WEEK = dt.timedelta(days=7)


def epoch_time(value: object) -> dt.datetime | None:
    """A time as served (epoch ms or s, possibly a float) as a UTC datetime; text is not a time."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    ms = value * 1000 if abs(value) < _SECONDS_BELOW else value
    return dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=round(ms))


def day(value: object) -> dt.date | None:
    time = epoch_time(value)
    return time.date() if time else None


def text(value: object) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def days_per_week(calendar: object) -> int:
    name = text(calendar) or ""
    return 7 if name.startswith("Seven Day") else 6 if name.startswith("Six Day") else 5


def monday(date: dt.date) -> dt.date:
    return date - dt.timedelta(days=date.weekday())


def working_days(start: dt.date, end: dt.date, per_week: int) -> list[dt.date]:
    """The working days in [start, end), one by one (no arithmetic shared with the SQL)."""
    days, current = [], start
    while current < end:
        if current.weekday() < per_week:
            days.append(current)
        current += dt.timedelta(days=1)
    return days


def current_tasks(simulator: Simulator) -> dict[str, Task]:
    return dict(simulator.current_tasks())


def parents(tasks: Iterable[Task]) -> set[str]:
    """The ids that another of these tasks names as its `parentId`: summaries, not work."""
    return {
        parent
        for task in tasks
        if (parent := text(task.get("parentId"))) is not None and parent != task["id"]
    }


def delays(simulator: Simulator) -> dict[tuple[str, dt.date, str, str], tuple[int, float]]:
    """(project, week, category, reason) -> (delays, delay days): the current tasks' statuses."""
    found: dict[tuple[str, dt.date, str, str], list[float]] = defaultdict(list)
    live = current_tasks(simulator)
    summaries = parents(live.values())
    for task in live.values():
        if task["id"] in summaries:
            continue
        for status in task.get("statuses") or []:
            status_day = day(status.get("date"))
            if status.get("type") != "delay" or status_day is None:
                continue
            key = (
                task["projectId"],
                monday(status_day),
                text(status.get("category")) or "Uncategorised",
                text(status.get("name")) or "No reason given",
            )
            found[key].append(float(status["value"]))
    return {key: (len(values), sum(values)) for key, values in found.items()}


@dataclass
class Version:
    task: Task
    valid_from: dt.datetime
    valid_to: dt.datetime | None  # None: in force until now (or ended at an unknown time)


def versions(simulator: Simulator) -> dict[str, list[Version]]:
    """Each task's versions in the log's own order, each valid until the task's next event."""
    by_task: dict[str, list[Version]] = defaultdict(list)
    for event in simulator.event_log.events:
        task, at = event["task"], epoch_time(event.get("createdAt"))
        history = by_task[task["id"]]
        if history:
            history[-1].valid_to = at
        if event["type"] != "TaskDeleted" and at is not None:
            history.append(Version(task, at, None))
    return by_task


@dataclass
class WeekCounts:
    """One project's week, as aphex_ppc has it."""

    task_day_tasks_planned: int = 0
    task_day_days_planned: int = 0
    task_day_days_done: int = 0
    task_day_shares: tuple[float, ...] = ()
    task_tasks_planned: int = 0
    task_tasks_done: int = 0

    @property
    def ppc_task_day(self) -> float:
        return sum(self.task_day_shares) / len(self.task_day_shares)


def version_at(history: list[Version], at: dt.datetime) -> Version | None:
    """The version of a task in force at ``at``, if any."""
    return next(
        (v for v in history if v.valid_from <= at and (v.valid_to is None or v.valid_to > at)),
        None,
    )


def reference_weeks(all_versions: Iterable[list[Version]]) -> list[dt.date]:
    """Mondays from the first one at or after the log's first event to the last event."""
    times = [version.valid_from for history in all_versions for version in history]
    first, last = min(times), max(times)
    week = monday(first.date())
    if dt.datetime.combine(week, dt.time()) < first:
        week += _WEEK
    weeks = []
    while dt.datetime.combine(week, dt.time()) <= last:
        weeks.append(week)
        week += _WEEK
    return weeks


def ppc(simulator: Simulator) -> dict[tuple[str, dt.date], WeekCounts]:
    """(project, week start) -> the counts behind both PPC methods."""
    live = current_tasks(simulator)
    history = versions(simulator)
    failed: dict[str, set[dt.date]] = {
        task_id: {
            status_day
            for status in task.get("statuses") or []
            if status.get("type") == "delay" and (status_day := day(status.get("date")))
        }
        for task_id, task in live.items()
    }
    result: dict[tuple[str, dt.date], WeekCounts] = {}
    for week in reference_weeks(history.values()):
        week_at, week_end = dt.datetime.combine(week, dt.time()), week + _WEEK
        # The week's plan: each live task as the log held it when the week began.
        plan = {
            task_id: version.task
            for task_id in live
            if (version := version_at(history[task_id], week_at)) is not None
        }
        # A parent summarises the subtasks that plan days in the week (choice 9): it is left out.
        summaries = parents(
            task
            for task in plan.values()
            if (start := day(task.get("start"))) is not None
            and (end := day(task.get("end"))) is not None
            and start < week_end
            and end > week
        )
        for task_id, planned in plan.items():
            if task_id in summaries:
                continue
            start, end = day(planned.get("start")), day(planned.get("end"))
            if start is None or end is None:
                continue
            per_week = days_per_week(planned.get("calendar"))
            in_week = working_days(max(start, week), min(end, week_end), per_week)
            if not in_week:
                continue
            failed_days = len(failed[task_id] & set(in_week))
            counts = result.setdefault((planned["projectId"], week), WeekCounts())
            counts.task_day_tasks_planned += 1
            counts.task_day_days_planned += len(in_week)
            counts.task_day_days_done += len(in_week) - failed_days
            counts.task_day_shares += ((len(in_week) - failed_days) / len(in_week),)
            if not working_days(week_end, end, per_week):  # its final day is in the week
                counts.task_tasks_planned += 1
                counts.task_tasks_done += failed_days == 0
    return result
