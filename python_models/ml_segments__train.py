"""Train k-means segments on customer_features v2 at the latest as_of, with segment ids matched
to the champion's; one row per training run, appended on success. Thin by design."""


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        incremental_strategy="append",
        full_refresh=False,  # append-only records: --full-refresh must not erase them
        on_schema_change="append_new_columns",
    )
    from customer_ml.pipeline import costs, failures, training

    # lineage records read through the session, declared so that the DAG (dbt docs) shows them
    dbt.source("lineage", "promotions")
    dbt.source("lineage", "data_snapshots")
    dbt.source("lineage", "build_snapshots")
    dbt.source("lineage", "model_definitions")
    dbt.source("lineage", "retraining_decisions")
    dbt.source("lineage", "training_failures")
    dbt.source("lineage", "rca_notes")

    run_type = dbt.config.get("run_type")
    # read here, in model() itself: dbt passes a Python model only the config keys it finds
    # in dbt.config.get calls of this body (one inside a lambda was silently never passed)
    retrain = dbt.config.get("retrain")
    features = dbt.ref("customer_features", v=2)
    as_of = features.aggregate("max(as_of)").fetchall()[0][0]
    latest, scanned = costs.read(session, features.filter(f"as_of = DATE '{as_of}'"))
    this = str(dbt.this) if dbt.is_incremental else None
    return failures.guarded(
        "segments",
        session,
        run_type,
        lambda: training.run(
            "segments",
            latest,
            session,
            this=this,
            run_type=run_type,
            feature_version=2,
            retrain=retrain,
            bytes_scanned=scanned,
        ),
    )
