{#- Raw rows staging leaves out, per table and problem (macros/raw_rules.sql). -#}
{% set tables = ['orders', 'customers', 'engagement_events', 'business_events'] %}

with

{% for table in tables %}
{{ table }}_problems as (
    select
        '{{ table }}' as table_name,
        {{ raw_row_problem(table) }} as problem,
        _load_id
    from {{ source('shop', table) }}
),
{% endfor %}

problems as (
    {% for table in tables %}
    select * from {{ table }}_problems where problem is not null
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (
    select
        table_name,
        problem,
        count(*) as n_rows,
        string_agg(distinct _load_id, ', ' order by _load_id) as load_ids
    from problems
    group by table_name, problem
)

select * from final
