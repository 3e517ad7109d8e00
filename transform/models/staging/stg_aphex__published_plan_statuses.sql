-- The statuses of each published version, typed; keyed by version and row number.
select
    "accountId" as account_id,
    "publishedPlanId" as published_plan_id,
    cast("rowNumber" as integer) as plan_row_number,
    cast("version" as integer) as version,
    {{ aphex_timestamp('"publishedAt"') }} as published_at,
    "taskId" as task_id,
    {{ aphex_date('"date"') }} as status_date,
    "type" as status_type,
    {{ aphex_text('"name"') }} as status_name,
    {{ aphex_text('"category"') }} as category,
    {{ aphex_double('"value"') }} as value_days,
    {{ aphex_text('"addedBy"') }} as added_by,
    {{ aphex_timestamp('"createdAt"') }} as created_at
from {{ source('aphex', 'published_plan_statuses') }}
