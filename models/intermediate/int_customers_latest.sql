{#- The current state of each customer as loaded: the source the customers snapshot tracks. The
    latest row of the change log is the one no later row supersedes (int_customers_known_as_of). -#}
with

customers as (
    select * from {{ ref('int_customers_known_as_of') }}
),

final as (
    select
        customer_id,
        country,
        plan,
        has_marketing_opt_in,
        signup_at,
        updated_at,
        _loaded_at
    from customers
    where known_until is null
)

select * from final
