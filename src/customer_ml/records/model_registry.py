"""The MLflow registry's view of promotion: a promoted training run's logged model
(customer_ml.records.served_model) registered as a version of `customer-ml-<model>`, its alias
`champion` following lineage.promotions (the source of truth; customer_ml.governance.champions
checks and restores it)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from customer_ml import config
from customer_ml.records import tracking


def logged_model_id(client, run_id: str | None) -> str | None:
    """The id of the LoggedModel training run `run_id` logged (None for runs logged before
    models were, or without an MLflow run)."""
    if not run_id:
        return None
    run = client.get_run(run_id)
    outputs = run.outputs.model_outputs if run.outputs else []
    return outputs[0].model_id if outputs else None


def set_champion(warehouse: Path, model_name: str, run: dict[str, Any]) -> str:
    """Register the run's logged model (customer_ml.records.served_model) as a version of
    `customer-ml-<model>` and point the registry alias `champion` at it, so
    `models:/customer-ml-<model>@champion` loads; returns the registry version."""
    from customer_ml.records import served_model

    client = tracking.client_for(warehouse)
    name = f"customer-ml-{model_name}"
    description = served_model.registered_description(model_name)
    if not _exists(client, name):
        client.create_registered_model(name, description=description)
    elif not client.get_registered_model(name).description:
        client.update_registered_model(name, description=description)
    model_id = logged_model_id(client, run.get("mlflow_run_id"))
    if model_id:
        source = f"models:/{model_id}"  # the LoggedModel, as MLflow 3 registers one
    else:  # runs logged before LoggedModels: their MLflow model, or before that their artifact
        artifact = config.recorded_file(warehouse, run["artifact_path"])
        mlflow_model = artifact.parent / served_model.DIRECTORY
        source = (mlflow_model if mlflow_model.is_dir() else artifact).as_uri()
    with _resolving_in(config.tracking_uri(warehouse)):
        version = client.create_model_version(
            name,
            source=source,
            run_id=run.get("mlflow_run_id"),
            tags={"training_run_id": run["training_run_id"], "model_version": run["model_version"]},
            model_id=model_id,
        )
    if model_id:  # the logged model lists its registered versions, as mlflow.register_model does
        tag = "mlflow.modelVersions"
        listed = json.loads(client.get_logged_model(model_id).tags.get(tag) or "[]")
        listed.append({"name": name, "version": version.version})
        client.set_logged_model_tags(model_id, {tag: json.dumps(listed)})
    client.set_registered_model_alias(name, "champion", version.version)
    return str(version.version)


@contextmanager
def _resolving_in(uri: str) -> Iterator[None]:
    """MLflow's SQL registry store resolves a `models:/<model id>` source through the
    process-wide tracking URI (a TODO in mlflow/store/model_registry/sqlalchemy_store.py), which
    this project never sets (tracking.client_for): point it at this warehouse's store for the
    call, then restore the environment exactly as it was."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        yield
    finally:
        if before is None:
            del os.environ["MLFLOW_TRACKING_URI"]
        else:
            os.environ["MLFLOW_TRACKING_URI"] = before


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

    client = tracking.client_for(warehouse)
    try:
        version = client.get_model_version_by_alias(f"customer-ml-{model_name}", "champion")
    except MlflowException:
        return None
    return version.tags.get("training_run_id")


def restore_champion_alias(warehouse: Path, model_name: str, run: dict[str, Any] | None) -> None:
    """Point the alias back at the registered version of `run` (registering it when there is
    none), or remove it when nothing was promoted."""
    client = tracking.client_for(warehouse)
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
