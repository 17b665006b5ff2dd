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

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from customer_ml import config


class CatalogueError(ValueError):
    """config/models.yml is incomplete or names something that does not exist."""


class _Strict(BaseModel):
    # a misspelled key is an error, not a setting silently left at its default; a number is a
    # finite number (YAML's .nan and .inf are refused), never a string that looks like one
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Retraining(_Strict):
    """When the model trains (customer_ml.pipeline.retraining_policy); numbers >= 0."""

    cadence_days: float = Field(ge=0)
    min_new_matured_labels: float = Field(default=0, ge=0)
    stabilization_days: float = Field(default=0, ge=0)
    freshness_sla_days: float = Field(ge=0)
    psi_moderate: float = Field(default=0.1, ge=0)
    psi_significant: float = Field(default=0.25, ge=0)
    drifted_share: float = Field(default=0.3, ge=0)
    drift_relation: str
    degradation_windows: float = Field(default=3, ge=0)
    degradation_tolerance: float = Field(default=0.02, ge=0)
    training_sla_minutes: float = Field(ge=0)


class Quotas(_Strict):
    """What one training may use (customer_ml.pipeline.quotas): positive limits."""

    max_seconds: float = Field(gt=0)
    max_memory_mb: float = Field(gt=0)
    threads: int = Field(gt=0)


class ModelConfig(_Strict):
    """One model of config/models.yml: its code, what it reads, how it is judged, who approves
    it, and its reviewed policy. Model-specific keys are optional here; the model's module
    reads them."""

    module: str
    feature_relation: str
    label_relation: str | None = None
    training_inputs: list[str] = []
    primary_metric: str
    greater_is_better: bool
    approver_roles: list[str] = Field(min_length=1)
    retraining: Retraining
    quotas: Quotas
    monthly_budget_usd: float | None = Field(default=None, gt=0, strict=False)  # None: no budget
    regression_tolerance: float = Field(ge=0, strict=False)
    regression_tolerance_relative: bool = False
    max_champion_age_days: float = Field(ge=0)
    max_consecutive_failures: int = Field(ge=1)
    seed: int | None = None
    impact_score_change: float | None = Field(default=None, gt=0, strict=False)
    decision_threshold: float | None = Field(default=None, ge=0, le=1, strict=False)
    score_unit: str | None = None
    # churn
    validation_as_of_count: int | None = Field(default=None, ge=1)
    max_training_rows: int | None = Field(default=None, ge=1)
    calibration: str | None = None
    hyperparameters: dict[str, Any] | None = None
    # CLV
    vars: dict[str, Any] | None = None
    horizon_months: int | None = Field(default=None, ge=1)
    monthly_discount_rate: float | None = Field(default=None, ge=0, strict=False)
    # segments
    k: int | None = Field(default=None, ge=2)
    k_min: int | None = Field(default=None, ge=2)
    k_max: int | None = Field(default=None, ge=2)
    silhouette_sample: int | None = Field(default=None, ge=1)


def schema() -> dict[str, Any]:
    """The JSON Schema of config/models.yml (model name -> ModelConfig), for editors
    (config/models.schema.json; tests/python/test_catalogue.py keeps the two equal)."""
    out = ModelConfig.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "customer-ml model catalogue (config/models.yml)",
        "type": "object",
        "additionalProperties": {"$ref": "#/$defs/ModelConfig"},
        "$defs": {**out.pop("$defs", {}), "ModelConfig": out},
    }


def checked(section: type[BaseModel], given: Any, where: str) -> BaseModel:
    """`given` (a section of config/models.yml at `where`, e.g. "churn.quotas") validated as
    `section`; config.OperatorError, one line naming the key and value, when it is not."""
    try:
        return section.model_validate(given)
    except ValidationError as e:
        raise config.OperatorError(one_line(config.models_config_file(), where, e)) from None


def one_line(path: Any, prefix: str, error: ValidationError) -> str:
    """A pydantic error as one line naming the file, the key and the value."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in (prefix, *first["loc"]) if part != "")
    value = first.get("input")
    given = "missing" if first["type"] == "missing" else f"{value!r}"
    if first["type"] == "extra_forbidden":
        first = {**first, "msg": "unknown key (a typo?)"}
    more = error.error_count() - 1
    return f"{path}: {where}: {first['msg']} (given: {given})" + (
        f"; and {more} more problem(s)" if more else ""
    )


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
    try:
        ModelConfig.model_validate(raw if isinstance(raw, dict) else {"": raw})
    except ValidationError as e:
        raise CatalogueError(one_line(config.models_config_file(), name, e)) from None
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
