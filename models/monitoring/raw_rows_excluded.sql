{#- Raw rows staging leaves out, per table and problem (macros/raw_rules.sql). -#}

with

problems as (
    select
        'orders' as table_name,
        _load_id,
        {{ raw_row_problem('orders') }} as problem
    from {{ source('shop', 'orders') }}
    union all
    select
        'customers' as table_name,
        _load_id,
        {{ raw_row_problem('customers') }} as problem
    from {{ source('shop', 'customers') }}
    union all
    select
        'engagement_events' as table_name,
        _load_id,
        {{ raw_row_problem('engagement_events') }} as problem
    from {{ source('shop', 'engagement_events') }}
    union all
    select
        'business_events' as table_name,
        _load_id,
        {{ raw_row_problem('business_events') }} as problem
    from {{ source('shop', 'business_events') }}
),

final as (
    select
        table_name,
        problem,
        count(*) as n_rows,
        string_agg(distinct _load_id, ', ' order by _load_id) as load_ids
    from problems
    where problem is not null
    group by table_name, problem
)

select * from final
