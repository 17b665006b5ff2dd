{#- Every model's training runs. `union all by name` because incremental tables gain columns
    over time (on_schema_change: append_new_columns) in an order that may differ per model. -#}
with

churn_training_runs as (
    select * from {{ ref('ml_churn__train') }}
),

clv_training_runs as (
    select * from {{ ref('ml_clv__train') }}
),

segments_training_runs as (
    select * from {{ ref('ml_segments__train') }}
),

final as (
    select * from churn_training_runs
    union all by name
    select * from clv_training_runs
    union all by name
    select * from segments_training_runs
)

select * from final
