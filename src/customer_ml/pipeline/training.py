"""Training runs, the same way for every model in the catalogue.

A run is named before it trains: every input's data snapshot id, the feature and label versions
it reads and their definition hashes, code, config (with the dbt vars the model declares,
validated), hyperparameters and seed give its `model_version` (invariant 5). A model_version
that already trained successfully is not repeated, so rebuilding unchanged inputs adds nothing.
Then the model module does the modelling through the model protocol (customer_ml.models.protocol).
customer_ml.models.evaluation measures candidate, baseline and the current champion on the same
holdout; the verdict is recorded with the run and re-checked by the promotion gates. Artifacts are
written once, the run is mirrored to MLflow, and its record (one row) is returned to the dbt Python
model, which appends it to ml.ml_<model>__train. Every run is also written as an MLflow model
beside its
artifact (customer_ml.records.served_model), which promotion registers. Training never calls into
promotion.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from customer_ml import catalogue, config
from customer_ml.models import evaluation
from customer_ml.models.protocol import Described
from customer_ml.pipeline import build_vars, costs, quotas, retraining, retraining_policy
from customer_ml.pipeline.training_context import Context
from customer_ml.records import lineage, registry, store, tables


def _now() -> datetime:
    return lineage.utc_now().replace(microsecond=0)


def _trained_already(
    session: duckdb.DuckDBPyConnection, this: str | None, version: str
) -> dict[str, Any] | None:
    """The successful run of `version`, if one trained, as the evidence of a skip. Only a run of
    a build that finished counts: a build killed after training left a run that can never be
    promoted, and must not stop the next build from training this version again."""
    if not this:
        return None
    found = session.execute(
        f"select training_run_id, started_at from {this} where model_version = ? and status = "
        "'success' and invocation_id in (select invocation_id from lineage.builds) "
        "order by started_at limit 1",
        [version],
    ).fetchall()
    if not found:
        return None
    return {"model_version": version, "trained_by": found[0][0], "trained_at": str(found[0][1])}


def policy(entry: catalogue.Entry, dbt_vars: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the model is trained with: its reviewed policy, with the build's vars it allows."""
    cfg = {**entry.policy, **build_vars.validate_vars(entry, dbt_vars or {})}
    cfg.pop("vars", None)
    for when_not_what in ("retraining", "monthly_budget_usd"):  # not in model_version
        cfg.pop(when_not_what, None)
    return cfg


def begin(
    session: duckdb.DuckDBPyConnection,
    entry: catalogue.Entry,
    *,
    this: str | None,
    run_type: str | None,
    feature_version: int,
    label_version: int | None,
    dbt_vars: dict[str, Any] | None = None,
) -> Context:
    """Name the run: its inputs, code and config, hence its model_version."""
    run_type = str(build_vars.check_var("run_type", build_vars.RUN_TYPE, run_type or "production"))
    cfg = policy(entry, dbt_vars)
    git = lineage.git_state()
    build_vars.check_clean(run_type, git)
    invocation_id = lineage.current_invocation(session)
    snapshots = lineage.build_snapshot_ids(
        session, invocation_id, entry.inputs(feature_version, label_version)
    )
    definitions = lineage.definition_hashes(
        session, entry.defined_by(feature_version, label_version)
    )
    code = lineage.code_hash()
    hyperparameters = cfg.get("hyperparameters", {})
    version = lineage.model_version(
        model_name=entry.name,
        code=code,
        config_={**cfg, "run_type": run_type, "definitions": definitions},
        hyperparameters=hyperparameters,
        feature_version=feature_version,
        label_version=label_version,
        snapshot_ids=sorted(snapshots.values()),
    )
    return Context(
        entry=entry,
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


def load_model(entry: catalogue.Entry, run: dict[str, Any], warehouse: Path) -> Any:
    """A recorded training run's model, from its artifact (sha256 verified)."""
    path = config.recorded_file(warehouse, run["artifact_path"])
    data = registry.read_verified(path, run["artifact_sha256"])
    return entry.module.MODEL.from_bytes(data)


def run(
    model_name: str,
    dataset: Any,
    session: duckdb.DuckDBPyConnection,
    *,
    this: str | None,
    run_type: str | None,
    feature_version: int,
    label_version: int | None = None,
    dbt_vars: dict[str, Any] | None = None,
    retrain: str | None = None,
    bytes_scanned: int | None = None,
) -> pd.DataFrame:
    """Train `model_name` on `dataset` (what its dbt Python model read, `bytes_scanned` from
    storage: customer_ml.pipeline.costs.read) when the retraining decision says so
    (customer_ml.pipeline.retraining, recorded); returns the one-row training-run record, or no
    row."""
    entry = catalogue.entry(model_name)
    ctx = begin(
        session,
        entry,
        this=this,
        run_type=run_type,
        feature_version=feature_version,
        label_version=label_version,
        dbt_vars=dbt_vars,
    )
    run_type = str(build_vars.check_var("run_type", build_vars.RUN_TYPE, run_type or "production"))
    retrain = str(build_vars.check_var("retrain", retraining_policy.RETRAIN, retrain or "policy"))
    trained = _trained_already(session, this, ctx.version)
    if trained and retrain != "force":
        retraining.record(
            session,
            model_name,
            run_type,
            retraining.Decision(
                "skip",
                [
                    f"nothing changed: model_version {ctx.version[:12]} trained already in run "
                    f"{trained['trained_by']} ({trained['trained_at'][:16]}); --vars "
                    "'{retrain: force}' trains it again"
                ],
                trained,
            ),
        )
        return store.frame([], tables.TRAINING_RUN_COLUMNS)
    decision = retraining.decide(session, ctx, this=this, retrain=retrain)
    retraining.record(session, model_name, run_type, decision)
    stale = [r for r in decision.reasons if r.startswith(retraining.STALE)]
    if decision.action == "suppressed" and stale and run_type == "production":
        from customer_ml.records import alerts

        alerts.raise_alert(  # a stale feed is never a silent, green skip
            session,
            model_name=model_name,
            kind="training_suppressed_stale_feed",
            severity="warning",
            message=f"{model_name} did not train: {stale[0]}",
            invocation_id=ctx.invocation_id,
        )
    if decision.action != "train":
        return store.frame([], tables.TRAINING_RUN_COLUMNS)
    # The champion serving now (whatever its age) is measured on the candidate's holdout, and
    # is the reference a model may align to (segments keep their ids); both are recorded.
    champion_run = registry.champion(session, model_name, max_age_check=False)
    champion = load_model(entry, champion_run, ctx.warehouse) if champion_run else None
    rule = None if champion_run else registry.recorded_baseline(session, model_name)
    serving_rule = registry.load_baseline(ctx.warehouse, rule) if rule else None
    try:
        (model_bytes, metrics, verdicts, described, sample, example), usage = quotas.run(
            quotas.quota(model_name),
            "customer_ml.pipeline.training:compute",
            model_name,
            dataset,
            ctx.cfg,
            ctx.seed,
            champion,
            ctx.feature_version,
            ctx.facts,
            serving_rule,
        )
    except quotas.QuotaExceeded as e:
        costs.record(session, ctx, "terminated", e.usage, len(dataset), e, bytes_scanned)
        raise
    costs.record(session, ctx, "success", usage, len(dataset), bytes_scanned=bytes_scanned)
    retraining.check_training_sla(session, model_name, usage.wall_s)
    return finish(
        ctx,
        model_bytes=model_bytes,
        metrics=metrics,
        verdicts=verdicts,
        described=described,
        champion_training_run_id=champion_run["training_run_id"] if champion_run else None,
        usage=usage,
        sample=sample,
        example=example,
        inputs=store.read(
            session,
            "select * from lineage.data_snapshots where list_contains(?, snapshot_id) "
            "order by relation_name",
            [sorted(ctx.snapshots.values())],
        ),
        bytes_scanned=bytes_scanned,
    )


def compute(
    model_name: str,
    dataset: pd.DataFrame,
    cfg: dict[str, Any],
    seed: int,
    champion: Any,
    feature_version: int,
    facts: dict[str, Any],
    serving_rule: Any,
    *,
    stage: Callable[[str], None],
) -> tuple[bytes, dict, list, Described, dict[str, Any]]:
    """The model's computation, in the training child process (customer_ml.pipeline.quotas): split
    (with the model's seeded row cap, when it has one), fit, evaluate against the baseline and the
    champion, describe. Reports each stage it enters. The rows the split kept are counted and
    hashed (`training_rows_used`, `training_rows_hash`), so `reproduce` checks the sample too."""
    entry = catalogue.entry(model_name)
    module = entry.module
    stage("split")
    train_part, holdout = module.split(dataset, cfg, seed)
    sample = {
        "training_rows_used": len(train_part) + len(holdout),
        "training_rows_hash": lineage.rows_hash(train_part, holdout),
    }
    stage("fit")
    model = module.fit(
        train_part,
        cfg,
        seed,
        validation=holdout,
        reference=champion,
        feature_version=feature_version,
    )
    stage("evaluate")
    holdout = module.evaluation_set(model, holdout)
    models = {"candidate": model, "baseline": module.baseline(cfg), "champion": champion}
    metrics = evaluation.compare(entry, holdout, models)
    verdicts = evaluation.no_regression(entry, metrics)
    stage("describe")
    from customer_ml.models import reports  # matplotlib: only where a report is written

    rows = module.scoring_rows(model, dataset)
    # without a champion the rule baseline serves: as recorded, else as the first scoring
    # build will fit it (on the latest as_of's customers)
    serving = None if champion is not None else serving_rule or module.baseline(cfg, rows)
    impact = evaluation.impact(entry, {**models, "serving": serving}, rows, cfg)
    described = module.describe(
        model,
        train_part,
        holdout,
        models,
        metrics,
        facts=facts,
        cfg=cfg,
        summary=reports.summary(entry, metrics, verdicts, impact),
    )
    return model.to_bytes(), metrics, verdicts, described, sample, rows.head(5)


def finish(
    ctx: Context,
    *,
    model_bytes: bytes,
    metrics: dict[str, dict[str, Any]],
    verdicts: list[tuple[str, bool, str]],
    described: Described,
    champion_training_run_id: str | None,
    usage: quotas.Usage,
    sample: dict[str, Any],
    example: pd.DataFrame,
    inputs: list[dict[str, Any]],
    bytes_scanned: int | None = None,
) -> pd.DataFrame:
    """Write the artifacts once (the model also as an MLflow model, `example` its input
    example), mirror the run to MLflow (`inputs`: the data snapshots it read), return its
    one-row record."""
    entry = ctx.entry
    from customer_ml.records import served_model

    final_dir = registry.artifact_dir(ctx.warehouse, entry.name, ctx.training_run_id)
    shas = registry.write_artifacts(
        final_dir,
        {
            described.model_file: model_bytes,
            "metrics.json": json.dumps(metrics, indent=2, sort_keys=True).encode(),
            "validation_report.json": described.report[0],
            "validation_report.html": described.report[1],
            **described.extra_files,
        },
        derive=lambda staging: served_model.save(
            staging / served_model.DIRECTORY,
            model_name=entry.name,
            artifact=staging / described.model_file,
            artifact_sha256=hashlib.sha256(model_bytes).hexdigest(),
            policy=ctx.cfg,
            example=example,
        ),
    )
    feature_relation = entry.features(ctx.feature_version)
    label_relation = entry.labels(ctx.label_version)
    out: dict[str, Any] = {
        "training_run_id": ctx.training_run_id,
        "model_name": entry.name,
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
        "feature_definition_hash": ctx.definitions[feature_relation],
        "label_definition_hash": ctx.definitions[label_relation] if label_relation else None,
        "config_json": lineage.stable_json(ctx.cfg),
        "hyperparameters_json": lineage.stable_json(ctx.hyperparameters),
        "metrics_json": lineage.stable_json(metrics),
        "baseline_metrics_json": lineage.stable_json(metrics.get("baseline", {})),
        "no_regression": all(ok for _, ok, _ in verdicts),
        "no_regression_json": json.dumps(
            [{"check": name, "passed": ok, "detail": detail} for name, ok, detail in verdicts]
        ),
        "champion_training_run_id": champion_training_run_id,
        **sample,
        "artifact_path": config.recorded_path(ctx.warehouse, final_dir / described.model_file),
        "artifact_sha256": shas[described.model_file],
        "report_path": config.recorded_path(ctx.warehouse, final_dir / "validation_report.html"),
        "report_sha256": shas["validation_report.html"],
        "feature_version": ctx.feature_version,
        "label_version": ctx.label_version,
        "seed": ctx.seed,
        "started_at": ctx.started_at,
        **described.record,
    }
    from customer_ml.records import tracking

    out["mlflow_run_id"] = tracking.mirror_training(
        ctx,
        out,
        metrics,
        described,
        usage,
        final_dir,
        inputs,
        bytes_scanned,
        estimated_usd=costs.estimate(usage.cpu_s, usage.wall_s, usage.peak_rss_mb),
    )
    out["finished_at"] = _now()
    return store.frame([out], tables.TRAINING_RUN_COLUMNS)
