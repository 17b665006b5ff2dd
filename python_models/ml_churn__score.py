"""Score every customer at the latest as_of with the churn champion, or the rule baseline.

Does not depend on training in the DAG: the serving model comes from the registry records.
"""


def model(dbt, session):
    dbt.config(materialized="incremental", incremental_strategy="append")
    from customer_ml import runs

    features = dbt.ref("customer_features", v=1)
    latest = features.aggregate("max(as_of)").fetchall()[0][0]
    scoring_input = features.filter(f"as_of = DATE '{latest}'").df()
    this = str(dbt.this) if dbt.is_incremental else None
    return runs.score_churn(scoring_input, session, this=this)
