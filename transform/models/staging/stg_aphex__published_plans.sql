-- One row per published version of a project's plan, typed.
select
    "accountId" as account_id,
    "publishedPlanId" as published_plan_id,
    cast("version" as integer) as version,
    {{ aphex_text('"name"') }} as version_name,
    {{ aphex_timestamp('"publishedAt"') }} as published_at,
    {{ aphex_text('"publishedBy"') }} as published_by,
    {{ aphex_text('"comment"') }} as comment,
    {{ aphex_text(aphex_json_text('"project"', 'name')) }} as project_name
from {{ source('aphex', 'published_plans') }}
