{#- Point-in-time customer features, version 1: per customer and as_of, the order facts and
    engagement facts known then (int_order_facts_as_of, int_engagement_facts_as_of: an order
    counts in its version known at the as_of, cancelled orders do not count) and the customer's
    attributes valid then (int_customers_known_as_of). The point-in-time rule lives in those
    relations (macros in known_as_of.sql), not here. Incremental by as_of
    (macros/incremental_as_of.sql). -#}
{{ as_of_incremental() }}
{%- set inputs = [
    [ref('int_orders_known_as_of'), 'known_from'],
    [ref('int_customers_known_as_of'), 'known_from'],
    [ref('int_engagement_events_known_as_of'), 'known_from'],
] %}
with

spine as (
    select * from {{ ref('int_customer_as_of_spine') }}
    where as_of >= {{ recompute_from(inputs) }}
),

order_facts as (
    select * from {{ ref('int_order_facts_as_of') }}
),

engagement_facts as (
    select * from {{ ref('int_engagement_facts_as_of') }}
),

customers as (
    select * from {{ ref('int_customers_known_as_of') }}
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
            and {{ is_known_at('customers', 'spine.as_of') }}
),

final as (
    select
        spine.customer_id,
        spine.as_of,
        coalesce(customer_state.country, 'unknown') as country,
        coalesce(customer_state.plan, 'unknown') as plan,
        order_facts.orders_30d,
        order_facts.orders_90d,
        order_facts.orders_365d,
        order_facts.orders_lifetime,
        order_facts.amount_30d,
        order_facts.amount_90d,
        order_facts.amount_365d,
        order_facts.amount_lifetime,
        cast({{ dbt.datediff(
            'cast(order_facts.last_ordered_at as date)', 'spine.as_of', 'day'
        ) }} as integer) as days_since_last_order,
        cast({{ dbt.datediff(
            'cast(least(coalesce(customer_state.signup_at, order_facts.first_ordered_at),'
            ~ ' coalesce(order_facts.first_ordered_at, customer_state.signup_at)) as date)',
            'spine.as_of',
            'day',
        ) }} as integer) as tenure_days,
        engagement_facts.sessions_30d,
        engagement_facts.sessions_90d,
        engagement_facts.support_contacts_90d,
        coalesce(customer_state.has_marketing_opt_in, false) as has_marketing_opt_in
    from spine
    inner join order_facts
        on
            spine.customer_id = order_facts.customer_id
            and spine.as_of = order_facts.as_of
    inner join engagement_facts
        on
            spine.customer_id = engagement_facts.customer_id
            and spine.as_of = engagement_facts.as_of
    left join customer_state
        on
            spine.customer_id = customer_state.customer_id
            and spine.as_of = customer_state.as_of
)

select * from final
