-- The tasks that exist now: the latest copy of each task, deleted tasks left out.
select
    task_id,
    project_id,
    project_name,
    project_external_id,
    task_name,
    external_id,
    parent_task_id,
    package_id,
    calendar,
    duration_days,
    start_at,
    end_at,
    shift,
    location,
    wbs_path,
    subcontractor,
    owner_name,
    owner_email,
    event_id,
    event_type,
    event_created_at
from {{ ref('stg_aphex__tasks') }}
where not is_deleted
