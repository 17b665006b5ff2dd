"""Every trained model as an MLflow model (pyfunc), so `models:/customer-ml-<model>@champion`
loads and predicts what scoring served.

One wrapper serves every model of the catalogue: it holds the recorded artifact (the same bytes,
its sha256 checked when MLflow loads it) and predicts through the model module's own `score`
with the policy the run trained under; the output is what scoring serves: customer_id, as_of,
score (and score_label where the model names its scores, as segments do). Churn is not logged
with MLflow's LightGBM flavor because its served score is the booster's output passed through
the recorded isotonic map: the flavor would predict the uncalibrated score.

The project (customer_ml) must be importable where the model loads; its pinned requirements are
listed in the model's requirements.txt.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

from customer_ml import catalogue

# The MLflow model's folder in a training run's artifact folder (and in its MLflow run).
DIRECTORY = "mlflow_model"
# Distributions the wrapper imports when it loads and predicts; their pins come from the lock.
REQUIREMENTS = ("mlflow", "lightgbm", "lifetimes", "scikit-learn", "pandas", "numpy", "duckdb")


class ServedModel(mlflow.pyfunc.PythonModel):
    """The recorded artifact of one training run, scored as the build scores it."""

    def load_context(self, context: Any) -> None:
        config = context.model_config
        data = Path(context.artifacts["model"]).read_bytes()
        found = hashlib.sha256(data).hexdigest()
        if found != config["artifact_sha256"]:
            raise ValueError(
                f"{config['model_name']} artifact sha256 {found} is not the recorded "
                f"{config['artifact_sha256']}: the MLflow model's copy was altered"
            )
        # the model's module, recorded when saved: loading needs no catalogue (config/models.yml
        # of a checkout); models saved before it was recorded ask the catalogue
        module = config.get("module") or catalogue.entry(config["model_name"]).module_name
        self._module = importlib.import_module(module)
        self._model = self._module.MODEL.from_bytes(data)
        self._policy = config["policy"]

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        scored = self._module.score(self._model, model_input, self._policy)
        out = pd.DataFrame(
            {
                "customer_id": scored.customer_ids.astype("int64"),
                "as_of": pd.to_datetime(scored.as_of.to_numpy()),
                "score": scored.scores.astype("float64"),
            }
        )
        if scored.labels is not None:
            out["score_label"] = scored.labels
        return out


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in REQUIREMENTS]


def save(
    directory: Path,
    *,
    model_name: str,
    artifact: Path,
    artifact_sha256: str,
    policy: dict[str, Any],
    example: pd.DataFrame,
) -> None:
    """Write the MLflow model of one training run into `directory` (new; written once): the
    artifact, the wrapper, its signature inferred from `example` (rows of what scoring reads)
    and what the wrapper predicts for them, and the example itself."""
    import warnings

    from mlflow.models import infer_signature

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    model_config = {
        "model_name": model_name,
        "module": catalogue.entry(model_name).module_name,
        "artifact_sha256": artifact_sha256,
        "policy": policy,
    }
    loaded = ServedModel()
    loaded.load_context(_Context({"model": str(artifact)}, model_config))
    example = example.reset_index(drop=True)
    output = loaded.predict(None, example)
    with warnings.catch_warnings():
        # integer columns are the summaries' and features' own types, never missing
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        mlflow.pyfunc.save_model(
            str(directory),
            python_model=ServedModel(),
            artifacts={"model": str(artifact)},
            model_config=model_config,
            signature=infer_signature(example, output),
            input_example=example,
            pip_requirements=_requirements(),
            # the package the wrapper and the model classes are, so the model loads where
            # customer_ml is not installed (MLflow puts code/ on sys.path when loading)
            code_paths=[str(Path(__file__).resolve().parents[1])],
        )


class _Context:
    """What MLflow hands `load_context`, for checking the wrapper before it is saved."""

    def __init__(self, artifacts: dict[str, str], model_config: dict[str, Any]) -> None:
        self.artifacts = artifacts
        self.model_config = model_config


def registered_description(model_name: str) -> str:
    """What a registered model is and what it reads, for the MLflow registry (from the
    catalogue: its module's summary, its input relation, its primary metric)."""
    entry = catalogue.entry(model_name)
    paragraph = " ".join((entry.module.__doc__ or model_name).strip().split("\n\n")[0].split())
    summary = paragraph.split(". ")[0].rstrip(".") + "."
    reads = (
        "BTYD summaries per customer (frequency, recency, T, monetary_value at a period end, "
        "from datasets.clv_transactions_v<n>)"
        if model_name == "clv"
        else f"rows of {entry.features('<n>')} (one per customer and as_of)"
    )
    return (
        f"{summary} Input: {reads}; the version's feature_version tag says which. Primary "
        f"metric: {entry.primary_metric}. Promoted only by signed approvals (customer-ml "
        "approve); the champion alias follows lineage.promotions."
    )
