"""MLflow mirror of the lineage records: one run per build, one run per training.

The lineage tables are the source of truth; MLflow is for people who browse. The store is a
SQLite file and an artifact folder beside the warehouse unless MLFLOW_TRACKING_URI says otherwise.
mlflow is imported lazily (≈1 s) and only here.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from customer_ml import config

BUILDS_EXPERIMENT = "customer-ml/builds"


def model_experiment(model_name: str, run_type: str = "production") -> str:
    if run_type == "experiment":
        return f"customer-ml/experiments/{model_name}"
    return f"customer-ml/{model_name}"


def client_for(warehouse: Path):
    """A client bound to this warehouse's store. Never the fluent API's process-wide tracking
    URI: a process that touches two warehouses (a test, a reproduction) must not log one's runs
    into the other's store."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from mlflow import MlflowClient

    uri = config.tracking_uri(warehouse)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _experiment_id(client, warehouse: Path, name: str) -> str:
    """The experiment's id, created on first use; its UI opens on the model-training view
    (MLflow's `mlflow.experimentKind` tag), not GenAI traces."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = (config.artifact_root(warehouse) / "mlflow").as_uri()
    return client.create_experiment(
        name,
        artifact_location=f"{location}/{name.replace('/', '_')}",
        tags={"mlflow.experimentKind": "custom_model_development"},
    )


def _run(
    client, experiment_id: str, run_name: str, tags: dict[str, str], log, started_at=None
) -> str:
    """Create a run (starting at `started_at`, a UTC datetime, when the work began before it),
    let `log(run_id)` fill it, and end it FINISHED (FAILED if `log` raised)."""
    from customer_ml.records.lineage import source_tags

    tags = {**source_tags(tags.get("git.commit")), **tags}  # who and what ran it (MLflow's UI)
    start = None
    if started_at is not None:
        start = int(started_at.replace(tzinfo=started_at.tzinfo or UTC).timestamp() * 1000)
    run = client.create_run(experiment_id, start_time=start, run_name=run_name, tags=tags)
    run_id = run.info.run_id
    try:
        log(run_id)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return run_id


def _log_batch(
    client, run_id: str, metrics: dict[str, float], params: dict[str, str], model_id=None
) -> None:
    """Metrics and params of a run; the metrics also of its logged model `model_id`, if any."""
    import time

    from mlflow.entities import Metric, Param

    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), now, 0, model_id=model_id) for k, v in metrics.items()],
        params=[Param(k, v) for k, v in params.items()],
    )


def _log_model(client, experiment_id: str, run_id: str, name: str, directory: Path, tags) -> str:
    """The MLflow model in `directory` (customer_ml.records.served_model) as the run's MLflow 3
    LoggedModel, as the fluent `log_model(name=...)` makes one (its artifacts, READY, an output
    of the run), through this warehouse's client; returns its model id."""
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus

    model = client.create_logged_model(
        experiment_id, name=name, source_run_id=run_id, tags=tags, model_type="pyfunc"
    )
    try:
        client.log_model_artifacts(model.model_id, str(directory))
    except BaseException:
        client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
        raise
    client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=0)])
    return model.model_id


def _all_runs(client, experiment_ids: list[str]) -> list:
    """Every run of the experiments, page by page (a search returns at most 1000 at a time)."""
    runs, token = [], None
    while True:
        page = client.search_runs(experiment_ids, max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def log_build(warehouse: Path, record: dict[str, Any]) -> str:
    client = client_for(warehouse)
    experiment_id = _experiment_id(client, warehouse, BUILDS_EXPERIMENT)
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

    run_name = f"build {record['invocation_id'][:8]}"

    def log(run_id: str) -> None:
        _log_batch(client, run_id, metrics, {})
        client.log_dict(run_id, {"nodes": record["nodes"]}, "results.json")
        # the build's training runs (logged while it ran) are its children; they live in their
        # models' experiments, where MLflow's UI does not nest runs of another experiment, so
        # each run's description links the other (markdown links the UI follows)
        children = [client.get_run(c) for c in record.get("training_mlflow_run_ids") or []]
        lines = [f"dbt build {record['invocation_id']} (target {record['target_name']})."]
        for child in children:
            note = child.data.tags.get("mlflow.note.content", "")
            client.set_tag(child.info.run_id, "mlflow.parentRunId", run_id)
            client.set_tag(
                child.info.run_id,
                "mlflow.note.content",
                f"{note}\n\nBuild run: [{run_name}]({_run_link(experiment_id, run_id)})",
            )
            lines.append(
                f"- training run [{child.info.run_name}]"
                f"({_run_link(child.info.experiment_id, child.info.run_id)})"
            )
        client.set_tag(run_id, "mlflow.note.content", "\n".join(lines))
        if record.get("retraining"):
            client.log_dict(run_id, record["retraining"], "retraining_decisions.json")

    started = record.get("run_started_at")
    if isinstance(started, str):
        try:
            started = datetime.fromisoformat(started)
        except ValueError:  # not ISO: the run starts when it is logged
            started = None
    return _run(client, experiment_id, run_name, tags, log, started)


def _run_link(experiment_id: str, run_id: str) -> str:
    """A run's page in MLflow's UI, relative to the UI's root (as its own links are)."""
    return f"#/experiments/{experiment_id}/runs/{run_id}"


def log_training(
    warehouse: Path,
    *,
    model_name: str,
    run_type: str,
    tags: dict[str, str],
    params: dict[str, Any],
    metrics: dict[str, float],
    artifact_dir: Path,
    started_at=None,
    datasets: list[dict[str, Any]] = (),
) -> str:
    """One MLflow run per training run, spanning the training from `started_at`, linked to its
    build by tag (and nested under the build's run when the build ends), with its input
    `datasets` (lineage.data_snapshots rows); returns its run id."""
    client = client_for(warehouse)
    experiment_id = _experiment_id(client, warehouse, model_experiment(model_name, run_type))

    from customer_ml.records.served_model import DIRECTORY

    def log(run_id: str) -> None:
        model_id = None
        if (artifact_dir / DIRECTORY).is_dir():
            model_tags = {k: tags[k] for k in ("training_run_id", "model_version") if k in tags}
            model_id = _log_model(
                client, experiment_id, run_id, model_name, artifact_dir / DIRECTORY, model_tags
            )
        _log_batch(
            client,
            run_id,
            {k: float(v) for k, v in metrics.items() if v == v},
            {k: str(v)[:6000] for k, v in params.items()},
            model_id=model_id,
        )
        for item in sorted(artifact_dir.iterdir()):  # the MLflow model is the logged model's
            if item.name == DIRECTORY:
                continue
            if item.is_dir():
                client.log_artifacts(run_id, str(item), item.name)
            else:
                client.log_artifact(run_id, str(item))
        if datasets:
            client.log_inputs(run_id, datasets=[_dataset_input(d) for d in datasets])

    return _run(client, experiment_id, tags.get("training_run_id"), tags, log, started_at)


def mirror_training(
    ctx,
    out: dict[str, Any],
    metrics,
    described,
    usage,
    artifact_dir: Path,
    inputs,
    bytes_scanned,
    *,
    estimated_usd: float,
) -> str:
    """The MLflow run of a training run (customer_ml.pipeline.training.finish): its record `out` as
    tags and params, its metrics and costs (`estimated_usd`: customer_ml.pipeline.costs.estimate),
    its artifacts, the data snapshots it read (`inputs`); returns the MLflow run id."""

    entry = ctx.entry
    return log_training(
        ctx.warehouse,
        model_name=entry.name,
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
            "mlflow.note.content": (
                f"{entry.name} {ctx.run_type} training run {ctx.training_run_id} in build "
                f"{ctx.invocation_id}: model_version {ctx.version}, features "
                f"v{ctx.feature_version}, labels v{ctx.label_version}, seed {ctx.seed}; "
                f"promotion gate {'passed' if out['no_regression'] else 'failed'}. The model "
                f"is the run's logged model {entry.name} (customer_ml.records.served_model)."
            ),
        },
        params={
            **{f"hp.{k}": v for k, v in ctx.hyperparameters.items()},
            "config": out["config_json"],
            "seed": ctx.seed,
            "feature_version": ctx.feature_version,
            "label_version": ctx.label_version,
            "feature_definition_hash": out["feature_definition_hash"],
            "label_definition_hash": out["label_definition_hash"],
            "lock_hash": out["lock_hash"],
            "code_hash": ctx.code,
            **described.mlflow_params,
        },
        metrics={
            **{
                f"{group}_{name}": value
                for group, values in metrics.items()
                for name, value in values.items()
                if isinstance(value, int | float)
            },
            "cost_wall_seconds": usage.wall_s,
            "cost_cpu_seconds": usage.cpu_s,
            "cost_peak_rss_mb": usage.peak_rss_mb,
            "cost_estimated_usd": estimated_usd,
            **({} if bytes_scanned is None else {"cost_bytes_scanned": bytes_scanned}),
        },
        artifact_dir=artifact_dir,
        started_at=ctx.started_at,
        datasets=inputs,
    )


def _dataset_input(snapshot: dict[str, Any]):
    """One data snapshot as an MLflow dataset input: named by its relation, its digest the
    snapshot's content hash (MLflow keeps 36 characters; the whole hash is in the source), its
    source the relation and snapshot id in this warehouse."""
    import json

    from mlflow.entities import Dataset, DatasetInput, InputTag

    return DatasetInput(
        Dataset(
            name=snapshot["relation_name"],
            digest=str(snapshot["content_hash"])[:36],
            source_type="duckdb",
            source=json.dumps(
                {
                    "relation": snapshot["relation_name"],
                    "snapshot_id": snapshot["snapshot_id"],
                    "content_hash": snapshot["content_hash"],
                    "watermark": str(snapshot["watermark"]),
                }
            ),
            profile=json.dumps({"num_rows": snapshot["row_count"]}),
        ),
        tags=[InputTag("mlflow.data.context", "training")],
    )


def chain_anchors(warehouse: Path) -> list[tuple[str, str]]:
    """(invocation id, chain head "seq:hash") of every build run: the head when it ended, before
    its own seals, and after them."""
    if not os.environ.get("MLFLOW_TRACKING_URI") and not config.mlflow_db_path(warehouse).exists():
        return []
    client = client_for(warehouse)
    experiment = client.get_experiment_by_name(BUILDS_EXPERIMENT)
    if experiment is None:
        return []
    runs = _all_runs(client, [experiment.experiment_id])
    return sorted(
        (r.data.tags.get("dbt.invocation_id", ""), r.data.tags[tag])
        for r in runs
        for tag in ("lineage.chain_head", SEALED_HEAD)
        if ":" in r.data.tags.get(tag, "")
    )


SEALED_HEAD = "lineage.chain_head_sealed"


def anchor_sealed_head(warehouse: Path, run_id: str, head: str) -> None:
    """Keep the chain's head after a build sealed its rows on the build's MLflow run, outside
    the warehouse: deleting the newest seals then fails verify-lineage (chain.check_anchors)."""
    client_for(warehouse).set_tag(run_id, SEALED_HEAD, head)


def orphan_training_runs(warehouse: Path, known: set[str]) -> list[str]:
    """MLflow training runs whose training_run_id is not in `known` (a build killed after
    logging the run and before recording it): "<mlflow run id> (<training_run_id>)"."""
    if not os.environ.get("MLFLOW_TRACKING_URI") and not config.mlflow_db_path(warehouse).exists():
        return []
    client = client_for(warehouse)
    experiments = [
        e.experiment_id
        for e in client.search_experiments(max_results=50000)
        if e.name.startswith("customer-ml/") and e.name != BUILDS_EXPERIMENT
    ]
    if not experiments:
        return []
    runs = _all_runs(client, experiments)
    return sorted(
        f"{r.info.run_id} ({r.data.tags.get('training_run_id')})"
        for r in runs
        if r.data.tags.get("training_run_id") not in known
    )
