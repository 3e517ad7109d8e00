{#- A key of several columns is unique: no two rows share all of `columns`. (dbt_utils has one
    like it; this project depends on no package, so that it installs without dbt Hub.) -#}
{% test aphex_unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as rows_with_this_key
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
