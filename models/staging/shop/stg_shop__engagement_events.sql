with

source as (
    select * from {{ source('shop', 'engagement_events') }}
    where {{ raw_row_problem('engagement_events') }} is null  -- monitoring.raw_rows_excluded counts the rest
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
