with

source as (
    select * from {{ source('shop', 'orders') }}
),

final as (
    select
        order_id,
        customer_id,
        channel,
        amount,
        ordered_at,
        _available_at,
        _loaded_at,
        _load_id
    from source
)

select * from final
