"""Train churn on the pinned training dataset (features v1, labels v1); one row per training run.

Thin by design: fetch inputs, call customer_ml, return a DataFrame. Appends only on success.
"""


def model(dbt, session):
    dbt.config(materialized="incremental", incremental_strategy="append")
    from customer_ml import runs

    dataset = dbt.ref("churn_training_dataset").df()
    this = str(dbt.this) if dbt.is_incremental else None
    return runs.train_churn(dataset, session, this=this)
