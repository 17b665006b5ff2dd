"""MLflow mirror of the lineage records: one run per build, one run per training.

The lineage tables are the source of truth; MLflow is for people who browse. The store is a
SQLite file and an artifact folder beside the warehouse unless MLFLOW_TRACKING_URI says otherwise.
mlflow is imported lazily (≈1 s) and only here.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from customer_ml import config

BUILDS_EXPERIMENT = "customer-ml/builds"


def model_experiment(model_name: str, run_type: str = "production") -> str:
    if run_type == "experiment":
        return f"customer-ml/experiments/{model_name}"
    return f"customer-ml/{model_name}"


def _client(warehouse: Path):
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    import mlflow

    mlflow.set_tracking_uri(config.tracking_uri(warehouse))
    return mlflow


def _experiment_id(mlflow, warehouse: Path, name: str) -> str:
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = (config.artifact_root(warehouse) / "mlflow").as_uri()
    return mlflow.create_experiment(name, artifact_location=f"{location}/{name.replace('/', '_')}")


def log_build(warehouse: Path, record: dict[str, Any]) -> str:
    mlflow = _client(warehouse)
    experiment_id = _experiment_id(mlflow, warehouse, BUILDS_EXPERIMENT)
    tags = {
        "dbt.invocation_id": record["invocation_id"],
        "dbt.target": record["target_name"],
        "git.commit": record["git_commit"],
        "git.dirty": str(record["is_dirty"]).lower(),
        "snapshot_ids": record["snapshot_ids"],
        "kind": "build",
        # the lineage chain's head when the build ended, before its own seals: kept outside
        # the warehouse, so a chain rewritten consistently inside it still fails verify-lineage
        "lineage.chain_head": record.get("chain_head") or "",
        **{
            f"retraining.{model}": decision["action"]
            for model, decision in (record.get("retraining") or {}).items()
        },
    }
    metrics = {
        key: float(record[key])
        for key in (
            "nodes_succeeded",
            "nodes_failed",
            "nodes_skipped",
            "tests_passed",
            "tests_failed",
        )
    }
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"build {record['invocation_id'][:8]}", tags=tags
    ) as run:
        mlflow.log_metrics(metrics)
        mlflow.log_dict({"nodes": record["nodes"]}, "results.json")
        if record.get("retraining"):
            mlflow.log_dict(record["retraining"], "retraining_decisions.json")
    return run.info.run_id


def log_training(
    warehouse: Path,
    *,
    model_name: str,
    run_type: str,
    tags: dict[str, str],
    params: dict[str, Any],
    metrics: dict[str, float],
    artifact_dir: Path,
) -> str:
    """One MLflow run per training run, linked to its build by tag; returns its run id."""
    mlflow = _client(warehouse)
    experiment_id = _experiment_id(mlflow, warehouse, model_experiment(model_name, run_type))
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=tags.get("training_run_id"), tags=tags
    ) as run:
        mlflow.log_params({k: str(v)[:6000] for k, v in params.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})
        mlflow.log_artifacts(str(artifact_dir))
    return run.info.run_id


def chain_anchors(warehouse: Path) -> list[tuple[str, str]]:
    """(invocation id, chain head "seq:hash") of every build run that recorded one."""
    if not os.environ.get("MLFLOW_TRACKING_URI") and not config.mlflow_db_path(warehouse).exists():
        return []
    mlflow = _client(warehouse)
    experiment = mlflow.get_experiment_by_name(BUILDS_EXPERIMENT)
    if experiment is None:
        return []
    runs = mlflow.search_runs(experiment_ids=[experiment.experiment_id], output_format="list")
    return sorted(
        (r.data.tags.get("dbt.invocation_id", ""), r.data.tags["lineage.chain_head"])
        for r in runs
        if ":" in r.data.tags.get("lineage.chain_head", "")
    )


def orphan_training_runs(warehouse: Path, known: set[str]) -> list[str]:
    """MLflow training runs whose training_run_id is not in `known` (a build killed after
    logging the run and before recording it): "<mlflow run id> (<training_run_id>)"."""
    if not os.environ.get("MLFLOW_TRACKING_URI") and not config.mlflow_db_path(warehouse).exists():
        return []
    mlflow = _client(warehouse)
    experiments = [
        e.experiment_id
        for e in mlflow.search_experiments()
        if e.name.startswith("customer-ml/") and e.name != BUILDS_EXPERIMENT
    ]
    if not experiments:
        return []
    runs = mlflow.search_runs(experiment_ids=experiments, output_format="list")
    return sorted(
        f"{r.info.run_id} ({r.data.tags.get('training_run_id')})"
        for r in runs
        if r.data.tags.get("training_run_id") not in known
    )


def set_champion(warehouse: Path, model_name: str, run: dict[str, Any]) -> str:
    """Register the run's model as a version of `customer-ml-<model>` and point the registry
    alias `champion` at it; returns the registry version."""
    mlflow = _client(warehouse)
    client = mlflow.MlflowClient()
    name = f"customer-ml-{model_name}"
    if not _exists(client, name):
        client.create_registered_model(name)
    source = config.recorded_file(warehouse, run["artifact_path"]).as_uri()
    version = client.create_model_version(
        name,
        source=source,
        run_id=run.get("mlflow_run_id"),
        tags={"training_run_id": run["training_run_id"], "model_version": run["model_version"]},
    )
    client.set_registered_model_alias(name, "champion", version.version)
    return str(version.version)


def _exists(client, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
        return True
    except MlflowException:
        return False
