with

source as (
    select * from {{ source('shop', 'orders') }}
    where {{ raw_row_problem('orders') }} is null  -- monitoring.raw_rows_excluded counts the rest
),

final as (
    select
        order_id,
        customer_id,
        channel,
        cast(amount as decimal(18, 2)) as amount,
        ordered_at,
        _available_at,
        _loaded_at,
        _load_id
    from source
)

select * from final
