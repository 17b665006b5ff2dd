"""Score the customers at the latest as_of whose model or input changed (invariant 11) with the
churn champion, or the rule baseline.

Does not depend on training in the DAG: the serving model comes from the registry records. Both
feature versions are inputs; the serving model's feature version decides which one is read.
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

    versions = {
        1: dbt.ref("customer_features", v=1),
        2: dbt.ref("customer_features", v=2),
    }

    def latest(version):
        relation = versions[version]
        as_of = relation.aggregate("max(as_of)").fetchall()[0][0]
        return relation.filter(f"as_of = DATE '{as_of}'").df()

    this = str(dbt.this) if dbt.is_incremental else None
    return scoring.run("churn", latest, session, this=this, run_type=dbt.config.get("run_type"))
