{#- Version 1 of the serving interface: version 2 without its typed columns (one `score` for a
    probability, a currency amount and a segment id), for consumers pinned to it. -#}
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
    scored_at,
    backfill_id
from {{ ref('fct_customer_scores', v=2) }}
