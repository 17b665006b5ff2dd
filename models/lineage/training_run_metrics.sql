{#- Every training run's metrics in long form, one row per run, evaluated model (candidate or
    baseline) and metric, from the run's metrics_json: compare runs with a filter, not JSON. -#}
with

training_runs as (
    select * from {{ ref('training_runs') }}
),

evaluated as (
    select
        training_run_id,
        model_name,
        model_version,
        started_at,
        metrics_json,
        unnest(json_keys(metrics_json)) as evaluated_model
    from training_runs
),

metrics as (
    select
        training_run_id,
        model_name,
        model_version,
        started_at,
        evaluated_model,
        json_extract(metrics_json, '$."' || evaluated_model || '"') as evaluated_json
    from evaluated
),

named as (
    select
        training_run_id,
        model_name,
        model_version,
        started_at,
        evaluated_model,
        evaluated_json,
        unnest(json_keys(evaluated_json)) as metric_name
    from metrics
),

final as (
    select
        training_run_id,
        model_name,
        model_version,
        started_at,
        evaluated_model,
        metric_name,
        try_cast(
            json_extract_string(evaluated_json, '$."' || metric_name || '"') as double
        ) as metric_value
    from named
)

select * from final
