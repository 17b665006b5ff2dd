"""Scoring runs, the same way for every model in the catalogue: every customer at the latest
as_of, scored by the champion (its artifact, sha256 verified) or, when there is none, the model's
rule baseline; each prediction row carries its full lineage (invariant 8).

Scoring never depends on training in the DAG: which model serves comes from the lineage records
(`lineage.promotions` joined to the model's training table). The build's serving decision is
appended to `lineage.serving_decisions`, and a baseline is registered like a training run
(`lineage.baseline_runs`), so every served row's training_run_id names a record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from customer_ml import catalogue, config
from customer_ml.models import baselines
from customer_ml.models.protocol import Scored
from customer_ml.records import lineage, registry, store, tables


@dataclass(frozen=True)
class Serving:
    """What scores this build: the champion (with its artifact) or the rule baseline."""

    kind: str
    model_version: str
    training_run_id: str
    artifact: bytes | None = None


def serving_model(session: duckdb.DuckDBPyConnection, model_name: str) -> Serving:
    """The champion, or the rule baseline when there is none or when the champion's artifact is
    missing or altered (then with a critical alert: scoring never fails for it)."""
    version = baselines.version()
    serving = registry.champion(session, model_name)
    if serving is None:
        return Serving("baseline", version, version)
    try:
        path = config.recorded_file(lineage.warehouse_file(session), serving["artifact_path"])
        artifact = registry.read_verified(path, serving["artifact_sha256"])
    except (OSError, ValueError) as e:
        from customer_ml.records import alerts

        alerts.raise_alert(
            session,
            model_name=model_name,
            kind="champion_artifact_unusable",
            severity="critical",
            message=f"champion {serving['training_run_id']} not served, the rule baseline is: "
            f"{type(e).__name__}: {e}",
            invocation_id=lineage.current_invocation(session),
        )
        return Serving("baseline", version, version)
    return Serving("champion", serving["model_version"], serving["training_run_id"], artifact)


def prediction_id(
    model_version: str, snapshot_id: str, customer_id: int, as_of: Any, *, servable: bool = True
) -> str:
    """The same model, input, customer and as_of give the same id (scoring is idempotent). A
    build whose predictions are never served (a dirty tree or an experiment) gets ids of its own,
    so that a later servable build records, and serves, its own rows for the same inputs."""
    key = f"{model_version}|{snapshot_id}|{customer_id}|{pd.Timestamp(as_of).date()}"
    if not servable:
        key = f"unserved|{key}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _now():
    return lineage.utc_now().replace(microsecond=0)


def run(
    model_name: str,
    latest: Callable[[int], pd.DataFrame],
    session: duckdb.DuckDBPyConnection,
    *,
    this: str | None,
    run_type: str | None = None,
) -> pd.DataFrame:
    """Score with the serving model; `latest(feature_version)` returns the model's feature
    relation at that version and its latest as_of (the serving model's feature version, learned
    at fit, decides which is read)."""
    entry = catalogue.entry(model_name)
    module = entry.module
    serving = serving_model(session, model_name)
    if serving.artifact is None:
        model = module.baseline(entry.policy)
    else:
        model = module.MODEL.from_bytes(serving.artifact)
    feature_version = int(model.feature_version)
    scored = module.score(model, latest(feature_version), entry.policy)
    return prediction_frame(
        session,
        this=this,
        model_name=model_name,
        serving=serving,
        relation=entry.features(feature_version),
        feature_version=feature_version,
        scored=scored,
        run_type=run_type or "production",
    )


def _register_baseline(
    session: duckdb.DuckDBPyConnection, model_name: str, serving: Serving, invocation_id: str
) -> None:
    """The rule is registered like a training run, once per model and version."""
    known = session.execute(
        "select 1 from lineage.baseline_runs where model_name = ? and model_version = ?",
        [model_name, serving.model_version],
    ).fetchall()
    if known:
        return
    git = lineage.git_state()
    store.append(
        session,
        "baseline_runs",
        {
            "training_run_id": serving.training_run_id,
            "model_name": model_name,
            "model_version": serving.model_version,
            "run_type": "baseline",
            "status": "success",
            "code_hash": serving.model_version.removeprefix("baseline-"),
            "git_commit": git.commit,
            "is_dirty": git.is_dirty,
            "lock_hash": lineage.lock_hash(),
            "invocation_id": invocation_id,
            "registered_at": _now(),
        },
    )


def _already_recorded(
    session: duckdb.DuckDBPyConnection, this: str | None, ids: list[str]
) -> set[str]:
    """Which prediction ids `this` holds already: a join in the warehouse on the new ids only,
    not a fetch of every id ever recorded (which grows with each build)."""
    if not this or not ids:
        return set()
    session.register("_candidates", pd.DataFrame({"value": ids}))
    try:
        found = session.execute(
            f"select distinct t.prediction_id from {this} as t "
            "inner join _candidates as c on t.prediction_id = c.value"
        ).fetchall()
    finally:
        session.unregister("_candidates")
    return {r[0] for r in found}


def prediction_frame(
    session: duckdb.DuckDBPyConnection,
    *,
    this: str | None,
    model_name: str,
    serving: Serving,
    relation: str,
    feature_version: int,
    scored: Scored,
    run_type: str = "production",
) -> pd.DataFrame:
    """Prediction rows with full lineage; ids already in `this` are left out (idempotent)."""
    invocation_id = lineage.current_invocation(session)
    snapshot_id = lineage.build_snapshot_ids(session, invocation_id, [relation])[relation]
    store.append(
        session,
        "serving_decisions",
        {
            "invocation_id": invocation_id,
            "model_name": model_name,
            "model_kind": serving.kind,
            "model_version": serving.model_version,
            "training_run_id": serving.training_run_id,
            "decided_at": _now(),
        },
    )
    if serving.kind == "baseline":
        _register_baseline(session, model_name, serving, invocation_id)
    git = lineage.git_state()
    as_of = pd.Series(pd.to_datetime(scored.as_of.to_numpy()))
    servable = run_type == "production" and not git.is_dirty
    ids = [
        prediction_id(serving.model_version, snapshot_id, c, a, servable=servable)
        for c, a in zip(scored.customer_ids, as_of, strict=True)
    ]
    out = pd.DataFrame(
        {
            "prediction_id": ids,
            "model_name": model_name,
            "model_kind": serving.kind,
            "model_version": serving.model_version,
            "training_run_id": serving.training_run_id,
            "snapshot_id": snapshot_id,
            "git_commit": git.commit,
            "invocation_id": invocation_id,
            "customer_id": np.asarray(scored.customer_ids, dtype="int64"),
            "feature_version": feature_version,
            "score": np.asarray(scored.scores, dtype="float64"),
            "score_label": scored.labels,
            "as_of": as_of,
            "scored_at": _now(),
        }
    )
    seen = _already_recorded(session, this, ids)
    if seen:
        out = out[~out["prediction_id"].isin(seen)]
    return store.frame(out, tables.PREDICTION_COLUMNS)
