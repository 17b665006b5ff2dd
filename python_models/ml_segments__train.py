"""Train k-means segments on customer_features v2 at the latest as_of, with segment ids matched
to the previous model's; one row per training run, appended on success."""


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        incremental_strategy="append",
        on_schema_change="append_new_columns",
    )
    from customer_ml import runs

    features = dbt.ref("customer_features", v=2)
    as_of = features.aggregate("max(as_of)").fetchall()[0][0]
    latest = features.filter(f"as_of = DATE '{as_of}'").df()
    this = str(dbt.this) if dbt.is_incremental else None
    run_type = dbt.config.meta_get("run_type")
    return runs.guarded(
        "segments",
        session,
        run_type,
        lambda: runs.train_segments(latest, session, this=this, run_type=run_type),
    )
