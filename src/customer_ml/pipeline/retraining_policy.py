"""A model's retraining policy: the `retraining:` block of its entry in config/models.yml, each
value checked when a build starts (one line naming the bad one), and the `retrain` var a build
may pass. Read by the retraining decision (customer_ml.pipeline.retraining) and by the
monitoring relations that show what that decision reads (drift bands, the drift relation,
performance windows)."""

from __future__ import annotations

from typing import Any

from customer_ml import catalogue

RETRAIN = {"allowed": ["policy", "force"]}


def policy(model_name: str, given: dict[str, Any] | None = None) -> dict[str, Any]:
    """The model's retraining policy (`given`, or its `retraining:` in config/models.yml), with
    defaults, each value checked (catalogue.Retraining; one line naming the bad one)."""
    if given is None:
        given = catalogue.entry(model_name).policy.get("retraining") or {}
    where = f"{model_name}.retraining"
    return catalogue.checked(catalogue.Retraining, given, where).model_dump()


def check() -> None:
    """Every catalogued model's policy, when a build starts."""
    for name in catalogue.names():
        policy(name)


def drift_relation(rules: dict[str, Any], feature_version: Any) -> str:
    return str(rules["drift_relation"]).format(feature_version=feature_version)
