"""Train churn on the pinned training dataset; one row per training run.

Thin by design: fetch inputs, call customer_ml, return a DataFrame. Appends only on success.
The run type and the pinned feature and label versions come from dbt vars through the model's
config (dbt.config.get); the inputs' data snapshots are registered by this node's pre-hooks.
"""


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        incremental_strategy="append",
        full_refresh=False,  # append-only records: --full-refresh must not erase them
        on_schema_change="append_new_columns",
    )
    from customer_ml import catalogue
    from customer_ml.models import sampling
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
    feature_version = int(dbt.config.get("churn_feature_version"))
    label_version = int(dbt.config.get("churn_label_version"))
    # the seeded sample the split keeps and the latest as_of (the report's customer impact),
    # drawn in DuckDB: not every customer at every labelled as_of in memory
    cfg = training.policy(catalogue.entry("churn"))
    dataset, scanned = costs.read(
        session,
        sampling.flag_sample(
            session,
            dbt.ref("churn_training_dataset"),
            int(cfg["max_training_rows"]),
            int(cfg.get("seed", 0)),
            also="dataset.as_of = (select max(as_of) from dataset)",
        ),
    )
    this = str(dbt.this) if dbt.is_incremental else None
    return failures.guarded(
        "churn",
        session,
        run_type,
        lambda: training.run(
            "churn",
            dataset,
            session,
            this=this,
            run_type=run_type,
            retrain=retrain,
            feature_version=feature_version,
            label_version=label_version,
            bytes_scanned=scanned,
        ),
    )
