"""Train churn on the pinned training dataset; one row per training run.

Thin by design: fetch inputs, call customer_ml, return a DataFrame. Appends only on success.
The run type (production or experiment) comes from var run_type through the model's config.
"""


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        incremental_strategy="append",
        on_schema_change="append_new_columns",
    )
    from customer_ml import runs

    dataset = dbt.ref("churn_training_dataset").df()
    this = str(dbt.this) if dbt.is_incremental else None
    run_type = dbt.config.meta_get("run_type")
    return runs.guarded(
        "churn",
        session,
        run_type,
        lambda: runs.train_churn(dataset, session, this=this, run_type=run_type),
    )
