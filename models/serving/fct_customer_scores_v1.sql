{#- The serving interface: the current prediction per customer per model, with full lineage:
    from the model version the latest scoring build decided to serve (champion, or the rule
    baseline), at its latest as_of. Rows lacking any lineage field are excluded here (and
    counted in monitoring.predictions_lacking_lineage).

    A build's predictions and serving decisions count only once that build finished, from a clean
    tree, as a production run (or while it is such a build running now; macro servable_builds):
    those of a killed, dirty or experiment build are recorded and never served. -#}
with

finished_builds as (
    {{ servable_builds() }}
),

predictions as (
    select * from {{ ref('predictions') }}
    where invocation_id in (select finished_builds.invocation_id from finished_builds)
),

serving_decisions as (
    select * from {{ source('lineage', 'serving_decisions') }}
    where invocation_id in (select finished_builds.invocation_id from finished_builds)
),

latest_decisions as (
    select
        model_name,
        model_version
    from serving_decisions
    qualify row_number() over (partition by model_name order by decided_at desc) = 1
),

with_lineage as (
    select predictions.*
    from predictions
    inner join latest_decisions
        on
            predictions.model_name = latest_decisions.model_name
            and predictions.model_version = latest_decisions.model_version
    where
        predictions.snapshot_id is not null
        and predictions.feature_version is not null
        and predictions.model_version is not null
        and predictions.training_run_id is not null
        and predictions.git_commit is not null
        and predictions.invocation_id is not null
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
