{#- Every servable prediction and every published rescoring of one (lineage.published_predictions,
    by an approved `customer-ml backfill publish`), with which one is current for its
    (customer, model, as_of): the latest prediction of a finished servable build, or, when a backfill's
    rescoring of it was published, the latest such publication. The originals stay. -#}
with

finished_builds as (
    {{ finished_servable_builds() }}
),

originals as (
    select * from {{ ref('predictions') }}
    where invocation_id in (select finished_builds.invocation_id from finished_builds)
),

latest_originals as (
    select prediction_id
    from originals
    qualify row_number() over (
        partition by customer_id, model_name, as_of order by scored_at desc, prediction_id asc
    ) = 1
),

published as (
    select * from {{ source('lineage', 'published_predictions') }}
),

latest_published as (
    select published_prediction_id
    from published
    qualify row_number() over (
        partition by replaces_prediction_id
        order by published_at desc, published_prediction_id asc
    ) = 1
),

versions as (
    select
        'original' as version_kind,
        prediction_id,
        cast(null as varchar) as replaces_prediction_id,
        cast(null as varchar) as backfill_id,
        cast(null as varchar) as request_id,
        model_name,
        model_kind,
        model_version,
        training_run_id,
        customer_id,
        feature_version,
        as_of,
        score,
        score_label,
        snapshot_id,
        invocation_id,
        scored_at as recorded_at,
        (
            prediction_id in (select latest_originals.prediction_id from latest_originals)
            and prediction_id not in (select published.replaces_prediction_id from published)
        ) as is_current
    from originals
    union all
    select
        'published' as version_kind,
        published_prediction_id as prediction_id,
        replaces_prediction_id,
        backfill_id,
        request_id,
        model_name,
        model_kind,
        model_version,
        training_run_id,
        customer_id,
        feature_version,
        as_of,
        score,
        score_label,
        snapshot_id,
        invocation_id,
        published_at as recorded_at,
        (
            published_prediction_id in (
                select latest_published.published_prediction_id from latest_published
            )
            and replaces_prediction_id in (
                select latest_originals.prediction_id from latest_originals
            )
        ) as is_current
    from published
)

select * from versions
