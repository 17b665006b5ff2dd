{#- The CLV holdout (version 1): the orders placed in the clv_holdout_days after the calibration
    end of clv_transactions, each in its latest known version. What the calibration-period fit
    is measured against; $0 orders kept (a purchase), the spend model leaves them out. -#}
with

orders as (
    select * from {{ ref('int_orders_known_as_of') }}
),

clv_transactions as (
    select * from {{ ref('clv_transactions', v=1) }}
),

calibration as (
    select distinct
        period_end,
        holdout_days
    from clv_transactions
    where period = 'calibration'
),

latest as (
    select
        order_id,
        customer_id,
        amount,
        ordered_at
    from orders
    where known_until is null
),

final as (
    select
        'holdout' as period,
        calibration.period_end,
        latest.order_id,
        latest.customer_id,
        latest.amount,
        latest.ordered_at,
        calibration.holdout_days
    from calibration
    inner join latest
        on
            latest.ordered_at >= {{ dbt.dateadd('day', 1, 'calibration.period_end') }}
            and latest.ordered_at
            < {{ dbt.dateadd('day', 'calibration.holdout_days + 1', 'calibration.period_end') }}
)

select * from final
