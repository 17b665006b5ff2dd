with

churn_training_runs as (
    select * from {{ ref('ml_churn__train') }}
),

final as (
    select * from churn_training_runs
)

select * from final
