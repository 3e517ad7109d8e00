-- PPC (Percent Plan Complete) per project and reference week (Monday to Sunday), by the vendor's
-- two methods, Task Day and Task, with the counts behind each (docs/analytics.md).
--
-- Each choice the vendor leaves open is one CTE or macro below, marked ASSUMED:
--   planned_tasks          what was planned: the task as the event log held it when the week began
--   planned_work           which planned tasks are scored: the leaves, not the parents that
--                          summarise their subtasks
--   aphex_ppc_failing_status_types()  which statuses make a planned day not done (macros/)
--   task_weeks             end exclusive, day granularity, working days by the task's calendar
with

-- The span of the log: a week is reported when it began after the log's first event (so the
-- plan as of its start is known) and no later than the last one.
log_span as (
    select min(valid_from) as first_event_at, max(valid_from) as last_event_at
    from (
        select valid_from from {{ ref('aphex_task_history') }}
        union all
        select event_created_at as valid_from from {{ ref('stg_aphex__task_statuses') }}
    ) as times
),

digits as (
    select 0 as d union all select 1 union all select 2 union all select 3 union all select 4
    union all select 5 union all select 6 union all select 7 union all select 8 union all select 9
),

week_numbers as (
    select a.d + 10 * b.d + 100 * c.d as n
    from digits as a cross join digits as b cross join digits as c
),

first_week as (
    select
        case
            when {{ aphex_timestamp(aphex_week_start(aphex_date('first_event_at'))) }}
                >= first_event_at
                then {{ aphex_week_start(aphex_date('first_event_at')) }}
            else cast({{ dbt.dateadd('day', 7, aphex_week_start(aphex_date('first_event_at'))) }}
                as date)
        end as week_start,
        last_event_at
    from log_span
),

weeks as (
    select
        cast({{ dbt.dateadd('day', '7 * n', 'f.week_start') }} as date) as week_start,
        cast({{ dbt.dateadd('day', '7 * n + 7', 'f.week_start') }} as date) as week_end,
        f.last_event_at
    from first_week as f
    cross join week_numbers
    where {{ aphex_timestamp(dbt.dateadd('day', '7 * n', 'f.week_start')) }} <= f.last_event_at
),

-- ASSUMED: "planned" is each task as the event log held it when the reference week began (the
-- version valid at Monday 00:00 UTC), not a published plan: the event log is where the tasks'
-- statuses live, and its task ids are the statuses' own. Tasks deleted since are left out (the
-- vendor's reports read the live programme). To take the plan from elsewhere, replace this CTE:
-- it must give week_start, week_end, task_id, parent_task_id (null where the source has none),
-- project_id, project_name, calendar, start_at, end_at.
planned_tasks as (
    select
        w.week_start,
        w.week_end,
        h.task_id,
        h.parent_task_id,
        h.project_id,
        h.project_name,
        h.calendar,
        h.start_at,
        h.end_at
    from weeks as w
    inner join {{ ref('aphex_task_history') }} as h
        on h.valid_from <= {{ aphex_timestamp('w.week_start') }}
        and (h.valid_to is null or h.valid_to > {{ aphex_timestamp('w.week_start') }})
    inner join {{ ref('aphex_tasks_current') }} as live
        on live.task_id = h.task_id
),

-- ASSUMED: "Parent tasks summarise their subtasks" (the vendor), so a parent's days are its
-- subtasks' days again: scoring both would count the same work twice. A parent is left out of a
-- week when a subtask in that week's plan has dates in the week (at every level: a parent of
-- parents too). One whose subtasks plan nothing that week (none in the plan, deleted since or
-- created after the week began, or all dated in other weeks) is scored as a task of its own:
-- else its days would count nowhere.
planned_work as (
    select p.*
    from planned_tasks as p
    where not exists (
        select 1
        from planned_tasks as subtask
        where subtask.week_start = p.week_start
            and subtask.parent_task_id = p.task_id
            and subtask.task_id <> p.task_id
            and {{ aphex_date('subtask.start_at') }} < p.week_end
            and {{ aphex_date('subtask.end_at') }} > p.week_start
    )
),

-- ASSUMED: day granularity; a task works the days from its start's day up to, NOT including, its
-- end's day (the vendor's one-day task ends 24 h after it starts), on its calendar's working days.
task_weeks as (
    select
        p.*,
        {{ aphex_calendar_days_per_week('p.calendar') }} as days_per_week,
        case when {{ aphex_date('p.start_at') }} > p.week_start
            then {{ aphex_date('p.start_at') }} else p.week_start end as window_from,
        case when {{ aphex_date('p.end_at') }} < p.week_end
            then {{ aphex_date('p.end_at') }} else p.week_end end as window_to
    from planned_work as p
),

task_days as (
    select
        tw.*,
        -- A version whose start or end the tap could not read plans no day.
        case when tw.start_at is null or tw.end_at is null then 0 else
            {{ aphex_working_days_between('tw.window_from', 'tw.window_to', 'tw.days_per_week') }}
        end as days_planned,
        -- The task's final working day falls in the week: no working day after the week.
        {{ aphex_working_days_between('tw.week_end', aphex_date('tw.end_at'), 'tw.days_per_week') }}
            = 0 as final_day_in_week
    from task_weeks as tw
),

-- Planned days of the week that a current status of a failing type was recorded against.
failed_days as (
    select
        td.week_start,
        td.task_id,
        count(distinct s.status_date) as days_failed
    from task_days as td
    inner join {{ ref('stg_aphex__task_statuses') }} as s
        on s.task_id = td.task_id
        and s.is_current
        and s.status_type in {{ aphex_ppc_failing_status_types() }}
        and s.status_date >= td.window_from
        and s.status_date < td.window_to
        and {{ aphex_is_working_day('s.status_date', 'td.days_per_week') }}
    where td.days_planned > 0
    group by td.week_start, td.task_id
),

scored as (
    select
        td.project_id,
        td.project_name,
        td.week_start,
        td.week_end,
        td.task_id,
        td.days_planned,
        td.days_planned - coalesce(f.days_failed, 0) as days_done,
        td.final_day_in_week,
        coalesce(f.days_failed, 0) = 0 as final_day_as_planned
    from task_days as td
    left join failed_days as f
        on f.week_start = td.week_start and f.task_id = td.task_id
    where td.days_planned > 0
),

by_project as (
    select
        project_id,
        max(project_name) as project_name,
        week_start,
        max(week_end) as week_end,
        -- Task Day: each task's share of its planned days done, averaged over the tasks.
        count(*) as task_day_tasks_planned,
        sum(days_planned) as task_day_days_planned,
        sum(days_done) as task_day_days_done,
        avg({{ aphex_double('days_done') }} / days_planned) as ppc_task_day,
        -- Task: the tasks whose final day was planned in the week; done if it was as planned.
        sum(case when final_day_in_week then 1 else 0 end) as task_tasks_planned,
        sum(case when final_day_in_week and final_day_as_planned then 1 else 0 end)
            as task_tasks_done
    from scored
    group by project_id, week_start
)

select
    {{ dbt.concat(['b.project_id', "'|'", dbt.cast('b.week_start', dbt.type_string())]) }}
        as ppc_key,
    b.project_id,
    b.project_name,
    b.week_start,
    b.week_end,
    -- The week had ended by the log's last event (a later one may still get statuses).
    {{ aphex_timestamp('b.week_end') }} <= s.last_event_at as week_complete,
    b.task_day_tasks_planned,
    b.task_day_days_planned,
    b.task_day_days_done,
    b.ppc_task_day,
    {{ aphex_percent('b.ppc_task_day') }} as ppc_task_day_percent,
    b.task_tasks_planned,
    b.task_tasks_done,
    case when b.task_tasks_planned > 0
        then {{ aphex_double('b.task_tasks_done') }} / b.task_tasks_planned
    end as ppc_task,
    case when b.task_tasks_planned > 0
        then {{ aphex_percent(aphex_double('b.task_tasks_done') ~ ' / b.task_tasks_planned') }}
    end as ppc_task_percent
from by_project as b
cross join log_span as s
