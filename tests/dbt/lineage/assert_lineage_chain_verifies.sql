{#- Fails with one row per problem of the lineage hash chain (customer_ml.records.chain): a seal altered,
    deleted or inserted, or a sealed record row deleted or altered. Rows this build wrote are
    sealed at its end, so only sealed rows are checked here; `customer-ml verify-lineage` also
    names rows never sealed. -#}
-- depends_on: {{ ref('training_runs') }}
-- depends_on: {{ ref('predictions') }}
select unnest(customer_ml_verify_sealed('')) as problem
