{#- Churn labels for active customers: those with an order known at as_of within the 365 days
    before it. Churned = no order in the `horizon_days` after as_of. A label exists only once
    the whole horizon lies within the data (as_of + horizon <= data_through).

    Arguments:
        horizon_days (integer): days after as_of in which an order means "not churned"
        exclude_support_days (integer or none): leave out customers with a support contact known
            in this many days up to as_of (being handled by support); none keeps everyone
-#}
{% macro churn_labels(horizon_days, exclude_support_days=none) -%}
with

spine as (
    select * from {{ ref('int_customer_as_of_spine') }}
),

stg_shop__orders as (
    select * from {{ ref('stg_shop__orders') }}
),

engagement_events as (
    select * from {{ ref('stg_shop__engagement_events') }}
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
        {{ dbt.dateadd('day', horizon_days, 'spine.as_of') }}
        <= {{ data_through('stg_shop__orders') }}
),

in_support as (
    select distinct
        active_at_as_of.customer_id,
        active_at_as_of.as_of
    from active_at_as_of
    inner join engagement_events
        on
            active_at_as_of.customer_id = engagement_events.customer_id
            and engagement_events.event_type = 'support_contact'
            and {{ known_as_of('engagement_events', 'occurred_at', 'active_at_as_of.as_of') }}
            and engagement_events.occurred_at
            >= {{ dbt.dateadd('day', -((exclude_support_days or 0) - 1), 'active_at_as_of.as_of') }}
    where {{ 'true' if exclude_support_days else 'false' }}
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
            < {{ dbt.dateadd('day', horizon_days + 1, 'active_at_as_of.as_of') }}
            and orders.amount > 0
),

final as (
    select
        active_at_as_of.customer_id,
        active_at_as_of.as_of,
        cast({{ horizon_days }} as integer) as horizon_days,
        ordered_in_horizon.customer_id is null as is_churned
    from active_at_as_of
    left join ordered_in_horizon
        on
            active_at_as_of.customer_id = ordered_in_horizon.customer_id
            and active_at_as_of.as_of = ordered_in_horizon.as_of
    left join in_support
        on
            active_at_as_of.customer_id = in_support.customer_id
            and active_at_as_of.as_of = in_support.as_of
    where in_support.customer_id is null
)

select * from final
{%- endmacro %}
