{#- Churn training data: customer features joined with churn labels, both at the versions pinned
    by vars churn_feature_version and churn_label_version (never "latest"). -#}
with

features as (
    select * from {{ ref('customer_features', v=var('churn_feature_version')) }}
),

labels as (
    select * from {{ ref('churn_labels', v=var('churn_label_version')) }}
),

final as (
    select
        features.*,
        labels.horizon_days,
        labels.is_churned,
        cast({{ var('churn_feature_version') }} as integer) as feature_version,
        cast({{ var('churn_label_version') }} as integer) as label_version
    from features
    inner join labels
        on
            features.customer_id = labels.customer_id
            and features.as_of = labels.as_of
)

select * from final
