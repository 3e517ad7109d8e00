-- Delay days per project, week (of the day the delay was recorded against), category and reason,
-- from the current statuses of the tasks that exist now that are not parents of other tasks.
with delays as (
    select
        t.project_id,
        t.project_name,
        {{ aphex_week_start('s.status_date') }} as week_start,
        coalesce(s.category, 'Uncategorised') as category,
        coalesce(s.status_name, 'No reason given') as reason,
        s.task_id,
        s.value_days
    from {{ ref('stg_aphex__task_statuses') }} as s
    inner join {{ ref('aphex_tasks_current') }} as t
        on t.task_id = s.task_id
    where s.is_current and s.status_type = 'delay'
        -- ASSUMED: "Parent tasks summarise their subtasks" (the vendor): what a parent shows is
        -- its subtasks' work, and its delays are counted on those subtasks. A delay on a task
        -- that a live task names as its `parentId` is left out, as aphex_ppc leaves the parent
        -- out: the reasons then explain the same work PPC scores, and a delay a parent repeats
        -- from a subtask is not counted twice.
        and not exists (
            select 1
            from {{ ref('aphex_tasks_current') }} as subtask
            where subtask.parent_task_id = s.task_id
                and subtask.task_id <> s.task_id
        )
)

select
    {{ dbt.concat([
        'project_id', "'|'", dbt.cast('week_start', dbt.type_string()),
        "'|'", 'category', "'|'", 'reason'
    ]) }} as delay_key,
    project_id,
    max(project_name) as project_name,
    week_start,
    category,
    reason,
    count(*) as delays,
    count(distinct task_id) as tasks_delayed,
    sum(value_days) as delay_days
from delays
group by project_id, week_start, category, reason
