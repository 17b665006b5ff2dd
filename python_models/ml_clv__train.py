"""Fit CLV (BG/NBD + Gamma-Gamma) on the calibration period, validate on the holdout, refit on
everything known at the latest as_of; one row per training run, appended on success."""


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        incremental_strategy="append",
        on_schema_change="append_new_columns",
    )
    from customer_ml import runs

    transactions = dbt.ref("clv_transactions").df()
    this = str(dbt.this) if dbt.is_incremental else None
    run_type = dbt.config.meta_get("run_type")
    return runs.guarded(
        "clv",
        session,
        run_type,
        lambda: runs.train_clv(
            transactions,
            session,
            this=this,
            run_type=run_type,
            time_unit=dbt.config.meta_get("clv_time_unit"),
        ),
    )
