with

source as (
    select * from {{ source('shop', 'business_events') }}
),

final as (
    select
        event_id,
        event_type,
        name as event_name,
        affected_models,
        starts_at,
        ends_at,
        _available_at,
        _loaded_at,
        _load_id
    from source
)

select * from final
