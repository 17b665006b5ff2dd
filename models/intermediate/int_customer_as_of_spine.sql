{#- One row per customer per as_of date at which the customer was known: an order of theirs or a
    customer row was known by the end of that day. As_of dates are the first days of the months
    from var as_of_start to var as_of_end (checked by `as_of_grid`). -#}
{%- set grid = as_of_grid() %}
with

orders as (
    select * from {{ ref('int_orders_known_as_of') }}
),

customers as (
    select * from {{ ref('int_customers_known_as_of') }}
),

as_of_dates as (
    -- which dates, not how: left out of the definition hash (see volatile)
    {{ volatile(dbt.date_spine('month', grid.start_unmarked, dbt.dateadd('month', 1, grid.end_unmarked))) }}
),

first_known as (
    select
        customer_id,
        min(known_from) as known_from
    from orders
    group by customer_id

    union all

    select
        customer_id,
        min(known_from) as known_from
    from customers
    group by customer_id
),

customer_first_known as (
    select
        customer_id,
        min(known_from) as known_from
    from first_known
    group by customer_id
),

final as (
    select
        customer_first_known.customer_id,
        cast(as_of_dates.date_month as date) as as_of
    from customer_first_known
    cross join as_of_dates
    where customer_first_known.known_from <= cast(as_of_dates.date_month as date)
)

select * from final
