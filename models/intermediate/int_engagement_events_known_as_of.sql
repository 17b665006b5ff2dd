{#- Engagement events with the day each became known (docs/design.md invariant 1). Events are not
    corrected: each counts from `known_from` on (`known_until` is always null).

    Incremental (a fact): a build appends the events loaded since the last build. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
) }}

with

stg_shop__engagement_events as (
    select * from {{ ref('stg_shop__engagement_events') }}
),

final as (
    select
        event_id,
        customer_id,
        event_type,
        occurred_at,
        _available_at,
        _loaded_at,
        {{ known_from('occurred_at') }} as known_from,
        cast(null as date) as known_until
    from stg_shop__engagement_events
    {% if is_incremental() %}
        {% call volatile_block() %}
        where _loaded_at > (
            select coalesce(max(_loaded_at), cast('1900-01-01' as timestamp)) from {{ this }}
        )
        {% endcall %}
    {% endif %}
)

select * from final
