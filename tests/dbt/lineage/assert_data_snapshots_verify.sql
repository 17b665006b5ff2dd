{#- Fails for each live fact or dimension data snapshot whose history was altered (a row updated
    or deleted behind the pipeline's back): docs/design.md invariant 2. -#}
-- depends_on: {{ ref('training_runs') }}
-- depends_on: {{ ref('predictions') }}
{{ data_snapshot_mismatches() }}
