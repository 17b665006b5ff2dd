{#- Point-in-time customer features, version 2: everything in version 1 plus engagement-trend and
    basket features, all derived from v1's point-in-time columns (so the cutoff rule is the same
    by construction). Incremental by as_of, recomputing the as_of dates version 1 does. -#}
{{ as_of_incremental() }}
{%- set inputs = [
    [ref('int_orders_known_as_of'), 'known_from'],
    [ref('int_customers_known_as_of'), 'known_from'],
    [ref('int_engagement_events_known_as_of'), 'known_from'],
] %}
with

features_v1 as (
    select * from {{ ref('customer_features', v=1) }}
    where as_of >= {{ recompute_from(inputs) }}
),

final as (
    select
        customer_id,
        as_of,
        country,
        plan,
        orders_30d,
        orders_90d,
        orders_365d,
        orders_lifetime,
        amount_30d,
        amount_90d,
        amount_365d,
        amount_lifetime,
        days_since_last_order,
        tenure_days,
        sessions_30d,
        sessions_90d,
        support_contacts_90d,
        -- sessions in the last 30 days against the 90-day monthly average: < 1 means fading
        cast(case
            when sessions_90d = 0 then null
            else sessions_30d / (sessions_90d / 3.0)
        end as double) as sessions_trend_30d_90d,
        cast(case
            when orders_90d = 0 then null
            else orders_30d / (orders_90d / 3.0)
        end as double) as orders_trend_30d_90d,
        cast(case
            when orders_90d = 0 then null
            else amount_90d / orders_90d
        end as double) as avg_basket_90d,
        cast(case
            when orders_lifetime = 0 then null
            else amount_lifetime / orders_lifetime
        end as double) as avg_basket_lifetime,
        cast(case
            when orders_lifetime < 2 then null
            else (tenure_days - days_since_last_order) / (orders_lifetime - 1.0)
        end as double) as avg_days_between_orders,
        has_marketing_opt_in
    from features_v1
)

select * from final
