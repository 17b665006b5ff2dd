with

churn_predictions as (
    select * from {{ ref('ml_churn__score') }}
),

final as (
    select
        prediction_id,
        model_name,
        model_kind,
        model_version,
        training_run_id,
        snapshot_id,
        git_commit,
        invocation_id,
        customer_id,
        feature_version,
        score,
        cast(as_of as date) as as_of,
        scored_at
    from churn_predictions
)

select * from final
