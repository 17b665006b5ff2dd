{#- The serving interface: the current prediction per customer per model, with full lineage.
    Rows lacking any lineage field are excluded here (and counted in
    monitoring.predictions_lacking_lineage). -#}
with

predictions as (
    select * from {{ ref('predictions') }}
),

with_lineage as (
    select * from predictions
    where
        snapshot_id is not null
        and feature_version is not null
        and model_version is not null
        and training_run_id is not null
        and git_commit is not null
        and invocation_id is not null
),

final as (
    select
        customer_id,
        model_name,
        model_kind,
        model_version,
        training_run_id,
        snapshot_id,
        git_commit,
        invocation_id,
        prediction_id,
        feature_version,
        score,
        as_of,
        scored_at
    from with_lineage
    qualify row_number() over (
        partition by customer_id, model_name order by as_of desc, scored_at desc, prediction_id asc
    ) = 1
)

select * from final
