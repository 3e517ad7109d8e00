{#- Casts and small helpers both DuckDB and PostgreSQL run unchanged. -#}

{#- A time as the tap writes it (RFC 3339 text, or a timestamp where the target typed it), as a
    timestamp without zone in UTC (the tap's times are all UTC). -#}
{% macro aphex_timestamp(expression) -%}
    cast({{ expression }} as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- The calendar day of a UTC time. -#}
{% macro aphex_date(expression) -%}
    cast({{ aphex_timestamp(expression) }} as date)
{%- endmacro %}

{#- A double-precision number (dbt.type_float() is a 4-byte REAL on DuckDB). -#}
{% macro aphex_double(expression) -%}
    cast({{ expression }} as float8)
{%- endmacro %}

{#- A text member of a JSON object column: `->>` means the same on DuckDB (JSON) and PostgreSQL
    (json/jsonb). Used only where task_events carries a whole task; everything about statuses
    comes flat from the task_statuses stream. -#}
{% macro aphex_json_text(column, key) -%}
    ({{ column }} ->> '{{ key }}')
{%- endmacro %}

{#- Empty text as NULL: target-duckdb writes '' as NULL, target-postgres keeps '', so the models
    make both NULL. -#}
{% macro aphex_text(expression) -%}
    nullif({{ expression }}, '')
{%- endmacro %}
