"""A model's retraining policy: the `retraining:` block of its entry in config/models.yml, each
value checked when a build starts (one line naming the bad one), and the `retrain` var a build
may pass. Read by the retraining decision (customer_ml.pipeline.retraining) and by the
monitoring relations that show what that decision reads (drift bands, the drift relation,
performance windows)."""

from __future__ import annotations

from typing import Any

from customer_ml import catalogue, config

POLICY = {  # name -> (kind, default)
    "cadence_days": ("number", None),
    "min_new_matured_labels": ("number", 0),
    "stabilization_days": ("number", 0),
    "freshness_sla_days": ("number", None),
    "psi_moderate": ("number", 0.1),
    "psi_significant": ("number", 0.25),
    "drifted_share": ("number", 0.3),
    "drift_relation": ("relation", None),
    "degradation_windows": ("number", 3),
    "degradation_tolerance": ("number", 0.02),
    "training_sla_minutes": ("number", None),
}
RETRAIN = {"allowed": ["policy", "force"]}


def policy(model_name: str, given: dict[str, Any] | None = None) -> dict[str, Any]:
    """The model's retraining policy (`given`, or its `retraining:` in config/models.yml), each
    value checked (one line naming the bad one)."""
    if given is None:
        given = catalogue.entry(model_name).policy.get("retraining") or {}
    unknown = sorted(set(given) - set(POLICY))
    if unknown:
        raise config.OperatorError(
            f"{model_name}.retraining: unknown {', '.join(unknown)} in config/models.yml; "
            f"known: {', '.join(POLICY)}"
        )
    out = {}
    for name, (kind, default) in POLICY.items():
        value = given.get(name, default)
        if value is None:
            raise config.OperatorError(f"{model_name}.retraining.{name} is required")
        if kind == "number":
            value = config.checked_number(value, f"{model_name}.retraining.{name}")
        out[name] = value
    return out


def check() -> None:
    """Every catalogued model's policy, when a build starts."""
    for name in catalogue.names():
        policy(name)


def drift_relation(rules: dict[str, Any], feature_version: Any) -> str:
    return str(rules["drift_relation"]).format(feature_version=feature_version)
