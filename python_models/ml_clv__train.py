"""Fit CLV (BG/NBD + Gamma-Gamma) on the calibration period, validate on the holdout, refit on
everything known at the latest as_of; one row per training run, appended on success.

Thin by design. The transactions (features) and holdout (labels) are read at the versions
referenced here, as the warehouse's BTYD summaries of them (customer_ml.models.btyd: one row per
customer and period, not every order); vars clv_time_unit and clv_penalizer arrive through
the model's config and are validated against the catalogue (config/models.yml).
"""


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        incremental_strategy="append",
        full_refresh=False,  # append-only records: --full-refresh must not erase them
        on_schema_change="append_new_columns",
    )
    import pandas as pd

    from customer_ml.models import btyd
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
    dbt_vars = {
        "clv_time_unit": dbt.config.get("clv_time_unit"),
        "clv_penalizer": dbt.config.get("clv_penalizer"),
    }
    # the BTYD summaries of clv_transactions v1 (the recorded input, registered by the pre-hook)
    transactions, scanned = costs.read(session, btyd.stored_summaries(dbt.ref("clv_summaries")))
    holdout, scanned_holdout = costs.read(
        session, btyd.holdout_summaries(dbt.ref("clv_holdout", v=1))
    )
    this = str(dbt.this) if dbt.is_incremental else None
    return failures.guarded(
        "clv",
        session,
        run_type,
        lambda: training.run(
            "clv",
            pd.concat([transactions, holdout], ignore_index=True),
            session,
            this=this,
            run_type=run_type,
            retrain=retrain,
            feature_version=1,
            label_version=1,
            dbt_vars=dbt_vars,
            bytes_scanned=None if None in (scanned, scanned_holdout) else scanned + scanned_holdout,
        ),
    )
