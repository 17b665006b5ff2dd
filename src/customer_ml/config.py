"""Paths and settings in one place: where the project, warehouses, data and MLflow store live.

Everything that needs a path asks this module, so the Makefile, the dbt profile, the loader and
the dbt Python models agree without repeating themselves.
"""

from __future__ import annotations

import os
from pathlib import Path

# The project root: CUSTOMER_ML_HOME when set (the Makefile and the profile set it), else the
# working directory, which is where dbt and the CLI run from.
TARGETS = ("dev", "ci", "backfill", "experiment")


def project_dir() -> Path:
    return Path(os.environ.get("CUSTOMER_ML_HOME", os.getcwd())).resolve()


def warehouse_dir() -> Path:
    """CUSTOMER_ML_WAREHOUSE_DIR when set (tests use throwaway ones), else <project>/warehouse."""
    if os.environ.get("CUSTOMER_ML_WAREHOUSE_DIR"):
        return Path(os.environ["CUSTOMER_ML_WAREHOUSE_DIR"]).resolve()
    return project_dir() / "warehouse"


def warehouse_path(target: str = "dev") -> Path:
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
    return warehouse_dir() / f"{target}.duckdb"


def tracking_uri(warehouse_file: str | os.PathLike) -> str:
    """MLflow store: MLFLOW_TRACKING_URI when set, else a SQLite file beside the warehouse."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{mlflow_db_path(warehouse_file)}"


def mlflow_db_path(warehouse_file: str | os.PathLike) -> Path:
    wh = Path(warehouse_file).resolve()
    return wh.parent / f"{wh.stem}.mlflow.db"


def artifact_root(warehouse_file: str | os.PathLike) -> Path:
    """Local folder for MLflow artifacts and model files of one warehouse."""
    wh = Path(warehouse_file).resolve()
    return wh.parent / f"{wh.stem}.artifacts"


def lock_file() -> Path:
    return project_dir() / "constraints.txt"


def project_vars() -> dict:
    """The defaults of dbt_project.yml's vars (the loader reads its limits there, so `load` and
    staging apply the same ones)."""
    import yaml

    with open(project_dir() / "dbt_project.yml") as f:
        return yaml.safe_load(f).get("vars", {})


def models_config_file() -> Path:
    """The model catalogue (customer_ml.catalogue reads it)."""
    return project_dir() / "config" / "models.yml"


class OperatorError(RuntimeError):
    """The build was invoked or configured wrongly (a bad var, a selection that left out what a
    node needs): one line naming what and how to fix it. Not a training failure, so it never
    counts toward a model's consecutive failures."""
