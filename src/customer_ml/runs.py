"""Training and scoring runs as the dbt Python models call them.

A training run names every input (data snapshot ids, feature and label versions, code, config,
hyperparameters, seed), derives its `model_version` from them, writes its artifacts once, mirrors
itself to MLflow and returns its record: one row appended to its model's training table, which
`lineage.training_runs` unions. A run whose model_version already trained successfully is not
repeated, so rebuilding unchanged inputs adds nothing.

A scoring run scores every customer at the latest as_of with the champion, or with the rule
baseline when there is none, and returns prediction rows that carry their full lineage.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from customer_ml import baselines, churn, config, lineage, registry, reports

TRAINING_RUN_COLUMNS: dict[str, str] = {
    "training_run_id": "string",
    "model_name": "string",
    "model_version": "string",
    "run_type": "string",
    "status": "string",
    "invocation_id": "string",
    "git_commit": "string",
    "lock_hash": "string",
    "code_hash": "string",
    "snapshot_ids": "string",
    "config_json": "string",
    "hyperparameters_json": "string",
    "metrics_json": "string",
    "baseline_metrics_json": "string",
    "artifact_path": "string",
    "artifact_sha256": "string",
    "feature_importance_json": "string",
    "definition_hashes": "string",
    "feature_definition_hash": "string",
    "label_definition_hash": "string",
    "report_path": "string",
    "report_sha256": "string",
    "mlflow_run_id": "string",
    "feature_version": "int64",
    "label_version": "int64",
    "seed": "int64",
    "train_rows": "int64",
    "validation_rows": "int64",
    "best_iteration": "int64",
    "validation_roc_auc": "float64",
    "baseline_roc_auc": "float64",
    "is_dirty": "bool",
    "train_as_of_min": "datetime64[us]",
    "train_as_of_max": "datetime64[us]",
    "validation_as_of_min": "datetime64[us]",
    "validation_as_of_max": "datetime64[us]",
    "started_at": "datetime64[us]",
    "finished_at": "datetime64[us]",
}

PREDICTION_COLUMNS: dict[str, str] = {
    "prediction_id": "string",
    "model_name": "string",
    "model_kind": "string",
    "model_version": "string",
    "training_run_id": "string",
    "snapshot_id": "string",
    "git_commit": "string",
    "invocation_id": "string",
    "customer_id": "int64",
    "feature_version": "int64",
    "score": "float64",
    "as_of": "datetime64[us]",
    "scored_at": "datetime64[us]",
}


def churn_training_inputs(feature_version: int, label_version: int) -> list[str]:
    return [
        "raw.orders",
        "raw.customers",
        "raw.engagement_events",
        f"features.customer_features_v{feature_version}",
        f"labels.churn_labels_v{label_version}",
        "datasets.churn_training_dataset",
    ]


class DirtyTreeError(RuntimeError):
    """A production training run needs a committed tree: the commit must name the code."""


def check_clean(run_type: str, git: lineage.GitState) -> None:
    if run_type == "production" and git.is_dirty:
        raise DirtyTreeError(
            f"production training refused: the git tree at {config.project_dir()} has "
            "uncommitted changes, so its commit would not name the code; commit them, or run "
            "an experiment: dbt build --vars '{run_type: experiment}'"
        )


def _frame(rows: list[dict[str, Any]], columns: dict[str, str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(columns))
    return df.astype(columns)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _existing(session: duckdb.DuckDBPyConnection, this: str | None, column: str, where: str = ""):
    if not this:
        return set()
    return {r[0] for r in session.execute(f"select {column} from {this} {where}").fetchall()}


def train_churn(
    dataset: pd.DataFrame,
    session: duckdb.DuckDBPyConnection,
    *,
    this: str | None,
    run_type: str | None = "production",
) -> pd.DataFrame:
    """Train churn on the pinned training dataset; returns the training-run record (or no row).

    The feature and label versions are the dataset's (pinned by dbt vars); every input relation
    must have a data snapshot registered in this build.
    """
    model_name = "churn"
    run_type = run_type or "production"
    if run_type not in ("production", "experiment"):
        raise ValueError(f"run_type {run_type!r}: expected production or experiment")
    cfg = config.model_config(model_name)
    seed = int(cfg["seed"])
    hyperparameters = cfg["hyperparameters"]
    if dataset.empty:
        raise ValueError("churn_training_dataset is empty: no labelled as_of in the data yet")
    feature_version = int(dataset["feature_version"].iloc[0])
    label_version = int(dataset["label_version"].iloc[0])
    git = lineage.git_state()
    check_clean(run_type, git)
    invocation_id = lineage.current_invocation(session)
    inputs = churn_training_inputs(feature_version, label_version)
    snapshots = lineage.build_snapshot_ids(session, invocation_id, inputs)
    definitions = lineage.definition_hashes(session, invocation_id, inputs[3:])
    code = lineage.code_hash()
    version = lineage.model_version(
        model_name=model_name,
        code=code,
        config_={**cfg, "run_type": run_type, "definitions": definitions},
        hyperparameters=hyperparameters,
        feature_version=feature_version,
        label_version=label_version,
        snapshot_ids=sorted(snapshots.values()),
    )
    if version in _existing(session, this, "model_version", "where status = 'success'"):
        return _frame([], TRAINING_RUN_COLUMNS)

    started_at = _now()
    data = churn.sample_rows(dataset, int(cfg["max_training_rows"]), seed)
    train_df, valid_df = churn.time_split(data, int(cfg["validation_as_of_count"]))
    model = churn.train(train_df, valid_df, hyperparameters, seed, feature_version)
    baseline_scores = baselines.churn_scores(valid_df)
    y_valid = valid_df[churn.LABEL].to_numpy()
    baseline_metrics = churn.evaluate(y_valid, baseline_scores)
    importance = model.feature_importance()
    training_run_id = f"{model_name}-{version[:12]}-{invocation_id[:8]}"
    warehouse = lineage.warehouse_file(session)
    final_dir = registry.artifact_dir(warehouse, model_name, training_run_id)
    metrics = {"candidate": model.metrics, "baseline": baseline_metrics}
    facts = {
        "training_run_id": training_run_id,
        "model_version": version,
        "run_type": run_type,
        "feature_version": feature_version,
        "label_version": label_version,
        "train_as_of": f"{train_df['as_of'].min()} .. {train_df['as_of'].max()}",
        "validation_as_of": f"{valid_df['as_of'].min()} .. {valid_df['as_of'].max()}",
        "train_rows": len(train_df),
        "validation_rows": len(valid_df),
        "best_iteration": model.best_iteration,
        "seed": seed,
        "git_commit": git.commit,
        "is_dirty": git.is_dirty,
        "build": invocation_id,
    }
    report_json, report_html = reports.classifier_report(
        title=f"Churn model {version} — validation",
        facts=facts,
        y=y_valid,
        scores={"candidate": model.predict(valid_df), "baseline": baseline_scores},
        metrics=metrics,
        importance=importance,
        contributions=model.mean_abs_contribution(valid_df),
    )
    buffer = io.StringIO()
    importance.to_csv(buffer, index=False)
    shas = registry.write_artifacts(
        final_dir,
        {
            "model.txt": model.to_bytes(),
            "feature_importance.csv": buffer.getvalue().encode(),
            "metrics.json": json.dumps(metrics, indent=2, sort_keys=True).encode(),
            "validation_report.json": report_json,
            "validation_report.html": report_html,
        },
    )
    record: dict[str, Any] = {
        "training_run_id": training_run_id,
        "model_name": model_name,
        "model_version": version,
        "run_type": run_type,
        "status": "success",
        "invocation_id": invocation_id,
        "git_commit": git.commit,
        "lock_hash": lineage.lock_hash(),
        "code_hash": code,
        "snapshot_ids": lineage.stable_json(snapshots),
        "definition_hashes": lineage.stable_json(definitions),
        "feature_definition_hash": definitions[inputs[3]],
        "label_definition_hash": definitions[inputs[4]],
        "config_json": lineage.stable_json(cfg),
        "hyperparameters_json": lineage.stable_json(hyperparameters),
        "metrics_json": lineage.stable_json(metrics),
        "baseline_metrics_json": lineage.stable_json(baseline_metrics),
        "artifact_path": str(final_dir / "model.txt"),
        "artifact_sha256": shas["model.txt"],
        "report_path": str(final_dir / "validation_report.html"),
        "report_sha256": shas["validation_report.html"],
        "feature_importance_json": importance.to_json(orient="records"),
        "feature_version": feature_version,
        "label_version": label_version,
        "seed": seed,
        "train_rows": len(train_df),
        "validation_rows": len(valid_df),
        "best_iteration": model.best_iteration,
        "validation_roc_auc": model.metrics["roc_auc"],
        "baseline_roc_auc": baseline_metrics["roc_auc"],
        "is_dirty": git.is_dirty,
        "train_as_of_min": train_df["as_of"].min(),
        "train_as_of_max": train_df["as_of"].max(),
        "validation_as_of_min": valid_df["as_of"].min(),
        "validation_as_of_max": valid_df["as_of"].max(),
        "started_at": started_at,
    }
    from customer_ml import tracking

    record["mlflow_run_id"] = tracking.log_training(
        warehouse,
        model_name=model_name,
        run_type=run_type,
        tags={
            "training_run_id": training_run_id,
            "model_version": version,
            "run_type": run_type,
            "dbt.invocation_id": invocation_id,
            "git.commit": git.commit,
            "git.dirty": str(git.is_dirty).lower(),
            "snapshot_ids": record["snapshot_ids"],
            "definition_hashes": record["definition_hashes"],
            "artifact_sha256": record["artifact_sha256"],
        },
        params={
            **{f"hp.{k}": v for k, v in hyperparameters.items()},
            "config": record["config_json"],
            "seed": seed,
            "feature_version": feature_version,
            "label_version": label_version,
            "feature_definition_hash": record["feature_definition_hash"],
            "label_definition_hash": record["label_definition_hash"],
            "lock_hash": record["lock_hash"],
            "code_hash": code,
        },
        metrics={
            **{f"validation_{k}": v for k, v in model.metrics.items()},
            **{f"baseline_{k}": v for k, v in baseline_metrics.items()},
            "best_iteration": model.best_iteration,
        },
        artifact_dir=final_dir,
    )
    record["finished_at"] = _now()
    return _frame([record], TRAINING_RUN_COLUMNS)


def prediction_id(model_version: str, snapshot_id: str, customer_id: int, as_of: Any) -> str:
    key = f"{model_version}|{snapshot_id}|{customer_id}|{pd.Timestamp(as_of).date()}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def score_churn(
    latest_features: Callable[[int], pd.DataFrame],
    session: duckdb.DuckDBPyConnection,
    *,
    this: str | None,
) -> pd.DataFrame:
    """Score every customer at the latest as_of with the champion, or the rule baseline.

    `latest_features(v)` returns customer_features version v at its latest as_of; the champion's
    feature version decides which is read (the baseline reads version 1).
    """
    model_name = "churn"
    invocation_id = lineage.current_invocation(session)
    serving = registry.champion(session, model_name)
    feature_version = 1 if serving is None else int(serving["feature_version"])
    relation = f"features.customer_features_v{feature_version}"
    snapshot_id = lineage.build_snapshot_ids(session, invocation_id, [relation])[relation]
    features = latest_features(feature_version)
    features = features.sort_values("customer_id", kind="stable").reset_index(drop=True)
    if serving is None:
        kind, version = "baseline", baselines.version()
        training_run_id = version
        scores = baselines.churn_scores(features)
    else:
        data = registry.read_verified(Path(serving["artifact_path"]), serving["artifact_sha256"])
        kind, version = "champion", serving["model_version"]
        training_run_id = serving["training_run_id"]
        scores = churn.ChurnModel.from_bytes(data, feature_version).predict(features)
    git = lineage.git_state()
    ids = [
        prediction_id(version, snapshot_id, c, a)
        for c, a in zip(features["customer_id"], features["as_of"], strict=True)
    ]
    out = pd.DataFrame(
        {
            "prediction_id": ids,
            "model_name": model_name,
            "model_kind": kind,
            "model_version": version,
            "training_run_id": training_run_id,
            "snapshot_id": snapshot_id,
            "git_commit": git.commit,
            "invocation_id": invocation_id,
            "customer_id": features["customer_id"].to_numpy(),
            "feature_version": feature_version,
            "score": np.asarray(scores, dtype="float64"),
            "as_of": pd.to_datetime(features["as_of"]),
            "scored_at": _now(),
        }
    )
    seen = _existing(session, this, "prediction_id")
    if seen:
        out = out[~out["prediction_id"].isin(seen)]
    return out[list(PREDICTION_COLUMNS)].astype(PREDICTION_COLUMNS).reset_index(drop=True)
