-- Each status of each task once, typed. is_current: the status is on the task's latest copy
-- (its eventId is the task's) and the task is not deleted; a status that disappeared from a later
-- copy keeps its older eventId and so is not current.
select
    s."taskId" as task_id,
    s."statusKey" as status_key,
    {{ aphex_text('s."projectId"') }} as project_id,
    {{ aphex_date('s."date"') }} as status_date,
    s."type" as status_type,
    {{ aphex_text('s."name"') }} as status_name,
    {{ aphex_text('s."category"') }} as category,
    {{ aphex_double('s."value"') }} as value_days,
    {{ aphex_text('s."addedBy"') }} as added_by,
    {{ aphex_timestamp('s."createdAt"') }} as created_at,
    s."eventId" as event_id,
    {{ aphex_timestamp('s."eventCreatedAt"') }} as event_created_at,
    coalesce(t."eventId" = s."eventId" and t."_sdc_deleted_at" is null, false) as is_current
from {{ source('aphex', 'task_statuses') }} as s
left join {{ source('aphex', 'tasks') }} as t
    on t."id" = s."taskId"
