{#- Working days by a task's calendar, as plain arithmetic on day numbers (no calendar table).

    Aphex's calendars (`calendar` on each task): Five Day = Monday to Friday, Six Day = Monday to
    Saturday, Seven Day = every day. Their holiday variants and a project's non-working days are
    NOT in the API, so they cannot be applied here (docs/analytics.md). ASSUMED: a calendar whose
    name does not start with "Six Day" or "Seven Day" (a holiday variant of Five Day, an unknown or
    empty one) works Monday to Friday. -#}
{% macro aphex_calendar_days_per_week(calendar) -%}
    (case
        when {{ calendar }} like 'Seven Day%' then 7
        when {{ calendar }} like 'Six Day%' then 6
        else 5
    end)
{%- endmacro %}

{#- Days from Monday 1970-01-05 to `day` (a date): the base of the arithmetic below. -#}
{% macro aphex_day_number(day) -%}
    {{ dbt.datediff("cast('1970-01-05' as date)", day, 'day') }}
{%- endmacro %}

{#- 0 for a Monday ... 6 for a Sunday. -#}
{% macro aphex_weekday(day) -%}
    ({{ aphex_day_number(day) }} - 7 * cast(floor({{ aphex_day_number(day) }} / 7.0) as integer))
{%- endmacro %}

{#- Whether `day` is a working day of a calendar working `per_week` days (Monday first). -#}
{% macro aphex_is_working_day(day, per_week) -%}
    ({{ aphex_weekday(day) }} < {{ per_week }})
{%- endmacro %}

{#- Working days from Monday 1970-01-05 up to, not including, `day`: whole weeks times
    `per_week`, plus the working days of the last part-week. -#}
{% macro aphex_working_days_before(day, per_week) -%}
    (cast(floor({{ aphex_day_number(day) }} / 7.0) as integer) * {{ per_week }}
     + least({{ aphex_weekday(day) }}, {{ per_week }}))
{%- endmacro %}

{#- Working days in [from_day, to_day): 0 when to_day <= from_day. -#}
{% macro aphex_working_days_between(from_day, to_day, per_week) -%}
    greatest(
        {{ aphex_working_days_before(to_day, per_week) }}
        - {{ aphex_working_days_before(from_day, per_week) }},
        0
    )
{%- endmacro %}

{#- Signed working days from `from_day` to `to_day` (negative when `to_day` is earlier): how far
    a date moved, in the working days of the task's calendar. -#}
{% macro aphex_working_days_shift(from_day, to_day, per_week) -%}
    ({{ aphex_working_days_before(to_day, per_week) }}
     - {{ aphex_working_days_before(from_day, per_week) }})
{%- endmacro %}

{#- Monday of the ISO week holding `day` (a date). -#}
{% macro aphex_week_start(day) -%}
    cast({{ dbt.date_trunc('week', day) }} as date)
{%- endmacro %}
