{#- Feature importance of every training run, one row per run and feature, from the run's
    record (the same numbers as its feature_importance.csv artifact). -#}
with

training_runs as (
    select * from {{ ref('training_runs') }}
),

unnested as (
    select
        training_run_id,
        model_name,
        model_version,
        -- recursive unnest expands the struct into its columns, so it takes no alias
        unnest(  -- noqa: AL03
            from_json(
                feature_importance_json,
                '[{"feature": "varchar", "gain": "double", "split_count": "bigint"}]'
            ),
            recursive := true
        )
    from training_runs
),

final as (
    select
        training_run_id,
        model_name,
        model_version,
        feature,
        gain,
        split_count
    from unnested
)

select * from final
