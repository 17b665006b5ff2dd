{#- What it holds: int_order_facts_as_of.yml. How: the work grows with the orders, not with orders x as_of dates: a version enters the counts
    at the first as_of it is known and leaves them at the first as_of it is superseded or has
    left the window; running sums over the as_of dates carry it in between. First and last
    order times are running minima and maxima of the versions never superseded within the grid,
    with the few superseded ones (corrections) expanded over the as_of dates they were known.

    Incremental by as_of (macros/incremental_as_of.sql): a build computes the as_of dates from
    the first one its newly loaded rows affect; the running sums start there from the versions
    known then. -#}
{{ as_of_incremental() }}
{%- set inputs = [
    [ref('int_orders_known_as_of'), 'known_from'],
    [ref('int_customers_known_as_of'), 'known_from'],
] %}
with

orders as (
    select * from {{ ref('int_orders_known_as_of') }}
),

spine as (
    select * from {{ ref('int_customer_as_of_spine') }}
    where as_of >= {{ recompute_from(inputs) }}
),

as_of_dates as (
    select distinct as_of from spine
),

bounds as (
    select
        min(as_of) as first_as_of,
        max(as_of) as last_as_of
    from as_of_dates
),

versions as (
    select
        orders.customer_id,
        orders.ordered_at,
        orders.amount,
        greatest({{ next_as_of('orders.known_from') }}, bounds.first_as_of) as enters_at,
        coalesce({{ next_as_of('orders.known_until') }}, cast('9999-01-01' as date))
            as superseded_at,
        bounds.last_as_of
    from orders
    cross join bounds
    where orders.amount > 0
),

spans as (
    select
        customer_id,
        ordered_at,
        amount,
        enters_at,
        superseded_at,
        last_as_of,
        least(superseded_at, {{ next_as_of('cast(ordered_at as date) + 30') }})
            as leaves_30d_at,
        least(superseded_at, {{ next_as_of('cast(ordered_at as date) + 90') }})
            as leaves_90d_at,
        least(superseded_at, {{ next_as_of('cast(ordered_at as date) + 365') }})
            as leaves_365d_at
    from versions
    where enters_at <= last_as_of and superseded_at > enters_at
),

{%- set windows = ['30d', '90d', '365d', 'lifetime'] %}

-- +1 (and the amount) where a version enters a count, at the first as_of it is known; the
-- first and last order times of versions never superseded within the grid ride along
entries as (
    select
        customer_id,
        {%- for w in windows %}
            {%- set leaves = 'superseded_at' if w == 'lifetime' else 'leaves_' ~ w ~ '_at' %}
            sum(case when {{ leaves }} > enters_at then 1 else 0 end) as d_orders_{{ w }},
            sum(case when {{ leaves }} > enters_at then amount else 0 end) as d_amount_{{ w }},
        {%- endfor %}
        min(case when superseded_at > last_as_of then ordered_at end) as first_ordered_at,
        max(case when superseded_at > last_as_of then ordered_at end) as last_ordered_at,
        enters_at as as_of
    from spans
    group by customer_id, enters_at
),

-- -1 (and minus the amount) where it leaves a window, or is superseded
{%- for w in windows %}
    {%- set leaves = 'superseded_at' if w == 'lifetime' else 'leaves_' ~ w ~ '_at' %}

    exits_{{ w }} as (
        select
            customer_id,
            {%- for other in windows %}
                {{ '-count(*)' if other == w else '0' }} as d_orders_{{ other }},
                {{ '-sum(amount)' if other == w else '0' }} as d_amount_{{ other }},
            {%- endfor %}
            cast(null as timestamp) as first_ordered_at,
            cast(null as timestamp) as last_ordered_at,
            {{ leaves }} as as_of
        from spans
        where {{ leaves }} > enters_at and {{ leaves }} <= last_as_of
        group by customer_id, {{ leaves }}
    ),
{%- endfor %}

-- the deltas summed per customer and as_of: at most one row per row of the spine (a version
-- enters at an as_of the customer is known at, and leaves later), so the running sums below run
-- over the spine's rows only
deltas as (
    select
        customer_id,
        as_of,
        {%- for w in windows %}
            sum(d_orders_{{ w }}) as d_orders_{{ w }},
            sum(d_amount_{{ w }}) as d_amount_{{ w }},
        {%- endfor %}
        min(first_ordered_at) as first_ordered_at,
        max(last_ordered_at) as last_ordered_at
    from (
        select * from entries
        {%- for w in windows %}

            union all

            select * from exits_{{ w }}
        {%- endfor %}
    ) as all_deltas
    group by customer_id, as_of
),

-- versions superseded within the grid (corrections): expanded over the as_of dates they were
-- known at, few by nature
passing_times as (
    select
        spans.customer_id,
        as_of_dates.as_of,
        min(spans.ordered_at) as first_ordered_at,
        max(spans.ordered_at) as last_ordered_at
    from spans
    inner join as_of_dates
        on
            spans.enters_at <= as_of_dates.as_of
            and spans.superseded_at > as_of_dates.as_of
    where spans.superseded_at <= spans.last_as_of
    group by spans.customer_id, as_of_dates.as_of
),

{%- set customer_history -%}
    partition by spine.customer_id order by spine.as_of
    rows between unbounded preceding and current row
{%- endset %}

running as (
    select
        spine.customer_id,
        {%- for w in windows %}
            sum(coalesce(deltas.d_orders_{{ w }}, 0)) over ({{ customer_history }})
                as orders_{{ w }},
            sum(coalesce(deltas.d_amount_{{ w }}, 0)) over ({{ customer_history }})
                as amount_{{ w }},
        {%- endfor %}
        spine.as_of,
        min(deltas.first_ordered_at) over ({{ customer_history }}) as lasting_first_ordered_at,
        max(deltas.last_ordered_at) over ({{ customer_history }}) as lasting_last_ordered_at
    from spine
    left join deltas
        on
            spine.customer_id = deltas.customer_id
            and spine.as_of = deltas.as_of
),

final as (
    select
        running.customer_id,
        {%- for w in windows %}
            cast(running.orders_{{ w }} as integer) as orders_{{ w }},
            cast(running.amount_{{ w }} as double) as amount_{{ w }},
        {%- endfor %}
        running.as_of,
        case
            when passing_times.first_ordered_at is null then running.lasting_first_ordered_at
            when running.lasting_first_ordered_at is null then passing_times.first_ordered_at
            else least(running.lasting_first_ordered_at, passing_times.first_ordered_at)
        end as first_ordered_at,
        case
            when passing_times.last_ordered_at is null then running.lasting_last_ordered_at
            when running.lasting_last_ordered_at is null then passing_times.last_ordered_at
            else greatest(running.lasting_last_ordered_at, passing_times.last_ordered_at)
        end as last_ordered_at
    from running
    left join passing_times
        on
            running.customer_id = passing_times.customer_id
            and running.as_of = passing_times.as_of
)

select * from final
