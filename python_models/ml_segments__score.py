"""Segment of every customer at the latest as_of, by the segments champion or the RFM rules.

Does not depend on training in the DAG: the serving model comes from the registry records.
"""


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
    return runs.score_segments(latest, session, this=this)
