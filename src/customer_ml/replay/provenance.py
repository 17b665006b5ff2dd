"""The records behind a prediction or a training run, read from a warehouse opened read-only:
complete enough to reproduce (else one line naming what is missing), and the chain
prediction -> scoring build -> model version -> training run -> data snapshots that
`customer-ml lineage` prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from customer_ml.records import store
from customer_ml.replay.rebuild import ReproduceError


def open_production(warehouse: Path) -> duckdb.DuckDBPyConnection:
    if not warehouse.exists():
        raise ReproduceError(f"{warehouse}: no such warehouse")
    try:
        return duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as e:
        raise ReproduceError(f"{warehouse}: cannot open read-only ({e})") from None


def _complete(record: dict, what: str, required: tuple[str, ...]) -> dict:
    missing = next((f for f in required if not record.get(f) or record[f] == "unknown"), None)
    if missing:
        raise ReproduceError(f"{what}: records incomplete ({missing} is missing)")
    return record


def load_training_run(con: duckdb.DuckDBPyConnection, training_run_id: str) -> dict:
    try:
        run = store.training_run(con, training_run_id)
    except duckdb.CatalogException:
        raise ReproduceError("lineage.training_runs does not exist: nothing was trained") from None
    if run is None:
        raise ReproduceError(f"unknown training run {training_run_id!r}")
    required = ("git_commit", "snapshot_ids", "invocation_id", "artifact_sha256", "config_json")
    return _complete(run, f"training run {training_run_id}", required)


def load_prediction(con: duckdb.DuckDBPyConnection, prediction_id: str) -> dict:
    try:
        prediction = store.prediction(con, prediction_id)
    except duckdb.CatalogException:
        raise ReproduceError("lineage.predictions does not exist: nothing was scored") from None
    if prediction is None:
        raise ReproduceError(f"unknown prediction {prediction_id!r}")
    required = ("git_commit", "snapshot_id", "invocation_id", "model_version")
    return _complete(prediction, f"prediction {prediction_id}", required)


def lineage_chain(production_path: Path, prediction_id: str) -> dict[str, Any]:
    """prediction -> scoring build -> model version -> training run -> data snapshots."""
    con = open_production(production_path)
    try:
        prediction = load_prediction(con, prediction_id)
        scoring_input = prediction.pop("input")
        build = prediction.pop("build")
        chain: dict[str, Any] = {
            "prediction": prediction,
            "scoring_build": build or {"invocation_id": prediction["invocation_id"]},
            "scoring_input": (
                f"{scoring_input['relation_name']}, {scoring_input['row_count']} rows, "
                f"watermark {scoring_input['watermark']}"
                if scoring_input
                else "not registered"
            ),
        }
        if prediction["model_kind"] != "baseline":
            run = load_training_run(con, prediction["training_run_id"])
            snapshots = run.pop("snapshots")
            chain["training_run"] = {
                k: v for k, v in run.items() if not k.endswith("_json") or k == "config_json"
            }
            chain["training_snapshots"] = [s for s in snapshots.values() if s]
        return chain
    finally:
        con.close()
