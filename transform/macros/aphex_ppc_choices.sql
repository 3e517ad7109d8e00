{#- The choices the vendor's PPC definition leaves open, one place each (docs/analytics.md,
    "PPC: what is ASSUMED"). Change a choice here, and `dbt build` re-runs the unit tests that pin
    the vendor's worked examples. -#}

{#- ASSUMED: which status types make a planned day "not done". The vendor: a day with no status
    counts as done, and recording a delay reason on a committed day turns it from completed to
    delayed. So only `delay` fails a day; completed, onSchedule, completedEarly and shortened
    (and no status at all) leave it done. Add 'shortened' here to count a shortened day as not done. -#}
{% macro aphex_ppc_failing_status_types() -%}
    ('delay')
{%- endmacro %}

{#- ASSUMED: a PPC as the vendor shows it, a whole percent rounded DOWN (its worked examples
    show average(100, 50, 50) = 66.67 as "66%"). The exact share is kept beside it. The small
    epsilon keeps e.g. 0.29 * 100 = 28.999... at 29. -#}
{% macro aphex_percent(share) -%}
    cast(floor(100 * ({{ share }}) + 0.000001) as integer)
{%- endmacro %}
