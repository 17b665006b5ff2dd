"""Segment of the customers at the latest as_of whose model or input changed (invariant 11), by
the segments champion or the RFM rules (whose medians, over every customer, count as input).

Does not depend on training in the DAG: the serving model comes from the registry records.
"""


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        incremental_strategy="append",
        full_refresh=False,  # append-only records: --full-refresh must not erase them
        on_schema_change="append_new_columns",
    )
    from customer_ml.pipeline import scoring

    # lineage records read through the session, declared so that the DAG (dbt docs) shows them
    dbt.source("lineage", "promotions")
    dbt.source("lineage", "build_snapshots")
    dbt.source("lineage", "baseline_runs")

    features = dbt.ref("customer_features", v=2)

    def latest(version):
        if version != 2:
            raise ValueError(f"ml_segments__score reads customer_features v2, not v{version}")
        as_of = features.aggregate("max(as_of)").fetchall()[0][0]
        return features.filter(f"as_of = DATE '{as_of}'").df()

    this = str(dbt.this) if dbt.is_incremental else None
    return scoring.run("segments", latest, session, this=this, run_type=dbt.config.get("run_type"))
