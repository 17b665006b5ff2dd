with

source as (
    select * from {{ source('shop', 'business_events') }}
    where {{ raw_row_problem('business_events') }} is null  -- monitoring.raw_rows_excluded counts the rest
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
