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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from customer_ml import baselines, churn, clv, config, lineage, registry, reports, segments

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
    "fitted_params_json": "string",
    "mlflow_run_id": "string",
    "feature_version": "Int64",
    "label_version": "Int64",
    "seed": "Int64",
    "train_rows": "Int64",
    "validation_rows": "Int64",
    "best_iteration": "Int64",
    "validation_roc_auc": "float64",
    "baseline_roc_auc": "float64",
    "is_dirty": "bool",
    "no_regression": "boolean",
    "no_regression_json": "string",
    "train_as_of_min": "datetime64[us]",
    "train_as_of_max": "datetime64[us]",
    "validation_as_of_min": "datetime64[us]",
    "validation_as_of_max": "datetime64[us]",
    "started_at": "datetime64[us]",
    "finished_at": "datetime64[us]",
}

PREDICTION_COLUMNS: dict[str, str] = {
    "prediction_id": "string",
    "score_label": "string",
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
    return lineage.utc_now().replace(microsecond=0)


def _existing(
    session: duckdb.DuckDBPyConnection,
    this: str | None,
    column: str,
    candidates: list[str],
    where: str = "true",
) -> set[str]:
    """Which `candidates` are already recorded in `this`: a join in the warehouse on the new
    values only, not a fetch of every value ever recorded (which grows with each build)."""
    if not this or not candidates:
        return set()
    session.register("_candidates", pd.DataFrame({"value": candidates}))
    try:
        found = session.execute(
            f"select distinct t.{column} from {this} as t "
            f"inner join _candidates as c on t.{column} = c.value where {where}"
        ).fetchall()
    finally:
        session.unregister("_candidates")
    return {r[0] for r in found}


@dataclass
class TrainingContext:
    """Everything a training run is named by, gathered before it trains."""

    model_name: str
    run_type: str
    cfg: dict[str, Any]
    hyperparameters: dict[str, Any]
    seed: int
    git: lineage.GitState
    invocation_id: str
    snapshots: dict[str, str]
    definitions: dict[str, str]
    code: str
    version: str
    feature_version: int | None
    label_version: int | None
    warehouse: Path
    started_at: datetime

    @property
    def training_run_id(self) -> str:
        return f"{self.model_name}-{self.version[:12]}-{self.invocation_id[:8]}"


def begin_training(
    session: duckdb.DuckDBPyConnection,
    *,
    this: str | None,
    model_name: str,
    run_type: str | None,
    inputs: list[str],
    defined_by: list[str],
    feature_version: int | None = None,
    label_version: int | None = None,
    overrides: dict[str, Any] | None = None,
) -> TrainingContext | None:
    """Name the run (model_version from code, config, versions, snapshot and definition hashes);
    None when that model_version already trained successfully (nothing to do)."""
    run_type = run_type or "production"
    if run_type not in ("production", "experiment"):
        raise ValueError(f"run_type {run_type!r}: expected production or experiment")
    cfg = {**config.model_config(model_name), **(overrides or {})}
    git = lineage.git_state()
    check_clean(run_type, git)
    invocation_id = lineage.current_invocation(session)
    snapshots = lineage.build_snapshot_ids(session, invocation_id, inputs)
    definitions = lineage.definition_hashes(session, invocation_id, defined_by)
    code = lineage.code_hash()
    hyperparameters = cfg.get("hyperparameters", {})
    version = lineage.model_version(
        model_name=model_name,
        code=code,
        config_={**cfg, "run_type": run_type, "definitions": definitions},
        hyperparameters=hyperparameters,
        feature_version=feature_version or 0,
        label_version=label_version,
        snapshot_ids=sorted(snapshots.values()),
    )
    if _existing(session, this, "model_version", [version], "t.status = 'success'"):
        return None
    return TrainingContext(
        model_name=model_name,
        run_type=run_type,
        cfg=cfg,
        hyperparameters=hyperparameters,
        seed=int(cfg.get("seed", 0)),
        git=git,
        invocation_id=invocation_id,
        snapshots=snapshots,
        definitions=definitions,
        code=code,
        version=version,
        feature_version=feature_version,
        label_version=label_version,
        warehouse=lineage.warehouse_file(session),
        started_at=_now(),
    )


def finish_training(
    ctx: TrainingContext,
    *,
    model_bytes: bytes,
    model_file: str,
    metrics: dict[str, dict[str, float]],
    report: tuple[bytes, bytes],
    extra_files: dict[str, bytes],
    record: dict[str, Any],
    mlflow_params: dict[str, Any],
) -> pd.DataFrame:
    """Write the artifacts once, mirror the run to MLflow, return its one-row record."""
    final_dir = registry.artifact_dir(ctx.warehouse, ctx.model_name, ctx.training_run_id)
    shas = registry.write_artifacts(
        final_dir,
        {
            model_file: model_bytes,
            "metrics.json": json.dumps(metrics, indent=2, sort_keys=True).encode(),
            "validation_report.json": report[0],
            "validation_report.html": report[1],
            **extra_files,
        },
    )
    from customer_ml import promotion

    verdicts = promotion.no_regression(ctx.model_name, metrics)
    out: dict[str, Any] = {
        "no_regression": all(ok for _, ok, _ in verdicts),
        "no_regression_json": json.dumps(
            [{"check": name, "passed": ok, "detail": detail} for name, ok, detail in verdicts]
        ),
        "training_run_id": ctx.training_run_id,
        "model_name": ctx.model_name,
        "model_version": ctx.version,
        "run_type": ctx.run_type,
        "status": "success",
        "invocation_id": ctx.invocation_id,
        "git_commit": ctx.git.commit,
        "is_dirty": ctx.git.is_dirty,
        "lock_hash": lineage.lock_hash(),
        "code_hash": ctx.code,
        "snapshot_ids": lineage.stable_json(ctx.snapshots),
        "definition_hashes": lineage.stable_json(ctx.definitions),
        "config_json": lineage.stable_json(ctx.cfg),
        "hyperparameters_json": lineage.stable_json(ctx.hyperparameters),
        "metrics_json": lineage.stable_json(metrics),
        "baseline_metrics_json": lineage.stable_json(metrics.get("baseline", {})),
        "artifact_path": str(final_dir / model_file),
        "artifact_sha256": shas[model_file],
        "report_path": str(final_dir / "validation_report.html"),
        "report_sha256": shas["validation_report.html"],
        "feature_version": ctx.feature_version,
        "label_version": ctx.label_version,
        "seed": ctx.seed,
        "started_at": ctx.started_at,
        **record,
    }
    from customer_ml import tracking

    out["mlflow_run_id"] = tracking.log_training(
        ctx.warehouse,
        model_name=ctx.model_name,
        run_type=ctx.run_type,
        tags={
            "training_run_id": ctx.training_run_id,
            "model_version": ctx.version,
            "run_type": ctx.run_type,
            "dbt.invocation_id": ctx.invocation_id,
            "git.commit": ctx.git.commit,
            "git.dirty": str(ctx.git.is_dirty).lower(),
            "snapshot_ids": out["snapshot_ids"],
            "definition_hashes": out["definition_hashes"],
            "artifact_sha256": out["artifact_sha256"],
        },
        params={
            **{f"hp.{k}": v for k, v in ctx.hyperparameters.items()},
            "config": out["config_json"],
            "seed": ctx.seed,
            "feature_version": ctx.feature_version,
            "label_version": ctx.label_version,
            "lock_hash": out["lock_hash"],
            "code_hash": ctx.code,
            **mlflow_params,
        },
        metrics={
            f"{group}_{name}": value
            for group, values in metrics.items()
            for name, value in values.items()
            if isinstance(value, int | float)
        },
        artifact_dir=final_dir,
    )
    out["finished_at"] = _now()
    return _frame([out], TRAINING_RUN_COLUMNS)


class TrainingSuppressed(RuntimeError):
    pass


def consecutive_failures(session: duckdb.DuckDBPyConnection, model_name: str) -> int:
    """Failures since the model's last successful training run or root-cause note."""
    successes = (
        "select max(finished_at) from lineage.training_runs "
        "where model_name = $1 and status = 'success'"
    )
    try:
        session.execute("select 1 from lineage.training_runs limit 0").fetchall()
    except duckdb.CatalogException:  # the first build: no training run yet
        successes = "select cast(null as timestamp)"
    rows = session.execute(
        f"""
        with last_reset as (
            select max(reset_at) as reset_at from (
                select max(noted_at) as reset_at from lineage.rca_notes where model_name = $1
                union all
                {successes}
            )
        )
        select count(*) from lineage.training_failures
        where model_name = $1 and status = 'failed'
            and failed_at > coalesce((select reset_at from last_reset), timestamp '1970-01-01')
        """,
        [model_name],
    ).fetchall()
    return int(rows[0][0])


def guarded(
    model_name: str,
    session: duckdb.DuckDBPyConnection,
    run_type: str | None,
    train: Callable[[], pd.DataFrame],
) -> pd.DataFrame:
    """Run `train` with failure handling (DESIGN.md invariant 10): a failure is recorded in
    lineage.training_failures and alerted, then re-raised so the build shows it (scoring, which
    does not depend on training, still runs). After max_consecutive_failures the alert escalates
    and training stays suppressed (no run, an alert) until `customer-ml rca` records a note."""
    from customer_ml import alerts

    cfg = config.model_config(model_name)
    limit = int(cfg.get("max_consecutive_failures", 3))
    invocation_id = lineage.current_invocation(session)
    failures = consecutive_failures(session, model_name)
    if failures >= limit:
        message = (
            f"training suppressed after {failures} consecutive failures; record the root cause "
            f"with `customer-ml rca {model_name} --note ...` to resume"
        )
        session.execute(
            "insert into lineage.training_failures values (?, ?, ?, 'suppressed', ?, now())",
            [model_name, invocation_id, run_type or "production", message],
        )
        alerts.raise_alert(
            session,
            model_name=model_name,
            kind="training_suppressed",
            severity="critical",
            message=message,
            invocation_id=invocation_id,
        )
        return _frame([], TRAINING_RUN_COLUMNS)
    try:
        return train()
    except Exception as e:
        error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        session.execute(
            "insert into lineage.training_failures values (?, ?, ?, 'failed', ?, now())",
            [model_name, invocation_id, run_type or "production", error[:2000]],
        )
        escalated = failures + 1 >= limit
        alerts.raise_alert(
            session,
            model_name=model_name,
            kind="training_failed_escalated" if escalated else "training_failed",
            severity="critical" if escalated else "warning",
            message=f"training failed ({failures + 1} in a row): {error}"
            + ("; training is suppressed until a root-cause note" if escalated else ""),
            invocation_id=invocation_id,
        )
        raise


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
    if dataset.empty:
        raise ValueError("churn_training_dataset is empty: no labelled as_of in the data yet")
    feature_version = int(dataset["feature_version"].iloc[0])
    label_version = int(dataset["label_version"].iloc[0])
    inputs = churn_training_inputs(feature_version, label_version)
    ctx = begin_training(
        session,
        this=this,
        model_name="churn",
        run_type=run_type,
        inputs=inputs,
        defined_by=inputs[3:],
        feature_version=feature_version,
        label_version=label_version,
    )
    if ctx is None:
        return _frame([], TRAINING_RUN_COLUMNS)
    cfg, seed = ctx.cfg, ctx.seed
    data = churn.sample_rows(dataset, int(cfg["max_training_rows"]), seed)
    train_df, valid_df = churn.time_split(data, int(cfg["validation_as_of_count"]))
    model = churn.train(
        train_df,
        valid_df,
        ctx.hyperparameters,
        seed,
        feature_version,
        calibration=cfg.get("calibration", "none"),
    )
    # Candidate, baseline and champion on the same holdout (after calibration's share).
    valid_df = valid_df[valid_df["as_of"].isin(model.holdout_as_of)]
    baseline_scores = baselines.churn_scores(valid_df)
    y_valid = valid_df[churn.LABEL].to_numpy()
    baseline_metrics = churn.evaluate(y_valid, baseline_scores)
    importance = model.feature_importance()
    metrics = {"candidate": model.metrics, "baseline": baseline_metrics}
    serving = registry.champion(session, "churn", max_age_check=False)
    scores = {"candidate": model.predict(valid_df), "baseline": baseline_scores}
    if serving is not None:
        # The current champion on the candidate's holdout, for the no-regression gate.
        champion_model = churn.ChurnModel.from_bytes(
            registry.read_verified(Path(serving["artifact_path"]), serving["artifact_sha256"]),
            int(serving["feature_version"]),
        )
        try:
            scores["champion"] = champion_model.predict(valid_df)
            metrics["champion"] = churn.evaluate(y_valid, scores["champion"])
        except KeyError:  # the champion needs a feature version this dataset lacks
            metrics["champion"] = {"not_comparable_feature_version": 1.0}
    facts = {
        "training_run_id": ctx.training_run_id,
        "model_version": ctx.version,
        "run_type": ctx.run_type,
        "feature_version": feature_version,
        "label_version": label_version,
        "train_as_of": f"{train_df['as_of'].min()} .. {train_df['as_of'].max()}",
        "validation_as_of": f"{valid_df['as_of'].min()} .. {valid_df['as_of'].max()}",
        "train_rows": len(train_df),
        "validation_rows": len(valid_df),
        "best_iteration": model.best_iteration,
        "seed": seed,
        "git_commit": ctx.git.commit,
        "is_dirty": ctx.git.is_dirty,
        "build": ctx.invocation_id,
    }
    report = reports.classifier_report(
        title=f"Churn model {ctx.version} — validation",
        facts=facts,
        y=y_valid,
        scores=scores,
        metrics=metrics,
        importance=importance,
        contributions=model.mean_abs_contribution(valid_df),
    )
    buffer = io.StringIO()
    importance.to_csv(buffer, index=False)
    return finish_training(
        ctx,
        model_bytes=model.to_bytes(),
        model_file="model.txt",
        metrics=metrics,
        report=report,
        extra_files={"feature_importance.csv": buffer.getvalue().encode()},
        record={
            "feature_definition_hash": ctx.definitions[inputs[3]],
            "label_definition_hash": ctx.definitions[inputs[4]],
            "feature_importance_json": importance.to_json(orient="records"),
            "train_rows": len(train_df),
            "validation_rows": len(valid_df),
            "best_iteration": model.best_iteration,
            "validation_roc_auc": model.metrics["roc_auc"],
            "baseline_roc_auc": baseline_metrics["roc_auc"],
            "train_as_of_min": train_df["as_of"].min(),
            "train_as_of_max": train_df["as_of"].max(),
            "validation_as_of_min": valid_df["as_of"].min(),
            "validation_as_of_max": valid_df["as_of"].max(),
        },
        mlflow_params={
            "feature_definition_hash": ctx.definitions[inputs[3]],
            "label_definition_hash": ctx.definitions[inputs[4]],
        },
    )


CLV_INPUTS = ["raw.orders", "datasets.clv_transactions"]


def train_clv(
    transactions: pd.DataFrame,
    session: duckdb.DuckDBPyConnection,
    *,
    this: str | None,
    run_type: str | None = "production",
    time_unit: str | None = None,
) -> pd.DataFrame:
    """Fit BG/NBD + Gamma-Gamma on the calibration period, validate on the holdout, then refit on
    everything known at the latest as_of for scoring; returns the training-run record.

    `time_unit` (days or weeks; dbt var clv_time_unit) overrides config/models.yml."""
    if time_unit is not None and time_unit not in clv.UNITS:
        raise ValueError(f"clv_time_unit {time_unit!r}: expected one of {', '.join(clv.UNITS)}")
    ctx = begin_training(
        session,
        this=this,
        model_name="clv",
        run_type=run_type,
        inputs=CLV_INPUTS,
        defined_by=["datasets.clv_transactions"],
        overrides={"time_unit": time_unit} if time_unit else None,
    )
    if ctx is None:
        return _frame([], TRAINING_RUN_COLUMNS)
    cfg = ctx.cfg
    unit, penalizer = cfg.get("time_unit", "weeks"), float(cfg["penalizer"])
    calibration = transactions[transactions["period"] == "calibration"]
    holdout = transactions[transactions["period"] == "holdout"]
    scoring = transactions[transactions["period"] == "scoring"]
    if calibration.empty:
        raise ValueError("clv_transactions has no calibration rows: no as_of with a full holdout")
    calibration_end = pd.Timestamp(calibration["period_end"].iloc[0])
    holdout_end = calibration_end + pd.Timedelta(days=int(calibration["holdout_days"].iloc[0]))
    calibrated = clv.fit(clv.summary(calibration, calibration_end, unit), unit, penalizer)
    cal_holdout = clv.calibration_holdout(
        pd.concat([calibration, holdout]), calibration_end, holdout_end, unit
    )
    candidate, by_frequency = clv.validate(
        calibrated, cal_holdout, clv.holdout_actual_spend(holdout)
    )
    baseline_predicted = baselines.clv_holdout_transactions(cal_holdout)
    actual = cal_holdout["frequency_holdout"].to_numpy(dtype=float)
    baseline = {
        "holdout_transactions_predicted": float(baseline_predicted.sum()),
        "holdout_transactions_actual": float(actual.sum()),
        "holdout_transactions_relative_error": float(
            (baseline_predicted.sum() - actual.sum()) / max(actual.sum(), 1.0)
        ),
        "holdout_transactions_mae": float(np.abs(baseline_predicted - actual).mean()),
    }
    scoring_end = pd.Timestamp(scoring["period_end"].iloc[0])
    model = clv.fit(clv.summary(scoring, scoring_end, unit), unit, penalizer)
    metrics = {"candidate": candidate, "baseline": baseline}
    facts = {
        "training_run_id": ctx.training_run_id,
        "model_version": ctx.version,
        "run_type": ctx.run_type,
        "time_unit": unit,
        "calibration_end": calibration_end.date(),
        "holdout_end": holdout_end.date(),
        "scoring_fit_end": scoring_end.date(),
        "calibration_params": calibrated.params,
        "scoring_params": model.params,
        "git_commit": ctx.git.commit,
        "build": ctx.invocation_id,
    }
    report = reports.table_report(
        title=f"CLV model {ctx.version} — validation",
        facts=facts,
        metrics=metrics,
        tables={"Holdout repeat transactions by calibration frequency (10 = 10+)": by_frequency},
        plot=("frequency_cal", ["predicted", "actual"], "mean holdout transactions"),
    )
    return finish_training(
        ctx,
        model_bytes=model.to_bytes(),
        model_file="model.json",
        metrics=metrics,
        report=report,
        extra_files={"calibration_model.json": calibrated.to_bytes()},
        record={
            "fitted_params_json": lineage.stable_json(
                {"calibration": calibrated.params, "scoring": model.params}
            ),
            "train_rows": len(scoring),
            "validation_rows": len(cal_holdout),
            "train_as_of_max": scoring_end,
            "validation_as_of_min": calibration_end,
            "validation_as_of_max": holdout_end,
        },
        mlflow_params={
            **{f"param.{k}": v for k, v in model.params.items()},
            **{f"calibration_param.{k}": v for k, v in calibrated.params.items()},
            "time_unit": unit,
            "calibration_end": str(calibration_end.date()),
        },
    )


def prediction_id(model_version: str, snapshot_id: str, customer_id: int, as_of: Any) -> str:
    key = f"{model_version}|{snapshot_id}|{customer_id}|{pd.Timestamp(as_of).date()}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Serving:
    """What scores this build: the champion (with its artifact) or the rule baseline."""

    kind: str
    model_version: str
    training_run_id: str
    artifact: bytes | None = None
    feature_version: int | None = None


def serving_model(session: duckdb.DuckDBPyConnection, model_name: str) -> Serving:
    serving = registry.champion(session, model_name)
    if serving is None:
        version = baselines.version()
        return Serving("baseline", version, version)
    return Serving(
        "champion",
        serving["model_version"],
        serving["training_run_id"],
        registry.read_verified(Path(serving["artifact_path"]), serving["artifact_sha256"]),
        int(serving["feature_version"]) if serving["feature_version"] is not None else None,
    )


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
    serving = serving_model(session, "churn")
    feature_version = serving.feature_version or 1
    relation = f"features.customer_features_v{feature_version}"
    features = latest_features(feature_version)
    features = features.sort_values("customer_id", kind="stable").reset_index(drop=True)
    if serving.artifact is None:
        scores = baselines.churn_scores(features)
    else:
        scores = churn.ChurnModel.from_bytes(serving.artifact, feature_version).predict(features)
    return prediction_frame(
        session,
        this=this,
        model_name="churn",
        serving=serving,
        relation=relation,
        feature_version=feature_version,
        customer_ids=features["customer_id"].to_numpy(),
        as_of=pd.to_datetime(features["as_of"]),
        scores=np.asarray(scores, dtype="float64"),
    )


def prediction_frame(
    session: duckdb.DuckDBPyConnection,
    *,
    this: str | None,
    model_name: str,
    serving: Serving,
    relation: str,
    feature_version: int,
    customer_ids: np.ndarray,
    as_of: pd.Series | pd.Timestamp,
    scores: np.ndarray,
    labels: list[str] | None = None,
) -> pd.DataFrame:
    """Prediction rows with full lineage; ids already in `this` are left out (idempotent).

    The build's serving decision (which model kind and version scores) is appended to
    lineage.serving_decisions: it is what fct_customer_scores serves, even when the rows
    themselves were written by an earlier build."""
    invocation_id = lineage.current_invocation(session)
    snapshot_id = lineage.build_snapshot_ids(session, invocation_id, [relation])[relation]
    kind, version, training_run_id = (
        serving.kind,
        serving.model_version,
        serving.training_run_id,
    )
    session.execute(
        "insert into lineage.serving_decisions values (?, ?, ?, ?, ?, ?)",
        [invocation_id, model_name, kind, version, training_run_id, _now()],
    )
    git = lineage.git_state()
    if kind == "baseline":
        # The rule is registered like a training run, once per model and version.
        session.execute(
            """
            insert into lineage.baseline_runs
            select ?, ?, ?, 'baseline', 'success', ?, ?, ?, ?, ?, ?
            where not exists (
                select 1 from lineage.baseline_runs where model_name = ? and model_version = ?
            )
            """,
            [
                training_run_id,
                model_name,
                version,
                version.removeprefix("baseline-"),
                git.commit,
                git.is_dirty,
                lineage.lock_hash(),
                invocation_id,
                _now(),
                model_name,
                version,
            ],
        )
    as_of_values = (
        as_of if isinstance(as_of, pd.Series) else pd.Series(as_of, index=range(len(customer_ids)))
    )
    ids = [
        prediction_id(version, snapshot_id, c, a)
        for c, a in zip(customer_ids, as_of_values, strict=True)
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
            "customer_id": customer_ids,
            "feature_version": feature_version,
            "score": scores,
            "score_label": labels if labels is not None else None,
            "as_of": pd.to_datetime(as_of_values.to_numpy()),
            "scored_at": _now(),
        }
    )
    seen = _existing(session, this, "prediction_id", ids)
    if seen:
        out = out[~out["prediction_id"].isin(seen)]
    return out[list(PREDICTION_COLUMNS)].astype(PREDICTION_COLUMNS).reset_index(drop=True)


def score_clv(
    transactions: pd.DataFrame,
    session: duckdb.DuckDBPyConnection,
    *,
    this: str | None,
) -> pd.DataFrame:
    """CLV of every customer known at the latest as_of, by the champion or the baseline
    (trailing 12-month spend). CLV reads the transaction log, not a feature table:
    feature_version 0."""
    cfg = config.model_config("clv")
    scoring = transactions[transactions["period"] == "scoring"]
    period_end = pd.Timestamp(scoring["period_end"].iloc[0])
    horizon = int(cfg["horizon_months"])
    serving = serving_model(session, "clv")
    if serving.artifact is None:
        values = baselines.clv_value(scoring, period_end, horizon)
        customer_ids, scores = values.index.to_numpy(), values.to_numpy(dtype=float)
    else:
        model = clv.ClvModel.from_bytes(serving.artifact)
        rfm = clv.summary(scoring, period_end, model.unit)
        customer_ids = rfm.index.to_numpy()
        scores = model.clv(rfm, horizon, float(cfg["monthly_discount_rate"]))
    return prediction_frame(
        session,
        this=this,
        model_name="clv",
        serving=serving,
        relation="datasets.clv_transactions",
        feature_version=0,
        customer_ids=customer_ids.astype("int64"),
        as_of=pd.Timestamp(period_end),
        scores=np.asarray(scores, dtype="float64"),
    )


SEGMENTS_INPUT = "features.customer_features_v2"


def _previous_segment_model(session: duckdb.DuckDBPyConnection, this: str | None):
    if not this:
        return None
    rows = session.execute(
        f"select artifact_path, artifact_sha256 from {this} where status = 'success' "
        "order by started_at desc limit 1"
    ).fetchall()
    if not rows:
        return None
    return segments.SegmentModel.from_bytes(registry.read_verified(Path(rows[0][0]), rows[0][1]))


def train_segments(
    features: pd.DataFrame,
    session: duckdb.DuckDBPyConnection,
    *,
    this: str | None,
    run_type: str | None = "production",
) -> pd.DataFrame:
    """k-means segments on customers with an order at the latest as_of, ids matched to the
    previous model's; returns the training-run record."""
    ctx = begin_training(
        session,
        this=this,
        model_name="segments",
        run_type=run_type,
        inputs=[SEGMENTS_INPUT],
        defined_by=[SEGMENTS_INPUT],
        feature_version=2,
    )
    if ctx is None:
        return _frame([], TRAINING_RUN_COLUMNS)
    cfg = ctx.cfg
    df = features[features["orders_lifetime"] > 0].sort_values("customer_id", kind="stable")
    df = df.reset_index(drop=True)
    previous = _previous_segment_model(session, this)
    model, silhouettes = segments.fit(
        df,
        k=cfg.get("k"),
        k_range=(int(cfg["k_min"]), int(cfg["k_max"])),
        seed=ctx.seed,
        previous=previous,
        silhouette_sample=int(cfg["silhouette_sample"]),
    )
    candidate: dict[str, float] = {"k": float(len(model.segment_ids))}
    if silhouettes:
        candidate["silhouette"] = silhouettes[len(model.segment_ids)]
    if previous is not None:
        candidate.update(segments.stability(previous, model, df))
    rules = baselines.segment_rules(df)
    assigned = model.predict(df)
    from sklearn.metrics import adjusted_rand_score

    baseline = {
        "k": 4.0,
        "adjusted_rand_index_vs_candidate": float(adjusted_rand_score(rules, assigned)),
    }
    profile = segments.profile(model, df)
    metrics = {"candidate": candidate, "baseline": baseline}
    as_of = pd.Timestamp(df["as_of"].max())
    facts = {
        "training_run_id": ctx.training_run_id,
        "model_version": ctx.version,
        "as_of": as_of.date(),
        "customers": len(df),
        "silhouette_by_k": silhouettes or "k fixed by config",
        "matched_to_previous_model": previous is not None,
        "seed": ctx.seed,
        "git_commit": ctx.git.commit,
        "build": ctx.invocation_id,
    }
    report = reports.table_report(
        title=f"Segments model {ctx.version} — profile and stability",
        facts=facts,
        metrics=metrics,
        tables={"Segment profiles": profile},
    )
    return finish_training(
        ctx,
        model_bytes=model.to_bytes(),
        model_file="model.json",
        metrics=metrics,
        report=report,
        extra_files={"profile.csv": profile.to_csv(index=False).encode()},
        record={
            "feature_definition_hash": ctx.definitions[SEGMENTS_INPUT],
            "fitted_params_json": lineage.stable_json(
                {"segments": dict(zip(model.segment_ids, model.names, strict=True))}
            ),
            "train_rows": len(df),
            "train_as_of_max": as_of,
        },
        mlflow_params={
            "k": len(model.segment_ids),
            "feature_definition_hash": ctx.definitions[SEGMENTS_INPUT],
        },
    )


def score_segments(
    latest_features: pd.DataFrame,
    session: duckdb.DuckDBPyConnection,
    *,
    this: str | None,
) -> pd.DataFrame:
    """Segment of every customer with an order at the latest as_of: champion or RFM rules."""
    df = latest_features[latest_features["orders_lifetime"] > 0]
    df = df.sort_values("customer_id", kind="stable").reset_index(drop=True)
    serving = serving_model(session, "segments")
    if serving.artifact is None:
        ids = baselines.segment_rules(df)
        labels = [baselines.SEGMENT_RULE_NAMES[int(i)] for i in ids]
    else:
        model = segments.SegmentModel.from_bytes(serving.artifact)
        ids = model.predict(df)
        labels = [model.name_of(int(i)) for i in ids]
    return prediction_frame(
        session,
        this=this,
        model_name="segments",
        serving=serving,
        relation=SEGMENTS_INPUT,
        feature_version=2,
        customer_ids=df["customer_id"].to_numpy(),
        as_of=pd.to_datetime(df["as_of"]),
        scores=np.asarray(ids, dtype="float64"),
        labels=labels,
    )
