{#- Churn training data: features v1 joined with labels v1, both pinned. -#}
with

features as (
    select * from {{ ref('customer_features', v=1) }}
),

labels as (
    select * from {{ ref('churn_labels', v=1) }}
),

final as (
    select
        features.*,
        labels.horizon_days,
        labels.is_churned,
        cast(1 as integer) as feature_version,
        cast(1 as integer) as label_version
    from features
    inner join labels
        on
            features.customer_id = labels.customer_id
            and features.as_of = labels.as_of
)

select * from final
