"""A build's data tests on a partitioned derived model check the partitions that build wrote
(macros/tests_scope.sql, issue 15 item 4): a bad row in a partition the build did not write is
not read by the build's tests (their cost grows with the day, not with history) but fails
`dbt test`; a bad partition the build writes fails the build."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
from conftest import dbt, dbt_build, snapshot_project

UNIQUE = "unique_combination_of_columns_customer_features_v1_customer_id__as_of"


def _duplicate_a_row_of_the_oldest_partition(wh: Path) -> None:
    con = duckdb.connect(str(wh / "ci.duckdb"))
    try:
        con.execute(
            "insert into features.customer_features_v1 select * from features.customer_features_v1 "
            "where as_of = (select min(as_of) from features.customer_features_v1) limit 1"
        )
    finally:
        con.close()


def test_a_build_tests_the_partitions_it_wrote_and_dbt_test_tests_all(built, tmp_path):
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    _duplicate_a_row_of_the_oldest_partition(wh)

    # nothing new: the build writes no partition of features v1, so its tests read none
    done = dbt_build(wh, "--select", "customer_features")
    assert f"PASS {UNIQUE}" in done.stdout, done.stdout[-3000:]
    sql = "\n".join(
        p.read_text()
        for p in (wh / "target" / "compiled").rglob("*.sql")
        if "customer_features_v1" in p.read_text() and "n_rows" in p.read_text()
    )
    assert "partition_hashes" in sql and "invocation_id" in sql, sql

    # the whole relation: `dbt test` finds the duplicate
    failed = dbt(wh, "test", "--select", UNIQUE, check=False)
    assert failed.returncode != 0
    assert re.search(rf"FAIL \d+ {UNIQUE}", failed.stdout), failed.stdout[-3000:]


def test_a_build_that_writes_a_bad_partition_fails(built, tmp_path):
    project = snapshot_project(tmp_path / "project")
    model = project / "models" / "features" / "customer_features_v1.sql"
    # a new definition (every partition recomputed) that writes one row twice in each partition
    model.write_text(
        model.read_text()
        + "\n{# a defect on purpose #}\n"
        + "union all select * from final where customer_id = (select min(customer_id) from final)\n"
    )
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    failed = dbt_build(wh, "--select", "customer_features.v1", project=project, check=False)
    assert failed.returncode != 0
    assert re.search(rf"FAIL \d+ {UNIQUE}", failed.stdout), failed.stdout[-3000:]


ORDERS_KEY = "unique_combination_of_columns_stg_shop__orders_order_id___available_at"


def _raw(wh: Path, sql: str) -> None:
    con = duckdb.connect(str(wh / "ci.duckdb"))
    try:
        con.execute(sql)
    finally:
        con.close()


def test_a_build_checks_the_rows_loaded_since_its_tests_passed_against_history(built, tmp_path):
    """Checks that grow with the day (issue 33): a build's tests of loaded rows read the rows
    loaded since the test last passed; a key test checks their keys against all history."""
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    copy_of_an_old_order = (
        "insert into raw.orders select * replace ({loaded} as _loaded_at) from raw.orders "
        "order by order_id limit 1"
    )
    # an old order's key again, with an old load time: not this build's rows (`dbt test` finds it)
    _raw(wh, copy_of_an_old_order.format(loaded="_loaded_at"))
    done = dbt_build(wh, "--select", "stg_shop__orders")
    assert f"PASS {ORDERS_KEY}" in done.stdout, done.stdout[-3000:]
    compiled = wh / "target" / "compiled" / "customer_ml" / "models" / "staging" / "shop"
    [sql] = (compiled / "stg_shop__orders.yml").glob("unique_combination_of_columns_*.sql")
    assert "semi join" in sql.read_text()  # the new keys, checked against all history
    failed = dbt(wh, "test", "--select", ORDERS_KEY, check=False)
    assert re.search(rf"FAIL \d+ {ORDERS_KEY}", failed.stdout), failed.stdout[-3000:]

    # the same key loaded now (by hand: the loader refuses it) collides with history: found
    _raw(wh, copy_of_an_old_order.format(loaded="now()::timestamp"))
    failed = dbt_build(wh, "--select", "stg_shop__orders", check=False)
    assert failed.returncode != 0
    assert re.search(rf"FAIL \d+ {ORDERS_KEY}", failed.stdout), failed.stdout[-3000:]
