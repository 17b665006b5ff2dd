{#- The current state of each customer as loaded: the source the customers snapshot tracks. -#}
with

customers as (
    select * from {{ ref('stg_shop__customers') }}
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
    qualify row_number() over (
        partition by customer_id order by updated_at desc, _available_at desc
    ) = 1
)

select * from final
