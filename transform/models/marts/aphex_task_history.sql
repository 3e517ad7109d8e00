-- One row per version of each task: each TaskCreated/TaskUpdated event's copy of the task, valid
-- from that event until the task's next event (an update or its deletion); valid_to is null for
-- the version in force now, and for a version whose deletion came without a readable time (the
-- tap keeps such a createdAt in the event's `undocumented`): ended_by_deletion says which.
-- (Events without a time sort last among their task's: a deletion is a task's last event.)
with events as (
    select
        e.*,
        -- Events of one task in the same millisecond (bulk edits share a createdAt) are put in
        -- order by what the tasks table holds: the task's latest event comes last.
        case when e.event_id = t.event_id then 1 else 0 end as is_latest_event
    from {{ ref('stg_aphex__task_events') }} as e
    left join {{ ref('stg_aphex__tasks') }} as t
        on t.task_id = e.task_id
),

ordered as (
    select
        *,
        lead(event_created_at) over (
            partition by task_id order by event_created_at, is_latest_event, event_id
        ) as next_event_at,
        lead(event_id) over (
            partition by task_id order by event_created_at, is_latest_event, event_id
        ) as next_event_id,
        lead(is_deletion) over (
            partition by task_id order by event_created_at, is_latest_event, event_id
        ) as next_is_deletion,
        row_number() over (
            partition by task_id order by event_created_at, is_latest_event, event_id
        ) as event_number
    from events
)

select
    event_id,
    task_id,
    event_number as version_number,
    event_type,
    project_id,
    project_name,
    task_name,
    parent_task_id,
    calendar,
    duration_days,
    start_at,
    end_at,
    subcontractor,
    owner_name,
    event_created_at as valid_from,
    next_event_at as valid_to,
    next_event_id is null as is_current_version,
    coalesce(next_is_deletion, false) as ended_by_deletion
from ordered
where not is_deletion
