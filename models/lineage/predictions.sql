{#- Every model's predictions; `union all by name` for the reason given in training_runs. -#}
with

churn_predictions as (
    select * from {{ ref('ml_churn__score') }}
),

clv_predictions as (
    select * from {{ ref('ml_clv__score') }}
),

segments_predictions as (
    select * from {{ ref('ml_segments__score') }}
),

all_predictions as (
    select * from churn_predictions
    union all by name
    select * from clv_predictions
    union all by name
    select * from segments_predictions
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
        score_label,
        cast(as_of as date) as as_of,
        scored_at,
        input_hash
    from all_predictions
)

select * from final
