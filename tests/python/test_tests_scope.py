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
