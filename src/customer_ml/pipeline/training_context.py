"""What a training run is named by before it trains (Context, gathered by
customer_ml.pipeline.training.begin)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from customer_ml import catalogue
from customer_ml.records import lineage


@dataclass
class Context:
    """Everything a training run is named by, gathered before it trains."""

    entry: catalogue.Entry
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
    feature_version: int
    label_version: int | None
    warehouse: Path
    started_at: datetime

    @property
    def training_run_id(self) -> str:
        return f"{self.entry.name}-{self.version[:12]}-{self.invocation_id[:8]}"

    @property
    def facts(self) -> dict[str, Any]:
        """The facts every report starts with."""
        return {
            "training_run_id": self.training_run_id,
            "model_version": self.version,
            "run_type": self.run_type,
            "feature_version": self.feature_version,
            "label_version": self.label_version,
            "seed": self.seed,
            "git_commit": self.git.commit,
            "is_dirty": self.git.is_dirty,
            "build": self.invocation_id,
        }
