"""The lineage records are declared once (customer_ml.records.tables): what a build creates, what
the docs declare and what Python appends all come from, or are checked against, that declaration."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml
from conftest import REPO

from customer_ml.records import store, tables


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "select column_name, lower(data_type) from information_schema.columns "
        "where table_schema = 'lineage' and table_name = ? order by ordinal_position",
        [table],
    ).fetchall()
    return dict(rows)


def test_a_build_creates_exactly_the_declared_tables(built: Path) -> None:
    con = duckdb.connect(str(built / "ci.duckdb"), read_only=True)
    try:
        for table, declared in tables.TABLES.items():
            assert _columns(con, table) == declared, table
    finally:
        con.close()


def test_the_docs_declare_every_lineage_table() -> None:
    sources = yaml.safe_load((REPO / "models/lineage/_lineage__sources.yml").read_text())
    [lineage] = [s for s in sources["sources"] if s["name"] == "lineage"]
    assert {t["name"] for t in lineage["tables"]} == set(tables.TABLES)


def test_append_is_by_name_and_refuses_unknown_columns() -> None:
    con = duckdb.connect()
    store.create_all(con)
    # given in another order than the table's, with one column left out (null)
    store.append(
        con, "rca_notes", {"noted_at": "2026-01-01 00:00:00", "author": "ana", "model_name": "clv"}
    )
    assert con.execute("select model_name, note, author from lineage.rca_notes").fetchall() == [
        ("clv", None, "ana")
    ]
    with pytest.raises(KeyError, match="no column.*autor"):
        store.append(con, "rca_notes", {"model_name": "clv", "autor": "typo"})
    assert con.execute("select count(*) from lineage.rca_notes").fetchall() == [(1,)]


def test_an_older_warehouse_gains_new_columns_and_keeps_its_rows() -> None:
    con = duckdb.connect()
    con.execute("create schema lineage")
    con.execute("create table lineage.promotions (promotion_id varchar, model_name varchar)")
    con.execute("insert into lineage.promotions values ('p1', 'churn')")
    store.create_all(con)
    assert _columns(con, "promotions") == tables.TABLES["promotions"]
    assert con.execute("select promotion_id, request_id from lineage.promotions").fetchall() == [
        ("p1", None)
    ]


def test_readers_return_whole_records(built: Path) -> None:
    con = duckdb.connect(str(built / "ci.duckdb"), read_only=True)
    try:
        [(run_id,)] = con.execute(
            "select training_run_id from lineage.training_runs where model_name = 'clv'"
        ).fetchall()
        [(prediction_id,)] = con.execute(
            "select min(prediction_id) from lineage.predictions where model_name = 'segments'"
        ).fetchall()
        run = store.training_run(con, run_id)
        prediction = store.prediction(con, prediction_id)
        assert store.training_run(con, "no-such-run") is None
    finally:
        con.close()
    assert set(run["snapshots"]) == {
        "raw.orders", "datasets.clv_transactions_v1", "labels.clv_holdout_v1"
    }  # fmt: skip
    assert all(s["relation_name"] == r for r, s in run["snapshots"].items())
    assert prediction["input"]["relation_name"] == "features.customer_features_v2"
    assert prediction["input"]["snapshot_id"] == prediction["snapshot_id"]
    assert prediction["build"]["invocation_id"] == prediction["invocation_id"]
    assert "results" not in prediction["build"]


def test_a_rule_baseline_counts_only_when_a_finished_build_fitted_it() -> None:
    """Invariant 8 for the rule baselines scoring serves: a row forged into
    lineage.baseline_runs (its invocation unknown) and a killed build's row stand for nothing;
    the same row stands once its build's record says it finished, as in production."""
    from customer_ml.models import baselines
    from customer_ml.records import registry

    con = duckdb.connect()
    store.create_all(con)
    store.append(con, "invocations", {"invocation_id": "now", "recorded_at": "2026-01-02"})
    row = {
        "model_name": "segments",
        "model_version": "forged-rule",
        "training_run_id": "forged-rule",
        "code_hash": baselines.code_hash("segments"),
        "artifact_path": "artifacts/baselines/segments/forged.json",
        "artifact_sha256": "0" * 64,
        "registered_at": "2026-01-01",
    }
    store.append(con, "baseline_runs", {**row, "invocation_id": "nobody"})
    assert registry.recorded_baseline(con, "segments") is None

    store.append(con, "invocations", {"invocation_id": "killed", "recorded_at": "2026-01-01"})
    store.append(con, "baseline_runs", {**row, "invocation_id": "killed"})
    assert registry.recorded_baseline(con, "segments") is None

    store.append(con, "builds", {"invocation_id": "killed", "is_dirty": False})
    found = registry.recorded_baseline(con, "segments")
    assert found is not None and found["invocation_id"] == "killed"
