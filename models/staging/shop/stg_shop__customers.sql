with

source as (
    select * from {{ source('shop', 'customers') }}
    where {{ raw_row_problem('customers') }} is null  -- monitoring.raw_rows_excluded counts the rest
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
