"""BTYD summaries of clv_transactions v1 (customer_ml.models.btyd.summaries): one row per period and
customer, what the CLV models train and score on, computed once per change of their input
instead of by every CLV node of every build (a scoring period holds ~45M order rows at a million
customers).

Incremental by period: a period is recomputed when the clv_transactions partition it was
computed from changed (its latest record in lineage.partition_hashes, which clv_transactions
appends for every partition it writes) or the summaries' SQL did; `computed_from` keeps both.
A daily build whose new orders change no period of the transactions recomputes nothing.
"""

import hashlib


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key="period",
        on_schema_change="fail",
    )
    from customer_ml import catalogue
    from customer_ml.models import btyd

    transactions = dbt.ref("clv_transactions", v=1)
    sql_id = hashlib.sha256(btyd.SUMMARY_SQL.encode()).hexdigest()[:16]
    inputs = dbt.source("lineage", "partition_hashes").query(
        "hashes",
        "select partition_key as period, cast(arg_max(cast(content_sum as hugeint), recorded_at) "
        f"as varchar) || '|{sql_id}' as computed_from from hashes "
        f"where relation_name = '{catalogue.entry('clv').features(1)}' group by all",
    )
    if dbt.is_incremental:
        inputs = inputs.query(
            "inputs",
            f"select * from inputs where not exists (select 1 from {dbt.this} as built where "
            "built.period = inputs.period and built.computed_from = inputs.computed_from)",
        )
    recomputed = transactions.join(inputs.project("period"), "period")
    return btyd.summaries(recomputed).join(inputs, "period").order("period, customer_id")
