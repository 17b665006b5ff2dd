{#- Engagement facts of every customer at every as_of of the spine, from the events known then
    (int_engagement_events_known_as_of): sessions over the 30 and 90 days up to as_of, support
    contacts over the 90 days. Work grows with the events, not events x as_of dates: an event
    enters the counts at the first as_of it is known and leaves at the first as_of it is out of
    the window; running sums carry it in between. Incremental by as_of (see
    int_order_facts_as_of). -#}
{{ as_of_incremental() }}
{%- set inputs = [
    [ref('int_engagement_events_known_as_of'), 'known_from'],
    [ref('int_orders_known_as_of'), 'known_from'],
    [ref('int_customers_known_as_of'), 'known_from'],
] %}
with

events as (
    select * from {{ ref('int_engagement_events_known_as_of') }}
),

spine as (
    select * from {{ ref('int_customer_as_of_spine') }}
    where as_of >= {{ recompute_from(inputs) }}
),

-- an event can be known before its customer is (an order or a customer row): it counts from
-- the customer's first as_of on
customer_bounds as (
    select
        customer_id,
        min(as_of) as first_as_of,
        max(as_of) as last_as_of
    from spine
    group by customer_id
),

spans as (
    select
        events.customer_id,
        events.event_type = 'session' as is_session,
        customer_bounds.last_as_of,
        greatest({{ next_as_of('events.known_from') }}, customer_bounds.first_as_of) as enters_at,
        {{ next_as_of('cast(events.occurred_at as date) + 30') }}
            as leaves_30d_at,
        {{ next_as_of('cast(events.occurred_at as date) + 90') }}
            as leaves_90d_at
    from events
    inner join customer_bounds on events.customer_id = customer_bounds.customer_id
    where events.event_type in ('session', 'support_contact')
),

counted as (
    select * from spans
    where enters_at <= last_as_of and leaves_90d_at > enters_at
),

-- +1 where an event enters a count, -1 where it leaves it
changes as (
    select
        customer_id,
        case when is_session and leaves_30d_at > enters_at then 1 else 0 end as d_sessions_30d,
        case when is_session then 1 else 0 end as d_sessions_90d,
        case when not is_session then 1 else 0 end as d_support_contacts_90d,
        enters_at as as_of
    from counted

    union all

    select
        customer_id,
        -1 as d_sessions_30d,
        0 as d_sessions_90d,
        0 as d_support_contacts_90d,
        leaves_30d_at as as_of
    from counted
    where is_session and leaves_30d_at > enters_at and leaves_30d_at <= last_as_of

    union all

    select
        customer_id,
        0 as d_sessions_30d,
        case when is_session then -1 else 0 end as d_sessions_90d,
        case when not is_session then -1 else 0 end as d_support_contacts_90d,
        leaves_90d_at as as_of
    from counted
    where leaves_90d_at <= last_as_of
),

-- summed per customer and as_of (a hash aggregate), so the running sums sort a row per customer
-- and as_of rather than one per event; the spine's rows (is_spine = 1) come after the deltas of
-- their as_of, so running sums give each the counts known then
stream as (
    select
        customer_id,
        sum(d_sessions_30d) as d_sessions_30d,
        sum(d_sessions_90d) as d_sessions_90d,
        sum(d_support_contacts_90d) as d_support_contacts_90d,
        0 as is_spine,
        as_of
    from changes
    group by customer_id, as_of

    union all

    select
        customer_id,
        0 as d_sessions_30d,
        0 as d_sessions_90d,
        0 as d_support_contacts_90d,
        1 as is_spine,
        as_of
    from spine
),

{%- set customer_history -%}
    partition by customer_id order by as_of, is_spine
    rows between unbounded preceding and current row
{%- endset %}

running as (
    select
        customer_id,
        is_spine,
        as_of,
        sum(d_sessions_30d) over ({{ customer_history }}) as sessions_30d,
        sum(d_sessions_90d) over ({{ customer_history }}) as sessions_90d,
        sum(d_support_contacts_90d) over ({{ customer_history }}) as support_contacts_90d
    from stream
),

final as (
    select
        customer_id,
        cast(sessions_30d as integer) as sessions_30d,
        cast(sessions_90d as integer) as sessions_90d,
        cast(support_contacts_90d as integer) as support_contacts_90d,
        as_of
    from running
    where is_spine = 1
)

select * from final
