{#- Transactions for the CLV model (version 1), one row per order in its version known at the
    period end, in two periods: 'calibration' (known at clv_calibration_end) and 'scoring' (known
    at the latest as_of). The holdout's orders are the label side, clv_holdout. $0 orders are
    kept: a free purchase is still a purchase for BG/NBD (the spend model leaves it out). Same-day
    merging and the BTYD measures are the model's (customer_ml.clv), not the dataset's. -#}
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

known as (
    select
        period_ends.period,
        period_ends.period_end,
        orders.order_id,
        orders.customer_id,
        orders.amount,
        orders.ordered_at
    from period_ends
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
