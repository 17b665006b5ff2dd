"""`rollback` opens a request for the previous champion, approved like any promotion; with no
previous champion it is refused."""

from __future__ import annotations

import json

import duckdb
import pytest

from customer_ml import promotion, records


def _run(run_id: str, auc: float) -> dict:
    return {
        "training_run_id": run_id,
        "model_name": "churn",
        "model_version": f"v-{run_id}",
        "status": "success",
        "run_type": "production",
        "is_dirty": False,
        "git_commit": "c" * 40,
        "snapshot_ids": "{}",
        "lock_hash": "l",
        "code_hash": "h",
        "artifact_path": "/nonexistent/model.txt",
        "artifact_sha256": "s",
        "invocation_id": "i",
        "metrics_json": json.dumps({"candidate": {"roc_auc": auc}, "baseline": {"roc_auc": 0.8}}),
        "mlflow_run_id": None,
    }


@pytest.fixture
def con(monkeypatch: pytest.MonkeyPatch) -> duckdb.DuckDBPyConnection:
    import pandas as pd

    con = duckdb.connect()
    records.create_all(con)
    runs = pd.DataFrame([_run("r1", 0.9), _run("r2", 0.91)])
    con.register("runs_frame", runs)
    con.execute("create table lineage.training_runs as select * from runs_frame")
    # The MLflow mirror of an in-memory warehouse cannot be written: _carry_out says so and the
    # records (what this test is about) are the real ones.
    return con


def _promote(con, run_id: str, kind: str = "promote") -> str:
    request, _ = promotion.open_request(
        con, "churn", run_id, kind=kind, snapshot_check=(True, "ok")
    )
    return request


def test_rollback_restores_the_previous_champion(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(promotion.PromotionError, match="no previous champion"):
        promotion.rollback(con, "churn", (True, "ok"))
    for run_id in ("r1", "r2"):
        request = _promote(con, run_id)
        for user, role in (("ana@example.com", "ml_owner"), ("carla@example.com",
                                                              "business_stakeholder")):  # fmt: skip
            monkeypatch.setenv("CUSTOMER_ML_USER", user)
            promotion.approve(con, request, role)
    assert con.execute(
        "select training_run_id from lineage.promotions order by promoted_at desc limit 1"
    ).fetchall() == [("r2",)]
    request = promotion.rollback(con, "churn", (True, "ok"))
    [(kind, run_id)] = con.execute(
        "select request_kind, training_run_id from lineage.promotion_requests where request_id = ?",
        [request],
    ).fetchall()
    assert (kind, run_id) == ("rollback", "r1")
    monkeypatch.setenv("CUSTOMER_ML_USER", "ben@example.com")
    promotion.approve(con, request, "ml_owner")
    monkeypatch.setenv("CUSTOMER_ML_USER", "carla@example.com")
    promotion.approve(con, request, "business_stakeholder")
    assert con.execute(
        "select training_run_id, action from lineage.promotions order by promoted_at desc limit 1"
    ).fetchall() == [("r1", "rollback")]


def test_a_rejected_request_cannot_be_approved(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = _promote(con, "r2")
    monkeypatch.setenv("CUSTOMER_ML_USER", "carla@example.com")
    assert "rejected by carla@example.com" in promotion.reject(con, request, "not now")
    monkeypatch.setenv("CUSTOMER_ML_USER", "ana@example.com")
    with pytest.raises(promotion.PromotionError, match="is rejected, not open"):
        promotion.approve(con, request, "ml_owner")
    assert con.execute("select count(*) from lineage.promotions").fetchall() == [(0,)]
