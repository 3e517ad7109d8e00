-- Between consecutive published versions of a project's plan: each task added, removed, or moved
-- (its start or end shifted), with the shifts in working days of the task's calendar.
with versions as (
    select
        account_id,
        published_plan_id,
        version,
        published_at,
        project_name,
        lag(published_plan_id) over (
            partition by account_id order by version, published_at, published_plan_id
        ) as previous_plan_id,
        lag(version) over (
            partition by account_id order by version, published_at, published_plan_id
        ) as previous_version
    from {{ ref('stg_aphex__published_plans') }}
),

pairs as (
    select * from versions where previous_plan_id is not null
),

tasks as (
    select
        account_id,
        published_plan_id,
        task_id,
        task_name,
        {{ aphex_date('start_at') }} as start_day,
        {{ aphex_date('end_at') }} as end_day
    from {{ ref('stg_aphex__published_plan_tasks') }}
),

new_side as (
    select p.account_id, p.published_plan_id, t.task_id, t.task_name, t.start_day, t.end_day
    from pairs as p
    inner join tasks as t
        on t.account_id = p.account_id and t.published_plan_id = p.published_plan_id
),

old_side as (
    select p.account_id, p.published_plan_id, t.task_id, t.task_name, t.start_day, t.end_day
    from pairs as p
    inner join tasks as t
        on t.account_id = p.account_id and t.published_plan_id = p.previous_plan_id
),

compared as (
    select
        coalesce(n.account_id, o.account_id) as account_id,
        coalesce(n.published_plan_id, o.published_plan_id) as published_plan_id,
        coalesce(n.task_id, o.task_id) as task_id,
        coalesce(n.task_name, o.task_name) as task_name,
        o.start_day as previous_start,
        o.end_day as previous_end,
        n.start_day as new_start,
        n.end_day as new_end,
        case
            when o.task_id is null then 'added'
            when n.task_id is null then 'removed'
            when n.start_day <> o.start_day or n.end_day <> o.end_day then 'moved'
        end as change_type
    from new_side as n
    full outer join old_side as o
        on o.account_id = n.account_id
        and o.published_plan_id = n.published_plan_id
        and o.task_id = n.task_id
),

-- ASSUMED: published plan rows carry no calendar; a task's calendar is its Data API task's
-- (same id) where there is one, else Five Day.
calendars as (
    select task_id, max(calendar) as calendar
    from {{ ref('stg_aphex__tasks') }}
    group by task_id
)

select
    {{ dbt.concat(['c.account_id', "'|'", 'c.published_plan_id', "'|'", 'c.task_id']) }}
        as change_key,
    c.account_id,
    p.project_name,
    c.published_plan_id,
    p.version,
    p.published_at,
    p.previous_plan_id,
    p.previous_version,
    c.task_id,
    c.task_name,
    c.change_type,
    c.previous_start,
    c.new_start,
    c.previous_end,
    c.new_end,
    case when c.change_type = 'moved' then
        {{ aphex_working_days_shift('c.previous_start', 'c.new_start',
                                    aphex_calendar_days_per_week('cal.calendar')) }}
    end as start_shift_working_days,
    case when c.change_type = 'moved' then
        {{ aphex_working_days_shift('c.previous_end', 'c.new_end',
                                    aphex_calendar_days_per_week('cal.calendar')) }}
    end as end_shift_working_days
from compared as c
inner join pairs as p
    on p.account_id = c.account_id and p.published_plan_id = c.published_plan_id
left join calendars as cal
    on cal.task_id = c.task_id
where c.change_type is not null
