{#- One row per customer per as_of date at which the customer was known (a customer row or an
    order of theirs was known by the end of that day). -#}
with

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

customers as (
    select * from {{ ref('stg_shop__customers') }}
),

as_of_dates as (
    {{ dbt.date_spine(
        'month',
        "cast('" ~ var('as_of_start') ~ "' as date)",
        dbt.dateadd('month', 1, "cast('" ~ var('as_of_end') ~ "' as date)"),
    ) }}
),

first_known as (
    select
        customer_id,
        min(greatest(ordered_at, _available_at)) as known_at
    from orders
    group by customer_id

    union all

    select
        customer_id,
        min(greatest(updated_at, _available_at)) as known_at
    from customers
    group by customer_id
),

customer_first_known as (
    select
        customer_id,
        min(known_at) as known_at
    from first_known
    group by customer_id
),

final as (
    select
        customer_first_known.customer_id,
        cast(as_of_dates.date_month as date) as as_of
    from customer_first_known
    cross join as_of_dates
    where customer_first_known.known_at < {{ dbt.dateadd('day', 1, 'as_of_dates.date_month') }}
)

select * from final
