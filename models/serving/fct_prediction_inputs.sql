{#- The input row each prediction was computed from, as JSON, so that "why did customer 42 get
    this score" is one join: serving.fct_customer_scores join serving.fct_prediction_inputs
    using (prediction_id). Churn and segments read a row of features.customer_features_v<n> (at
    the prediction's customer, as_of and feature_version), CLV the customer's BTYD summary of
    the scoring period (datasets.clv_summaries at that as_of).

    Appended per build, for the predictions of the builds not in it yet: it grows with what a
    build scored (invariant 11: only what changed), and the analyst copy takes only the new
    builds' groups (macro analyst_appended). Each version of customer_features is listed below;
    tests/python/test_analyst_copy.py fails when one is missing. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=false,
    on_schema_change='append_new_columns',
) }}

{%- set feature_versions = [1, 2] %}

with

new_predictions as (
    select
        prediction_id,
        invocation_id,
        model_name,
        customer_id,
        as_of,
        feature_version
    from {{ ref('predictions') }}
    {%- if is_incremental() %}
        where invocation_id not in (select distinct this.invocation_id from {{ this }} as this)
    {%- endif %}
),

{%- for v in feature_versions %}

    features_v{{ v }} as (
        select
            features.customer_id,
            features.as_of,
            {{ v }} as feature_version,
            'features.customer_features_v{{ v }}' as input_relation,
            to_json(features) as inputs
        from {{ ref('customer_features', v=v) }} as features
        where features.as_of in (select distinct new_predictions.as_of from new_predictions)
    ),
{%- endfor %}

clv_summaries as (
    select
        summaries.customer_id,
        cast(summaries.period_end as date) as as_of,
        'datasets.clv_summaries' as input_relation,
        to_json(summaries) as inputs
    from {{ ref('clv_summaries') }} as summaries
    where summaries.period = 'scoring'
),

feature_inputs as (
    {%- for v in feature_versions %}
        select * from features_v{{ v }}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

final as (
    select
        new_predictions.prediction_id,
        new_predictions.invocation_id,
        new_predictions.model_name,
        new_predictions.customer_id,
        new_predictions.as_of,
        coalesce(feature_inputs.input_relation, clv_summaries.input_relation) as input_relation,
        coalesce(feature_inputs.inputs, clv_summaries.inputs) as inputs
    from new_predictions
    left join feature_inputs
        on
            new_predictions.model_name != 'clv'
            and new_predictions.customer_id = feature_inputs.customer_id
            and new_predictions.as_of = feature_inputs.as_of
            and new_predictions.feature_version = feature_inputs.feature_version
    left join clv_summaries
        on
            new_predictions.model_name = 'clv'
            and new_predictions.customer_id = clv_summaries.customer_id
            and new_predictions.as_of = clv_summaries.as_of
)

select * from final
