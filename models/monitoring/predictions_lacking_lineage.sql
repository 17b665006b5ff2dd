{#- Predictions excluded from serving because a lineage field is missing, counted per model. -#}
with

predictions as (
    select * from {{ ref('predictions') }}
),

final as (
    select
        model_name,
        count(*) as n_predictions
    from predictions
    where
        snapshot_id is null
        or feature_version is null
        or model_version is null
        or training_run_id is null
        or git_commit is null
        or invocation_id is null
    group by model_name
)

select * from final
