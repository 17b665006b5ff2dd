with

source as (
    select * from {{ source('shop', 'customers') }}
),

final as (
    select
        customer_id,
        country,
        plan,
        marketing_opt_in as has_marketing_opt_in,
        signup_at,
        updated_at,
        _available_at,
        _loaded_at,
        _load_id
    from source
)

select * from final
