{#- The serving interface: the current prediction per customer per model, with full lineage:
    from the model version the latest scoring build decided to serve (champion, or the rule
    baseline), at its latest as_of. Rows lacking any lineage field are excluded here (and
    counted in monitoring.predictions_lacking_lineage).

    A build's predictions and serving decisions count only once that build finished, from a clean
    tree, as a production run (or while it is such a build running now; macro servable_builds):
    those of a killed, dirty or experiment build are recorded and never served.

    A prediction replaced by a backfill's published rescoring (lineage.published_predictions,
    approved like a promotion) serves as published: its score, its backfill_id, and the
    backfill's input snapshot, commit and build.

    Version 2 gives each meaning its typed column: churn_probability, clv_value (the currency of
    the orders), segment_id and segment_name; `score` stays, as in version 1 (a projection of
    this one, kept for consumers pinned to it). A new model adds its column in a new version. -#}
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

current_predictions as (
    select *
    from with_lineage
    qualify row_number() over (
        partition by customer_id, model_name order by as_of desc, scored_at desc, prediction_id asc
    ) = 1
),

published as (
    select * from {{ source('lineage', 'published_predictions') }}
    qualify row_number() over (
        partition by replaces_prediction_id
        order by published_at desc, published_prediction_id asc
    ) = 1
),

final as (
    select
        current_predictions.customer_id,
        current_predictions.model_name,
        current_predictions.model_kind,
        current_predictions.model_version,
        current_predictions.training_run_id,
        coalesce(published.snapshot_id, current_predictions.snapshot_id) as snapshot_id,
        coalesce(published.git_commit, current_predictions.git_commit) as git_commit,
        coalesce(published.invocation_id, current_predictions.invocation_id) as invocation_id,
        coalesce(published.published_prediction_id, current_predictions.prediction_id)
            as prediction_id,
        current_predictions.feature_version,
        coalesce(published.score, current_predictions.score) as score,
        case
            when current_predictions.model_name = 'churn'
                then coalesce(published.score, current_predictions.score)
        end as churn_probability,
        case
            when current_predictions.model_name = 'clv'
                then coalesce(published.score, current_predictions.score)
        end as clv_value,
        case
            when current_predictions.model_name = 'segments'
                then cast(coalesce(published.score, current_predictions.score) as integer)
        end as segment_id,
        case
            when current_predictions.model_name = 'segments'
                then coalesce(published.score_label, current_predictions.score_label)
        end as segment_name,
        current_predictions.as_of,
        coalesce(published.published_at, current_predictions.scored_at) as scored_at,
        published.backfill_id
    from current_predictions
    left join published
        on current_predictions.prediction_id = published.replaces_prediction_id
)

select * from final
