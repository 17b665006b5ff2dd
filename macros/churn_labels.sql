{#- Churn labels for active customers: those with an order known at as_of within the 365 days
    before it (orders_365d of int_order_facts_as_of, so the order counts in its version known at
    as_of). Churned = no order in the `horizon_days` after as_of, by the orders as known now. A
    label exists only once the whole horizon lies within the data (as_of + horizon <=
    data_through).

    Work grows with the orders, not orders x as_of dates: an order placed on day d shows "ordered
    in the horizon" for the as_of dates in [d - horizon, d), carried by running sums like the
    features (and a support contact, for the as_of dates it is recent and known at).

    Arguments:
        horizon_days (integer): days after as_of in which an order means "not churned"
        exclude_support_days (integer or none): leave out customers with a support contact known
            in this many days up to as_of (being handled by support); none keeps everyone
-#}
{% macro churn_labels(horizon_days, exclude_support_days=none) -%}
{{ as_of_incremental() }}
{#- A row loaded since the last build affects labels from the day it became known (the active
    set) or, for an order, from `horizon_days` before it was placed (the horizon). -#}
{%- set inputs = [
    [ref('int_orders_known_as_of'),
        'least(known_from, ' ~ dbt.dateadd('day', -horizon_days, 'cast(ordered_at as date)') ~ ')'],
    [ref('int_customers_known_as_of'), 'known_from'],
    [ref('int_engagement_events_known_as_of'), 'known_from'],
] %}
{%- set horizon_observed -%}
    {{ dbt.dateadd('day', horizon_days, 'spine.as_of') }} <= {{ data_through(ref('stg_shop__orders')) }}
{%- endset %}
with

spine as (
    select * from {{ ref('int_customer_as_of_spine') }}
    where as_of >= {{ recompute_from(inputs, missing_where=horizon_observed) }}
),

order_facts as (
    select * from {{ ref('int_order_facts_as_of') }}
),

orders as (
    select * from {{ ref('int_orders_known_as_of') }}
),

events as (
    select * from {{ ref('int_engagement_events_known_as_of') }}
),

customer_bounds as (
    select
        customer_id,
        min(as_of) as first_as_of,
        max(as_of) as last_as_of
    from spine
    group by customer_id
),

-- the as_of dates each order (latest version, a purchase) shows an order in the horizon after
rescues as (
    select
        orders.customer_id,
        greatest(
            {{ next_as_of(dbt.dateadd('day', -horizon_days, 'cast(orders.ordered_at as date)')) }},
            customer_bounds.first_as_of
        ) as starts_at,
        {{ next_as_of('cast(orders.ordered_at as date)') }} as ends_at,
        customer_bounds.last_as_of
    from orders
    inner join customer_bounds on orders.customer_id = customer_bounds.customer_id
    where orders.known_until is null and orders.amount > 0
),

-- the as_of dates each support contact is known at and within exclude_support_days before
supports as (
    select
        events.customer_id,
        greatest({{ next_as_of('events.known_from') }}, customer_bounds.first_as_of) as starts_at,
        {{ next_as_of(dbt.dateadd(
            'day', exclude_support_days or 0, 'cast(events.occurred_at as date)')) }} as ends_at,
        customer_bounds.last_as_of
    from events
    inner join customer_bounds on events.customer_id = customer_bounds.customer_id
    where
        events.event_type = 'support_contact'
        and {{ 'true' if exclude_support_days else 'false' }}
),

-- the spine's rows and the deltas in one stream per customer, deltas first at each as_of
stream as (
    select customer_id, starts_at as as_of, 0 as is_spine, 1 as d_rescues, 0 as d_supports
    from rescues where ends_at > starts_at and starts_at <= last_as_of
    union all
    select customer_id, ends_at as as_of, 0 as is_spine, -1 as d_rescues, 0 as d_supports
    from rescues where ends_at > starts_at and ends_at <= last_as_of
    union all
    select customer_id, starts_at as as_of, 0 as is_spine, 0 as d_rescues, 1 as d_supports
    from supports where ends_at > starts_at and starts_at <= last_as_of
    union all
    select customer_id, ends_at as as_of, 0 as is_spine, 0 as d_rescues, -1 as d_supports
    from supports where ends_at > starts_at and ends_at <= last_as_of
    union all
    select customer_id, as_of, 1 as is_spine, 0 as d_rescues, 0 as d_supports
    from spine
),

running_all as (
    select
        customer_id,
        as_of,
        is_spine,
        sum(d_rescues) over (
            partition by customer_id order by as_of, is_spine
            rows between unbounded preceding and current row
        ) as orders_in_horizon,
        sum(d_supports) over (
            partition by customer_id order by as_of, is_spine
            rows between unbounded preceding and current row
        ) as recent_support_contacts
    from stream
),

running as (
    select * from running_all where is_spine = 1
),

final as (
    select
        order_facts.customer_id,
        order_facts.as_of,
        cast({{ horizon_days }} as integer) as horizon_days,
        running.orders_in_horizon = 0 as is_churned
    from order_facts
    inner join running
        on
            order_facts.customer_id = running.customer_id
            and order_facts.as_of = running.as_of
    where
        order_facts.orders_365d > 0
        and running.recent_support_contacts = 0
        and {{ dbt.dateadd('day', horizon_days, 'order_facts.as_of') }}
        <= {{ data_through(ref('stg_shop__orders')) }}
)

select * from final
{%- endmacro %}
