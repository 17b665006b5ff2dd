with

source as (
    select * from {{ source('shop', 'engagement_events') }}
),

final as (
    select
        event_id,
        customer_id,
        event_type,
        occurred_at,
        _available_at,
        _loaded_at,
        _load_id
    from source
)

select * from final
