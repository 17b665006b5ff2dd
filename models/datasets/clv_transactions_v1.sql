{#- Transactions for the CLV model (version 1), one row per order in its version known at the
    period end, in two periods: 'calibration' (known at clv_calibration_end) and 'scoring' (known
    at the latest as_of). The holdout's orders are the label side, clv_holdout. $0 orders are
    kept: a free purchase is still a purchase for BG/NBD (the spend model leaves it out). Same-day
    merging and the BTYD measures are the model's (customer_ml.models.clv), not the dataset's.

    Incremental by period (macros/incremental_as_of.sql): a build recomputes a period when its
    period end moved, or when a row loaded since the last build was known by it (a late row or
    a correction dated back); a daily load of new orders changes neither period. -#}
{{ as_of_incremental(unique_key='period') }}
{#- referenced on every build, so dbt sees the dependency the incremental branch has -#}
{%- set states = source('lineage', 'incremental_state') %}
with

orders as (
    select * from {{ ref('int_orders_known_as_of') }}
),

as_of_dates as (
    select distinct as_of from {{ ref('int_customer_as_of_spine') }}
),

period_ends as (
    {%- if var('clv_calibration_end') == 'auto' %}
        select
            'calibration' as period,
            max(as_of) as period_end
        from as_of_dates
        where
            {{ dbt.dateadd('day', var('clv_holdout_days'), 'as_of') }}
            <= {{ data_through(ref('stg_shop__orders')) }}
    {%- else %}
    select
        'calibration' as period,
        cast('{{ var("clv_calibration_end") }}' as date) as period_end
    {%- endif %}

    union all

    select
        'scoring' as period,
        max(as_of) as period_end
    from as_of_dates
),

recomputed as (
    select * from period_ends
    {%- if is_incremental() %}
    {#- all of it volatile, `where` too: a full and an incremental build record one definition -#}
    {% call volatile_block() %}
    where
        {{ incremental_state('loaded_through') }} is null
        {#- the built periods first (two rows): a semi-join on the table itself hashed its
            every row, out of memory at 3M customers #}
        or not exists (
            select 1 from (select distinct period, period_end from {{ this }}) as built
            where built.period = period_ends.period and built.period_end = period_ends.period_end
        )
        or exists (
            select 1 from {{ ref('int_orders_known_as_of') }} as loaded
            where
                loaded._loaded_at > {{ incremental_state('loaded_through') }}
                and loaded.known_from <= period_ends.period_end
        )
    {% endcall %}
    {%- endif %}
),

known as (
    select
        period_ends.period,
        period_ends.period_end,
        orders.order_id,
        orders.customer_id,
        orders.amount,
        orders.ordered_at
    from recomputed as period_ends
    inner join orders
        on {{ is_known_at('orders', 'period_ends.period_end') }}
),

final as (
    select
        period,
        period_end,
        order_id,
        customer_id,
        amount,
        ordered_at,
        cast({{ var('clv_holdout_days') }} as integer) as holdout_days
    from known
)

select * from final
