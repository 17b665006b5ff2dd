{#- Every servable prediction and every published rescoring of one (lineage.published_predictions,
    by an approved `customer-ml backfill publish`), with which one is current for its
    (customer, model, as_of): the latest prediction of a finished servable build, or, when a backfill's
    rescoring of it was published, the latest such publication. The originals stay.

    valid_from / valid_until: when each stood for its customer and model (invariant 11: a build
    writes a prediction only when the model or the input changed, so the one standing on day D is
    the latest scored by then). An original stands from when it was scored until the next original
    for the customer and model, or until a rescoring of it was published; a published rescoring
    stands until the next one of the same original, or the next original. -#}
with

finished_builds as (
    {{ finished_servable_builds() }}
),

originals as (
    select * from {{ ref('predictions') }}
    where invocation_id in (select finished_builds.invocation_id from finished_builds)
),

next_originals as (
    select
        prediction_id,
        lead(scored_at) over (
            partition by customer_id, model_name order by scored_at asc, prediction_id asc
        ) as next_scored_at
    from originals
),

first_publications as (
    select
        replaces_prediction_id,
        min(published_at) as first_published_at
    from {{ source('lineage', 'published_predictions') }}
    group by replaces_prediction_id
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

next_published as (
    select
        published_prediction_id,
        lead(published_at) over (
            partition by replaces_prediction_id
            order by published_at asc, published_prediction_id asc
        ) as next_published_at
    from published
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
        input_hash,
        scored_at as recorded_at,
        scored_at as valid_from,
        least(next_originals.next_scored_at, first_publications.first_published_at)
            as valid_until,
        (
            prediction_id in (select latest_originals.prediction_id from latest_originals)
            and prediction_id not in (select published.replaces_prediction_id from published)
        ) as is_current
    from originals
    left join next_originals using (prediction_id)
    left join first_publications
        on originals.prediction_id = first_publications.replaces_prediction_id
    union all
    select
        'published' as version_kind,
        published.published_prediction_id as prediction_id,
        published.replaces_prediction_id,
        published.backfill_id,
        published.request_id,
        published.model_name,
        published.model_kind,
        published.model_version,
        published.training_run_id,
        published.customer_id,
        published.feature_version,
        published.as_of,
        published.score,
        published.score_label,
        published.snapshot_id,
        published.invocation_id,
        replaced.input_hash,
        published.published_at as recorded_at,
        published.published_at as valid_from,
        least(next_published.next_published_at, replaced_next.next_scored_at) as valid_until,
        (
            published.published_prediction_id in (
                select latest_published.published_prediction_id from latest_published
            )
            and published.replaces_prediction_id in (
                select latest_originals.prediction_id from latest_originals
            )
        ) as is_current
    from published
    left join next_published using (published_prediction_id)
    left join originals as replaced on published.replaces_prediction_id = replaced.prediction_id
    left join next_originals as replaced_next
        on published.replaces_prediction_id = replaced_next.prediction_id
)

select * from versions
