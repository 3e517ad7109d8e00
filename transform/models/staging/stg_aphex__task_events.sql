-- The task log, typed: one row per event, with the task fields the history needs lifted out of
-- the event's task (a TaskDeleted event carries only the id).
select
    "eventId" as event_id,
    "type" as event_type,
    "apiVersion" as api_version,
    {{ aphex_timestamp('"createdAt"') }} as event_created_at,
    {{ aphex_json_text('task', 'id') }} as task_id,
    {{ aphex_text(aphex_json_text('task', 'projectId')) }} as project_id,
    {{ aphex_text(aphex_json_text('task', 'projectName')) }} as project_name,
    {{ aphex_text(aphex_json_text('task', 'name')) }} as task_name,
    {{ aphex_text(aphex_json_text('task', 'parentId')) }} as parent_task_id,
    {{ aphex_text(aphex_json_text('task', 'calendar')) }} as calendar,
    {{ aphex_double(aphex_json_text('task', 'duration')) }} as duration_days,
    {{ aphex_timestamp(aphex_json_text('task', 'start')) }} as start_at,
    {{ aphex_timestamp(aphex_json_text('task', 'end')) }} as end_at,
    {{ aphex_text(aphex_json_text('task', 'subcontractor')) }} as subcontractor,
    {{ aphex_text(aphex_json_text('task', 'ownerName')) }} as owner_name,
    "type" = 'TaskDeleted' as is_deletion
from {{ source('aphex', 'task_events') }}
