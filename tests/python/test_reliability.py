"""Issue 20's fast guarantees: no single raw row can poison the pipeline."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
from conftest import dbt_build

POISON = [
    # (what, the row's values after order_id, customer_id) -- each breaks one loader rule
    ("NaN amount", "timestamp '2025-06-01', 'nan'::double, timestamp '2025-06-01'"),
    ("2^70 amount", "timestamp '2025-06-01', 1180591620717411303424.0, timestamp '2025-06-01'"),
    ("far-future order", "timestamp '9999-12-31', 5.0, timestamp '9999-12-31'"),
    ("known before it happened", "timestamp '2025-06-01', 5.0, timestamp '2025-05-01'"),
]


def test_a_poisoned_raw_row_is_excluded_counted_and_warned(built: Path, tmp_path: Path) -> None:
    """Rows inserted into raw behind the loader's back: the build stays green (a warning), staging
    leaves them out, monitoring.raw_rows_excluded names each problem, and data_through does not
    move to 9999."""
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    con = duckdb.connect(str(wh / "ci.duckdb"))
    through_before = con.execute("select max(as_of) from labels.churn_labels_v1").fetchall()
    customer = con.execute("select min(customer_id) from raw.orders").fetchall()[0][0]
    for i, (_, values) in enumerate(POISON):
        con.execute(
            "insert into raw.orders (order_id, customer_id, ordered_at, amount, _available_at, "
            f"channel, _loaded_at, _load_id) values ({-1 - i}, {customer}, {values}, 'web', "
            "timestamp '2026-01-23', 'forged')"
        )
    con.close()

    done = dbt_build(wh, "--select", "+churn_labels", "raw_rows_excluded")
    warned = [line for line in done.stdout.splitlines() if "is_empty_raw_rows_excluded" in line]
    assert any("WARN 3" in line for line in warned), done.stdout[-3000:]

    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    excluded = con.execute(
        "select problem, n_rows, load_ids from monitoring.raw_rows_excluded order by problem"
    ).fetchall()
    staged = con.execute("select count(*) from staging.stg_shop__orders where order_id < 0")
    staged = staged.fetchall()[0][0]
    through_after = con.execute("select max(as_of) from labels.churn_labels_v1").fetchall()
    con.close()
    assert staged == 0
    assert excluded == [
        ("_available_at before the event", 1, "forged"),
        ("amount not finite, negative or above max_amount", 2, "forged"),
        ("event time after the load", 1, "forged"),
    ]
    assert through_after == through_before
