"""CLV of the customers at the latest as_of whose model or summary changed (invariant 11), by the
CLV champion or the rule baseline. A customer's summary holds T (as_of minus first purchase): a new
as_of changes every row, so the first build at a new as_of scores everyone; within one as_of
only customers with newly known transactions change.

Does not depend on training in the DAG: the serving model comes from the registry records.
"""


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        incremental_strategy="append",
        full_refresh=False,  # append-only records: --full-refresh must not erase them
        on_schema_change="append_new_columns",
    )
    from customer_ml.models import btyd
    from customer_ml.pipeline import scoring

    # lineage records read through the session, declared so that the DAG (dbt docs) shows them
    dbt.source("lineage", "promotions")
    dbt.source("lineage", "build_snapshots")
    dbt.source("lineage", "baseline_runs")

    # the BTYD summaries of clv_transactions v1 (the recorded input, registered by the pre-hook)
    summaries = btyd.stored_summaries(dbt.ref("clv_summaries"))

    def latest(version):
        if version != 1:
            raise ValueError(f"ml_clv__score reads clv_transactions v1, the model needs v{version}")
        return summaries.filter("period = 'scoring'").df()

    this = str(dbt.this) if dbt.is_incremental else None
    return scoring.run("clv", latest, session, this=this, run_type=dbt.config.get("run_type"))
