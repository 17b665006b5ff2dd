"""The analyst copy (macros/analyst_copy.sql): each build publishes a file that holds what the
warehouse's lineage, serving and monitoring relations held when it ended, relation by relation,
although it copies only what changed of the records that grow with every build (a build's
predictions, a seal's rows) onto a byte copy of the last publication; the published file is
read-only."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import cli, dbt_build


def _differences(wh: Path) -> dict[str, int]:
    """Relation -> rows that differ (either way) between the warehouse and the analyst copy;
    -1 for a relation missing from one side."""
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    try:
        con.execute(f"attach '{wh / 'ci.analyst.duckdb'}' as published (read_only)")
        listed = (
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_catalog = ? and table_schema in ('lineage', 'serving', 'monitoring')"
        )
        ours = {r[0] for r in con.execute(listed, ["ci"]).fetchall()}
        theirs = {r[0] for r in con.execute(listed, ["published"]).fetchall()}
        out = {name: -1 for name in ours ^ theirs}
        for name in sorted(ours & theirs):
            [(n,)] = con.execute(
                f"select count(*) from ((select * from {name} except all select * from "
                f"published.{name}) union all (select * from published.{name} except all "
                f"select * from {name}))"
            ).fetchall()
            if n:
                out[name] = n
        return out
    finally:
        con.close()


def _value(path: Path, sql: str):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()[0][0]
    finally:
        con.close()


def test_each_publication_equals_the_warehouse_and_is_read_only(built: Path, tmp_path: Path):
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    analyst = wh / "ci.analyst.duckdb"
    assert _differences(wh) == {}
    before = _value(analyst, "select count(*) from lineage.predictions")

    # a late order, known before the last as_of: that customer's input changes, so the scoring
    # build appends their new predictions (invariant 11)
    customer = _value(wh / "ci.duckdb", "select min(customer_id) from raw.orders")
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,customer_id,ordered_at,amount,_available_at\n"
        f"990000101,{customer},2025-03-20 10:00:00,25.00,2025-11-20 10:00:00\n"
    )
    done = cli(wh, "load", "--target", "ci", "--orders", str(orders))
    assert done.returncode == 0, done.stderr
    dbt_build(wh, "--selector", "scoring")
    assert _value(analyst, "select count(*) from lineage.predictions") > before
    assert _differences(wh) == {}
    # prediction_versions is a view over the copy's own tables, not a table rebuilt each build
    kind = _value(
        analyst,
        "select table_type from information_schema.tables where table_schema = 'lineage' "
        "and table_name = 'prediction_versions'",
    )
    assert kind == "VIEW"

    # nobody edits what analysts read: the file is read-only (a read-write open fails, except
    # for root, whom file modes do not stop)
    assert analyst.stat().st_mode & 0o222 == 0
    if os.geteuid() != 0:
        with pytest.raises(duckdb.Error):
            duckdb.connect(str(analyst))


def test_a_publication_missing_groups_is_mended_by_the_next_build(built: Path, tmp_path: Path):
    """The copy replaces every group whose count differs, so rows lost from the published file
    (here: deleted on purpose from a writable copy of it) come back with the next build."""
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    analyst = wh / "ci.analyst.duckdb"
    analyst.chmod(0o644)
    con = duckdb.connect(str(analyst))
    con.execute("delete from lineage.predictions where model_name = 'churn'")
    con.execute("delete from lineage.sealed_rows where seal_seq = (select max(seal_seq) from "
                "lineage.sealed_rows)")  # fmt: skip
    con.close()
    # (prediction_versions is a view over the copy's predictions)
    assert set(_differences(wh)) == {
        "lineage.predictions", "lineage.prediction_versions", "lineage.sealed_rows"
    }  # fmt: skip
    dbt_build(wh, "--selector", "scoring")
    assert _differences(wh) == {}


def test_a_damaged_publication_is_replaced_whole(built: Path, tmp_path: Path):
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    analyst = wh / "ci.analyst.duckdb"
    analyst.chmod(0o644)
    analyst.write_bytes(b"not a database" * 1000)
    # and a build killed while publishing left its staging file behind
    leftover = wh / "ci.analyst.duckdb.0b1c2d3e-0000-4000-8000-00000000dead"
    leftover.write_bytes(b"half a copy")
    (wh / "ci.analyst.duckdb.keep").write_text("not a staging file: kept")
    dbt_build(wh, "--selector", "scoring")
    assert _differences(wh) == {}
    assert not leftover.exists()
    assert (wh / "ci.analyst.duckdb.keep").exists()


def test_a_build_of_nothing_analysts_read_publishes_nothing_and_is_still_recorded(
    built: Path, tmp_path: Path
):
    """The fixed cost of an invocation (issue 33): a build of one staging view writes no
    publication; its build record is kept and sealed, and the next publication carries it."""
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    analyst = wh / "ci.analyst.duckdb"
    published = analyst.stat()
    builds = "select count(*) from lineage.builds"
    before = _value(wh / "ci.duckdb", builds)
    dbt_build(wh, "--select", "stg_shop__orders")
    assert _value(wh / "ci.duckdb", builds) == before + 1
    again = analyst.stat()
    assert (again.st_ino, again.st_mtime_ns) == (published.st_ino, published.st_mtime_ns)
    assert cli(wh, "verify-lineage", "--target", "ci").returncode == 0  # sealed all the same
    dbt_build(wh, "--select", "fct_customer_scores")  # a node analysts read: published
    assert analyst.stat().st_ino != published.st_ino
    assert _value(analyst, builds) == before + 2


def test_the_analyst_copy_explains_itself(built: Path) -> None:
    """Issue 36: the analyst copy carried 0 of its column descriptions. Every relation and
    almost every column of it has its YAML description as a DuckDB comment."""
    con = duckdb.connect(str(built / "ci.analyst.duckdb"), read_only=True)
    try:
        [(columns, described)] = con.execute(
            "select count(*), count(*) filter (where comment is not null and comment <> '') "
            "from duckdb_columns() where schema_name in ('lineage', 'serving', 'monitoring')"
        ).fetchall()
        [(score,)] = con.execute(
            "select comment from duckdb_columns() where schema_name = 'serving' and "
            "table_name = 'fct_customer_scores' and column_name = 'score'"
        ).fetchall()
        tables = dict(con.execute(
            "select schema_name || '.' || table_name, comment from duckdb_tables() "
            "where schema_name in ('lineage', 'serving')"
        ).fetchall())  # fmt: skip
    finally:
        con.close()
    assert score and described / columns > 0.9, (described, columns)
    assert tables["lineage.builds"].startswith("One row per build")


def test_why_a_customer_got_a_score_is_one_join_in_the_analyst_copy(built: Path) -> None:
    """Issue 36: the analyst copy held no features. Every served prediction joins its input
    row (serving.fct_prediction_inputs), and that row is the one scoring read: the features
    row at its customer, as_of and feature_version (churn, segments), the BTYD summary (CLV)."""
    import json

    con = duckdb.connect(str(built / "ci.analyst.duckdb"), read_only=True)
    try:
        served = con.execute(
            "select s.model_name, s.customer_id, s.as_of, s.feature_version, i.input_relation, "
            "i.inputs from serving.fct_customer_scores s "
            "left join serving.fct_prediction_inputs i using (prediction_id)"
        ).df()
    finally:
        con.close()
    assert len(served) > 1000 and served["inputs"].notna().all()
    warehouse = duckdb.connect(str(built / "ci.duckdb"), read_only=True)
    try:
        for model in ("churn", "segments", "clv"):
            row = served[served["model_name"] == model].iloc[0]
            given = json.loads(row["inputs"])
            if model == "clv":
                assert row["input_relation"] == "datasets.clv_summaries"
                sql = ("select * from datasets.clv_summaries where period = 'scoring' "
                       "and customer_id = ?")  # fmt: skip
                args = [int(row["customer_id"])]
            else:
                assert row["input_relation"] == (
                    f"features.customer_features_v{row['feature_version']}"
                )
                sql = f"select * from {row['input_relation']} where customer_id = ? and as_of = ?"
                args = [int(row["customer_id"]), row["as_of"]]
            [read] = warehouse.execute(f"select to_json(t) from ({sql}) t", args).fetchall()
            assert given == json.loads(read[0]), model
            assert len(given) > 5, model
    finally:
        warehouse.close()


def test_every_feature_version_has_its_inputs() -> None:
    """A new version of customer_features must be listed in fct_prediction_inputs, or its
    predictions would have no input row."""
    import re

    import yaml
    from conftest import REPO

    declared = yaml.safe_load((REPO / "models/features/customer_features.yml").read_text())
    [features] = [m for m in declared["models"] if m["name"] == "customer_features"]
    versions = sorted(int(v["v"]) for v in features["versions"])
    sql = (REPO / "models/serving/fct_prediction_inputs.sql").read_text()
    [listed] = re.findall(r"set feature_versions = \[([0-9, ]+)\]", sql)
    assert sorted(int(v) for v in listed.split(",")) == versions
