with

source as (
    select * from {{ source('shop', 'orders') }}
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
