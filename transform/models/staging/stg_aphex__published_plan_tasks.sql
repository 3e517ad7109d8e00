-- The tasks of each published version, typed; keyed by version and row number.
select
    "accountId" as account_id,
    "publishedPlanId" as published_plan_id,
    cast("rowNumber" as integer) as plan_row_number,
    cast("version" as integer) as version,
    {{ aphex_timestamp('"publishedAt"') }} as published_at,
    "taskId" as task_id,
    {{ aphex_text('"name"') }} as task_name,
    {{ aphex_timestamp('"start"') }} as start_at,
    {{ aphex_timestamp('"end"') }} as end_at,
    {{ aphex_double('"duration"') }} as duration_days,
    {{ aphex_text('"shift"') }} as shift,
    {{ aphex_text('"ownerName"') }} as owner_name,
    {{ aphex_text('"subcontractor"') }} as subcontractor,
    {{ aphex_text('"wbsPath"') }} as wbs_path,
    {{ aphex_text('"packageCode"') }} as package_code,
    "keyTask" as is_key_task,
    {{ aphex_text('"status"') }} as status
from {{ source('aphex', 'published_plan_tasks') }}
