"""The MLflow mirror writes each warehouse's runs into that warehouse's own store, whatever else
the process touched before (customer_ml.tracking binds a client to the store; the fluent
`mlflow.set_tracking_uri` would set MLFLOW_TRACKING_URI for the whole process and its children)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mlflow import MlflowClient

from customer_ml import tracking


def _runs(warehouse_dir: Path) -> list[str]:
    uri = f"sqlite:///{warehouse_dir / 'ci.mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return sorted(r.data.tags["training_run_id"] for r in client.search_runs(experiments))


def test_each_warehouse_logs_into_its_own_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "model.json").write_text("{}")
    for name in ("a", "b", "a"):
        (tmp_path / name).mkdir(exist_ok=True)
        tracking.log_training(
            tmp_path / name / "ci.duckdb", model_name="churn", run_type="production",
            tags={"training_run_id": f"run-in-{name}", "git.commit": "abc"}, params={"p": 1},
            metrics={"m": 0.5}, artifact_dir=artifacts,
        )  # fmt: skip
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert _runs(tmp_path / "a") == ["run-in-a", "run-in-a"]
    assert _runs(tmp_path / "b") == ["run-in-b"]
    assert tracking.orphan_training_runs(tmp_path / "b" / "ci.duckdb", {"run-in-b"}) == []
