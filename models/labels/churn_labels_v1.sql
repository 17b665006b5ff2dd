{#- Churn label, version 1: an active customer (an order known at as_of within the 365 days
    before it) is churned when they place no order in the `churn_horizon_days` after as_of. A label exists only once its
    whole horizon lies within the data (as_of + horizon <= data_through). -#}
with

spine as (
    select * from {{ ref('int_customer_as_of_spine') }}
),

stg_shop__orders as (
    select * from {{ ref('stg_shop__orders') }}
),

orders as (
    select
        order_id,
        customer_id,
        amount,
        ordered_at,
        _available_at
    from stg_shop__orders
    qualify row_number() over (partition by order_id order by _available_at desc) = 1
),

active_at_as_of as (
    select distinct
        spine.customer_id,
        spine.as_of
    from spine
    inner join orders
        on
            spine.customer_id = orders.customer_id
            and {{ known_as_of('orders', 'ordered_at', 'spine.as_of') }}
            and orders.ordered_at >= {{ dbt.dateadd('day', -364, 'spine.as_of') }}
            and orders.amount > 0
    where
        {{ dbt.dateadd('day', var('churn_horizon_days'), 'spine.as_of') }}
        <= {{ data_through('stg_shop__orders') }}
),

ordered_in_horizon as (
    select distinct
        active_at_as_of.customer_id,
        active_at_as_of.as_of
    from active_at_as_of
    inner join orders
        on
            active_at_as_of.customer_id = orders.customer_id
            and orders.ordered_at >= {{ dbt.dateadd('day', 1, 'active_at_as_of.as_of') }}
            and orders.ordered_at
            < {{ dbt.dateadd('day', var('churn_horizon_days') + 1, 'active_at_as_of.as_of') }}
            and orders.amount > 0
),

final as (
    select
        active_at_as_of.customer_id,
        active_at_as_of.as_of,
        cast({{ var('churn_horizon_days') }} as integer) as horizon_days,
        ordered_in_horizon.customer_id is null as is_churned
    from active_at_as_of
    left join ordered_in_horizon
        on
            active_at_as_of.customer_id = ordered_in_horizon.customer_id
            and active_at_as_of.as_of = ordered_in_horizon.as_of
)

select * from final
