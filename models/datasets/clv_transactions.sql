{#- Transactions for the CLV model, one row per order in its version known at the period end, in
    three periods: 'calibration' (known at clv_calibration_end), 'holdout' (placed in the
    clv_holdout_days after it, as known now) and 'scoring' (known at the latest as_of). Same-day
    merging and the BTYD measures are the model's (customer_ml.clv), not the dataset's. -#}
with

stg_shop__orders as (
    select * from {{ ref('stg_shop__orders') }}
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
            <= {{ data_through('stg_shop__orders') }}
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

known as (
    select
        period_ends.period,
        period_ends.period_end,
        orders.order_id,
        orders.customer_id,
        orders.amount,
        orders.ordered_at
    from period_ends
    inner join stg_shop__orders as orders
        on {{ known_as_of('orders', 'ordered_at', 'period_ends.period_end') }}
    qualify row_number() over (
        partition by period_ends.period, orders.order_id order by orders._available_at desc
    ) = 1
),

latest as (
    select
        order_id,
        customer_id,
        amount,
        ordered_at
    from stg_shop__orders
    qualify row_number() over (partition by order_id order by _available_at desc) = 1
),

holdout as (
    select
        'holdout' as period,
        period_ends.period_end,
        latest.order_id,
        latest.customer_id,
        latest.amount,
        latest.ordered_at
    from period_ends
    inner join latest
        on
            latest.ordered_at >= {{ dbt.dateadd('day', 1, 'period_ends.period_end') }}
            and latest.ordered_at
            < {{ dbt.dateadd('day', var('clv_holdout_days') + 1, 'period_ends.period_end') }}
    where period_ends.period = 'calibration'
),

final as (
    select
        *,
        cast({{ var('clv_holdout_days') }} as integer) as holdout_days
    from known
    where amount > 0
    union all
    select
        *,
        cast({{ var('clv_holdout_days') }} as integer) as holdout_days
    from holdout
    where amount > 0
)

select * from final
