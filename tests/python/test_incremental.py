"""Incremental builds equal a full rebuild (issue 15): after late-arriving rows, corrections, a
customer change and a new as_of, the as_of-partitioned facts, features and labels of an
incremental build are exactly those of a full rebuild on the same raw data, and the build
recomputed only the partitions the new rows affect."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
from conftest import cli, dbt_build

TABLES = [
    "intermediate.int_orders_known_as_of",
    "intermediate.int_engagement_events_known_as_of",
    "intermediate.int_order_facts_as_of",
    "intermediate.int_engagement_facts_as_of",
    "features.customer_features_v1",
    "features.customer_features_v2",
    "labels.churn_labels_v1",
    "labels.churn_labels_v2",
    "datasets.clv_transactions_v1",
    "datasets.clv_summaries",
    "labels.clv_holdout_v1",
]


def _df(wh: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def _table(wh: Path, table: str) -> pd.DataFrame:
    return (
        _df(wh, f"select * exclude (_loaded_at) from {table} order by all").reset_index(drop=True)
        if "known_as_of" in table
        else _df(wh, f"select * from {table} order by all")
    )


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_an_incremental_build_equals_a_full_rebuild(built: Path, tmp_path: Path) -> None:
    incremental = tmp_path / "incremental"
    shutil.copytree(built, incremental)
    before = _df(incremental, "select as_of, count(*) as n from features.customer_features_v1 "
                              "group by as_of order by as_of")  # fmt: skip

    # A day of new data: a correction (cancellation) of an old order, an order placed in March
    # that arrives only now, a new order, a plan change known late, and a session.
    [(old_order, customer)] = _df(
        incremental,
        "select order_id, customer_id from raw.orders order by ordered_at limit 1 offset 500",
    ).itertuples(index=False)
    # and a late order in January of a customer labelled churned at 2025-01-01 (both label
    # versions): it rewrites that label partition with other content
    [(churned,)] = _df(
        incremental,
        "select customer_id from labels.churn_labels_v1 join labels.churn_labels_v2 "
        "using (customer_id, as_of) where as_of = '2025-01-01' and churn_labels_v1.is_churned "
        "and churn_labels_v2.is_churned order by customer_id limit 1",
    ).itertuples(index=False)
    orders = _write(
        tmp_path / "orders.csv",
        "order_id,customer_id,ordered_at,amount,_available_at",
        [
            f"{old_order},{customer},"
            + str(
                _df(
                    incremental,
                    f"select min(ordered_at) from raw.orders where order_id = {old_order}",
                ).iloc[0, 0]
            )  # fmt: skip
            + ",0.00,2025-12-20 09:00:00",
            f"990000001,{customer},2025-03-10 10:00:00,40.00,2025-12-20 08:00:00",
            f"990000002,{customer},2025-12-20 10:00:00,25.00,2025-12-20 10:00:00",
            f"990000004,{churned},2025-01-15 10:00:00,30.00,2025-12-20 08:00:00",
        ],
    )
    customers = _write(
        tmp_path / "customers.csv",
        "customer_id,country,plan,marketing_opt_in,signup_at,updated_at,_available_at",
        [f"{customer},DE,pro,true,2024-01-01 00:00:00,2025-11-15 00:00:00,2025-12-20 00:00:00"],
    )
    events = _write(
        tmp_path / "events.csv",
        "event_id,customer_id,event_type,occurred_at,_available_at",
        [f"990000003,{customer},session,2025-12-20 11:00:00,2025-12-20 11:00:00"],
    )
    done = cli(incremental, "load", "--target", "ci", "--orders", str(orders),
               "--customers", str(customers), "--events", str(events))  # fmt: skip
    assert done.returncode == 0, done.stderr
    new_as_of = ["--vars", '{as_of_end: "2026-01-01"}']

    full = tmp_path / "full"
    shutil.copytree(incremental, full)
    dbt_build(full, *new_as_of, "--full-refresh")
    done = dbt_build(incremental, *new_as_of)

    for table in TABLES:
        a, b = _table(incremental, table), _table(full, table)
        pd.testing.assert_frame_equal(a, b, obj=table)
    after = _df(incremental, "select as_of, count(*) as n from features.customer_features_v1 "
                             "group by as_of order by as_of")  # fmt: skip
    assert len(after) == len(before) + 1
    # only the partitions the new rows affect were written: every new row is known from
    # December 20, so the twelve as_of dates up to 2025-12-01 keep their physical rows (DuckDB
    # row ids) and only 2026-01-01 was written
    for table in ("features.customer_features_v1", "intermediate.int_order_facts_as_of"):
        rowids = f"select as_of, min(rowid) as first_row from {table} group by all order by all"
        kept = _df(built, rowids).merge(_df(incremental, rowids), on="as_of")
        assert (kept["first_row_x"] == kept["first_row_y"]).all(), table
        assert len(kept) == 12
    # The data snapshots of features and labels: the incremental build hashed only the partitions
    # it wrote (lineage.partition_hashes), yet registered what the full rebuild registered from
    # every partition, and what hashing each whole table here gives.
    derived = ["features.customer_features_v1", "features.customer_features_v2",
               "labels.churn_labels_v1", "labels.churn_labels_v2"]  # fmt: skip
    rescued = _df(
        incremental,
        "select v1.is_churned, v2.is_churned from labels.churn_labels_v1 "
        "as v1 join labels.churn_labels_v2 as v2 using (customer_id, as_of) "
        f"where as_of = '2025-01-01' and customer_id = {churned}",
    )
    assert rescued.values.tolist() == [[False, False]]
    snapshots = {wh: _last_build_snapshots(wh, derived) for wh in (incremental, full)}
    assert snapshots[incremental] == snapshots[full]
    for table in derived:
        [(rows, content_hash)] = _df(
            incremental,
            f"select count(*), cast(sum(md5_number_lower(cast(t as varchar))) as "
            f"varchar) from {table} as t",  # fmt: skip
        ).itertuples(index=False)
        assert snapshots[incremental][table] == (rows, content_hash), table
    hashed = _df(
        incremental,
        "select partition_key from lineage.partition_hashes where relation_name = "
        "'features.customer_features_v1' and invocation_id = "
        "(select max_by(invocation_id, finished_at) from lineage.builds)",
    )
    assert hashed["partition_key"].tolist() == ["2026-01-01"]


def _last_build_snapshots(wh: Path, relations: list[str]) -> dict[str, tuple[int, str]]:
    rows = _df(wh, "select s.relation_name, s.row_count, s.content_hash "
                   "from lineage.build_snapshots as b join lineage.data_snapshots as s using "
                   "(snapshot_id) where b.invocation_id = (select max_by(invocation_id, "
                   "finished_at) from lineage.builds)")  # fmt: skip
    return {r.relation_name: (r.row_count, r.content_hash) for r in rows.itertuples()
            if r.relation_name in relations}  # fmt: skip


def test_a_rebuild_with_no_new_data_rewrites_nothing(built: Path, tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    physical = (
        "select 'features' as t, max(rowid), count(*) from features.customer_features_v1 "
        "union all select 'clv', max(rowid), count(*) from datasets.clv_transactions_v1 "
        "union all select 'clv_summaries', max(rowid), count(*) from datasets.clv_summaries "
        "order by t"
    )
    before = _df(wh, physical)
    dbt_build(wh, "--select", "int_order_facts_as_of", "customer_features", "clv_transactions",
              "clv_summaries")  # fmt: skip
    pd.testing.assert_frame_equal(before, _df(wh, physical))
    states = _df(wh, "select relation_name, count(*) as n from lineage.incremental_state "
                     "group by all order by all")  # fmt: skip
    assert set(states["relation_name"]) >= {
        "features.customer_features_v1", "intermediate.int_order_facts_as_of"
    } and (states["n"] == 2).sum() >= 3  # fmt: skip
