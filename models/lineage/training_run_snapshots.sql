{#- The data snapshots each training run read, one row per run and relation (from the run's
    snapshot_ids), with what the snapshot records: so "which data trained this model" is a
    join, not JSON. -#}
with

training_runs as (
    select * from {{ ref('training_runs') }}
),

data_snapshots as (
    select * from {{ source('lineage', 'data_snapshots') }}
),

relations as (
    select
        training_run_id,
        model_name,
        snapshot_ids,
        unnest(json_keys(snapshot_ids)) as relation_name
    from training_runs
),

pairs as (
    select
        training_run_id,
        model_name,
        relation_name,
        json_extract_string(snapshot_ids, '$."' || relation_name || '"') as snapshot_id
    from relations
),

final as (
    select
        pairs.training_run_id,
        pairs.model_name,
        pairs.relation_name,
        pairs.snapshot_id,
        data_snapshots.snapshot_kind,
        data_snapshots.watermark,
        data_snapshots.row_count,
        data_snapshots.content_hash
    from pairs
    left join data_snapshots
        on pairs.snapshot_id = data_snapshots.snapshot_id
)

select * from final
