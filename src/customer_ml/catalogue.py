"""The model catalogue: config/models.yml, read once per call and checked, so every list of models
(and of their inputs, primary metric and approver roles) in the code and the CLI derives from it.

A model is one module implementing the model protocol (customer_ml.pipeline.training), one
catalogue entry and two thin dbt Python models (`ml_<model>__train`, `ml_<model>__score`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from customer_ml import config

REQUIRED = ("module", "feature_relation", "primary_metric", "greater_is_better", "approver_roles")


class CatalogueError(ValueError):
    """config/models.yml is incomplete or names something that does not exist."""


@dataclass(frozen=True)
class Entry:
    """One model: where its code is, what it reads (with the version placeholders filled by the
    versions a run actually reads), how it is judged and who approves it."""

    name: str
    module_name: str
    feature_relation: str
    label_relation: str | None
    training_inputs: tuple[str, ...]
    primary_metric: str
    greater_is_better: bool
    approver_roles: tuple[str, ...]
    policy: dict[str, Any] = field(default_factory=dict)

    @property
    def module(self) -> ModuleType:
        return importlib.import_module(self.module_name)

    def features(self, feature_version: int) -> str:
        return self.feature_relation.format(feature_version=feature_version)

    def labels(self, label_version: int | None) -> str | None:
        if self.label_relation is None:
            return None
        return self.label_relation.format(label_version=label_version)

    def inputs(self, feature_version: int, label_version: int | None) -> list[str]:
        """Every relation a training run reads and records a data snapshot of."""
        defined = [self.features(feature_version), self.labels(label_version)]
        return [*self.training_inputs, *(r for r in defined if r)]

    def defined_by(self, feature_version: int, label_version: int | None) -> list[str]:
        """The derived relations whose definition hashes a run records (invariants 3 and 4)."""
        return [r for r in self.inputs(feature_version, label_version) if not r.startswith("raw.")]


def _load() -> dict[str, Any]:
    import yaml

    path = config.models_config_file()
    with open(path) as f:
        return yaml.safe_load(f) or {}


def names() -> list[str]:
    """Every model in the catalogue, in file order."""
    return list(_load())


def entry(name: str) -> Entry:
    everything = _load()
    if name not in everything:
        raise CatalogueError(
            f"{config.models_config_file()}: no model {name!r} "
            f"(the catalogue lists {', '.join(everything) or 'none'})"
        )
    raw = everything[name]
    missing = [key for key in REQUIRED if key not in raw]
    if missing:
        raise CatalogueError(
            f"{config.models_config_file()}: model {name!r} lacks {', '.join(missing)}"
        )
    return Entry(
        name=name,
        module_name=raw["module"],
        feature_relation=raw["feature_relation"],
        label_relation=raw.get("label_relation"),
        training_inputs=tuple(raw.get("training_inputs") or ()),
        primary_metric=raw["primary_metric"],
        greater_is_better=bool(raw["greater_is_better"]),
        approver_roles=tuple(raw["approver_roles"]),
        policy=raw,
    )
