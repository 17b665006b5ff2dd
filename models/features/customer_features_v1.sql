{#- Point-in-time customer features, version 1. Every fact is filtered by known_as_of (event time
    and _available_at on or before the as_of day); an order counts in its latest version known at
    the as_of, and cancelled orders (corrected to amount 0) do not count. -#}
with

spine as (
    select * from {{ ref('int_customer_as_of_spine') }}
),

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

customers as (
    select * from {{ ref('stg_shop__customers') }}
),

engagement_events as (
    select * from {{ ref('stg_shop__engagement_events') }}
),

orders_known as (
    select
        spine.customer_id,
        spine.as_of,
        orders.order_id,
        orders.amount,
        orders.ordered_at
    from spine
    inner join orders
        on
            spine.customer_id = orders.customer_id
            and {{ known_as_of('orders', 'ordered_at', 'spine.as_of') }}
    qualify row_number() over (
        partition by spine.as_of, orders.order_id order by orders._available_at desc
    ) = 1
),

order_facts as (
    select
        customer_id,
        as_of,
        count(*) filter (
            where ordered_at >= {{ dbt.dateadd('day', -29, 'as_of') }}
        ) as orders_30d,
        count(*) filter (
            where ordered_at >= {{ dbt.dateadd('day', -89, 'as_of') }}
        ) as orders_90d,
        count(*) filter (
            where ordered_at >= {{ dbt.dateadd('day', -364, 'as_of') }}
        ) as orders_365d,
        count(*) as orders_lifetime,
        coalesce(sum(amount) filter (
            where ordered_at >= {{ dbt.dateadd('day', -29, 'as_of') }}
        ), 0) as amount_30d,
        coalesce(sum(amount) filter (
            where ordered_at >= {{ dbt.dateadd('day', -89, 'as_of') }}
        ), 0) as amount_90d,
        coalesce(sum(amount) filter (
            where ordered_at >= {{ dbt.dateadd('day', -364, 'as_of') }}
        ), 0) as amount_365d,
        sum(amount) as amount_lifetime,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at
    from orders_known
    where amount > 0
    group by customer_id, as_of
),

customer_state as (
    select
        spine.customer_id,
        spine.as_of,
        customers.country,
        customers.plan,
        customers.has_marketing_opt_in,
        customers.signup_at
    from spine
    inner join customers
        on
            spine.customer_id = customers.customer_id
            and {{ known_as_of('customers', 'updated_at', 'spine.as_of') }}
    qualify row_number() over (
        partition by spine.customer_id, spine.as_of
        order by customers.updated_at desc, customers._available_at desc
    ) = 1
),

engagement_facts as (
    select
        spine.customer_id,
        spine.as_of,
        count(*) filter (
            where
            engagement_events.event_type = 'session'
            and engagement_events.occurred_at >= {{ dbt.dateadd('day', -29, 'spine.as_of') }}
        ) as sessions_30d,
        count(*) filter (
            where
            engagement_events.event_type = 'session'
            and engagement_events.occurred_at >= {{ dbt.dateadd('day', -89, 'spine.as_of') }}
        ) as sessions_90d,
        count(*) filter (
            where
            engagement_events.event_type = 'support_contact'
            and engagement_events.occurred_at >= {{ dbt.dateadd('day', -89, 'spine.as_of') }}
        ) as support_contacts_90d
    from spine
    inner join engagement_events
        on
            spine.customer_id = engagement_events.customer_id
            and {{ known_as_of('engagement_events', 'occurred_at', 'spine.as_of') }}
            and engagement_events.occurred_at >= {{ dbt.dateadd('day', -89, 'spine.as_of') }}
    group by spine.customer_id, spine.as_of
),

final as (
    select
        spine.customer_id,
        spine.as_of,
        coalesce(customer_state.country, 'unknown') as country,
        coalesce(customer_state.plan, 'unknown') as plan,
        cast(coalesce(order_facts.orders_30d, 0) as integer) as orders_30d,
        cast(coalesce(order_facts.orders_90d, 0) as integer) as orders_90d,
        cast(coalesce(order_facts.orders_365d, 0) as integer) as orders_365d,
        cast(coalesce(order_facts.orders_lifetime, 0) as integer) as orders_lifetime,
        cast(coalesce(order_facts.amount_30d, 0) as double) as amount_30d,
        cast(coalesce(order_facts.amount_90d, 0) as double) as amount_90d,
        cast(coalesce(order_facts.amount_365d, 0) as double) as amount_365d,
        cast(coalesce(order_facts.amount_lifetime, 0) as double) as amount_lifetime,
        cast({{ dbt.datediff(
            'cast(order_facts.last_ordered_at as date)', 'spine.as_of', 'day'
        ) }} as integer) as days_since_last_order,
        cast({{ dbt.datediff(
            'cast(least(coalesce(customer_state.signup_at, order_facts.first_ordered_at),'
            ~ ' coalesce(order_facts.first_ordered_at, customer_state.signup_at)) as date)',
            'spine.as_of',
            'day',
        ) }} as integer) as tenure_days,
        cast(coalesce(engagement_facts.sessions_30d, 0) as integer) as sessions_30d,
        cast(coalesce(engagement_facts.sessions_90d, 0) as integer) as sessions_90d,
        cast(coalesce(engagement_facts.support_contacts_90d, 0) as integer)
            as support_contacts_90d,
        coalesce(customer_state.has_marketing_opt_in, false) as has_marketing_opt_in
    from spine
    left join order_facts
        on
            spine.customer_id = order_facts.customer_id
            and spine.as_of = order_facts.as_of
    left join customer_state
        on
            spine.customer_id = customer_state.customer_id
            and spine.as_of = customer_state.as_of
    left join engagement_facts
        on
            spine.customer_id = engagement_facts.customer_id
            and spine.as_of = engagement_facts.as_of
)

select * from final
