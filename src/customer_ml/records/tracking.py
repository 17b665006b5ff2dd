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


def _client(warehouse: Path):
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


def _log_batch(client, run_id: str, metrics: dict[str, float], params: dict[str, str]) -> None:
    import time

    from mlflow.entities import Metric, Param

    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
        params=[Param(k, v) for k, v in params.items()],
    )


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
    client = _client(warehouse)
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

    def log(run_id: str) -> None:
        _log_batch(client, run_id, metrics, {})
        client.log_dict(run_id, {"nodes": record["nodes"]}, "results.json")
        # the build's training runs (logged while it ran) nest under it in the UI
        for child in record.get("training_mlflow_run_ids") or []:
            client.set_tag(child, "mlflow.parentRunId", run_id)
        if record.get("retraining"):
            client.log_dict(run_id, record["retraining"], "retraining_decisions.json")

    started = record.get("run_started_at")
    if isinstance(started, str):
        try:
            started = datetime.fromisoformat(started)
        except ValueError:  # not ISO: the run starts when it is logged
            started = None
    return _run(client, experiment_id, f"build {record['invocation_id'][:8]}", tags, log, started)


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
    client = _client(warehouse)
    experiment_id = _experiment_id(client, warehouse, model_experiment(model_name, run_type))

    def log(run_id: str) -> None:
        _log_batch(
            client,
            run_id,
            {k: float(v) for k, v in metrics.items() if v == v},
            {k: str(v)[:6000] for k, v in params.items()},
        )
        client.log_artifacts(run_id, str(artifact_dir))
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
    from customer_ml.records import served_model

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
                f"is in {served_model.DIRECTORY}/ (customer_ml.records.served_model)."
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
    client = _client(warehouse)
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
    _client(warehouse).set_tag(run_id, SEALED_HEAD, head)


def orphan_training_runs(warehouse: Path, known: set[str]) -> list[str]:
    """MLflow training runs whose training_run_id is not in `known` (a build killed after
    logging the run and before recording it): "<mlflow run id> (<training_run_id>)"."""
    if not os.environ.get("MLFLOW_TRACKING_URI") and not config.mlflow_db_path(warehouse).exists():
        return []
    client = _client(warehouse)
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


def set_champion(warehouse: Path, model_name: str, run: dict[str, Any]) -> str:
    """Register the run's MLflow model (customer_ml.records.served_model) as a version of
    `customer-ml-<model>` and point the registry alias `champion` at it, so
    `models:/customer-ml-<model>@champion` loads; returns the registry version."""
    client = _client(warehouse)
    name = f"customer-ml-{model_name}"
    from customer_ml.records import served_model

    description = served_model.registered_description(model_name)
    if not _exists(client, name):
        client.create_registered_model(name, description=description)
    elif not client.get_registered_model(name).description:
        client.update_registered_model(name, description=description)
    from customer_ml.records import served_model

    artifact = config.recorded_file(warehouse, run["artifact_path"])
    mlflow_model = artifact.parent / served_model.DIRECTORY
    # runs trained before models were written as MLflow models register their plain artifact
    source = (mlflow_model if mlflow_model.is_dir() else artifact).as_uri()
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


def champion_alias(warehouse: Path, model_name: str) -> str | None:
    """The training run (its `training_run_id` tag) that the registry alias
    `customer-ml-<model>@champion` points at, or None when there is no such alias."""
    from mlflow.exceptions import MlflowException

    client = _client(warehouse)
    try:
        version = client.get_model_version_by_alias(f"customer-ml-{model_name}", "champion")
    except MlflowException:
        return None
    return version.tags.get("training_run_id")


def restore_champion_alias(warehouse: Path, model_name: str, run: dict[str, Any] | None) -> None:
    """Point the alias back at the registered version of `run` (registering it when there is
    none), or remove it when nothing was promoted."""
    client = _client(warehouse)
    name = f"customer-ml-{model_name}"
    if run is None:
        if _exists(client, name):
            client.delete_registered_model_alias(name, "champion")
        return
    versions = [
        v
        for v in client.search_model_versions(f"name = '{name}'")
        if v.tags.get("training_run_id") == run["training_run_id"]
    ]
    if not versions:
        set_champion(warehouse, model_name, run)
        return
    newest = max(versions, key=lambda v: int(v.version))
    client.set_registered_model_alias(name, "champion", newest.version)
