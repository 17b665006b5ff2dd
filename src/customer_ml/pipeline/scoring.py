"""Scoring runs, the same way for every model in the catalogue: the customers at the latest
as_of whose model or input row changed since their standing prediction (invariant 11), scored by
the champion (its artifact, sha256 verified) or, when there is none, the model's
rule baseline; each prediction row carries its full lineage (invariant 8).

Scoring never depends on training in the DAG: which model serves comes from the lineage records
(`lineage.promotions` joined to the model's training table). The build's serving decision is
appended to `lineage.serving_decisions`. A rule baseline is fitted once per version of its code,
on the whole population the build scores, and recorded like a training run
(`lineage.baseline_runs` and its artifact, customer_ml.records.registry); later builds read it.
Every served row's training_run_id names a record.
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
from customer_ml.records import chain, lineage, registry, store, tables


@dataclass(frozen=True)
class Serving:
    """What scores this build: the champion (with its artifact) or the rule baseline."""

    kind: str
    model_version: str
    training_run_id: str
    artifact: bytes | None = None


def serving_champion(session: duckdb.DuckDBPyConnection, model_name: str) -> Serving | None:
    """The champion, or None (the rule baseline serves) when there is none or when the
    champion's artifact is missing or altered (then with a critical alert: scoring never fails
    for it)."""
    serving = registry.champion(session, model_name)
    if serving is None:
        return None
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
        return None
    return Serving("champion", serving["model_version"], serving["training_run_id"], artifact)


def prediction_id(
    model_version: str, input_hash: str, customer_id: int, as_of: Any, invocation_id: str
) -> str:
    """A prediction's identity is its model version, input row (its content hash) and as_of
    (invariant 11); the id adds the build that wrote it, so that the same input scored again
    (after a killed build, or after the input changed and changed back) is a row of its own."""
    key = f"{model_version}|{input_hash}|{customer_id}|{pd.Timestamp(as_of).date()}|{invocation_id}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def input_hashes(frame: pd.DataFrame) -> pd.Series:
    """The content of each customer's input row, as 16 hex digits: every column (by name, so
    column order does not matter, and the names themselves count). What a rule read of its
    population is in its version (a fitted rule's parameters), not here."""
    columns = sorted(frame.columns)
    # the names enter as a column of their own (a hash_key reaches text columns only); the
    # leading "" keeps the hashes every earlier build recorded (it held a population key)
    salt = hashlib.sha256("|".join(["", *columns]).encode()).hexdigest()[:16]
    salted = frame[columns].assign(_names_and_population=salt)
    hashed = pd.util.hash_pandas_object(salted, index=False)
    return pd.Series([f"{h:016x}" for h in hashed.to_numpy()], index=frame.index)


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
    serving = serving_champion(session, model_name)
    if serving is None:
        serving, model, frame = baseline(session, entry, latest)
    else:
        model = module.MODEL.from_bytes(serving.artifact)
        frame = latest(int(model.feature_version))
    feature_version = int(model.feature_version)
    hashes = input_hashes(frame)
    changed = changed_rows(session, this, serving.model_version, frame["customer_id"], hashes)
    scored = module.score(model, frame[changed], entry.policy) if changed.any() else None
    return prediction_frame(
        session,
        this=this,
        model_name=model_name,
        serving=serving,
        relation=entry.features(feature_version),
        feature_version=feature_version,
        scored=scored,
        input_hash=dict(zip(frame["customer_id"], hashes, strict=True)),
        run_type=run_type or "production",
    )


def changed_rows(
    session: duckdb.DuckDBPyConnection,
    this: str | None,
    model_version: str,
    customer_ids: pd.Series,
    hashes: pd.Series,
) -> pd.Series:
    """Which customers to score: those whose standing prediction (the latest one of a finished,
    servable build; a killed build's rows stand for nothing) was made by another model version
    or from another input. A join in the warehouse on this build's rows, one per customer."""
    if not this or "input_hash" not in chain.columns_of(session, this):
        return pd.Series(True, index=customer_ids.index)
    session.register(
        "_scoring_inputs",
        pd.DataFrame({"customer_id": customer_ids.to_numpy(), "input_hash": hashes.to_numpy()}),
    )
    try:
        standing = session.execute(
            f"""
            with standing as (
                select p.customer_id, p.model_version, p.input_hash
                from {this} as p
                semi join _scoring_inputs as i on p.customer_id = i.customer_id
                where p.invocation_id in ({lineage.FINISHED_SERVABLE_BUILDS})
                -- what serving would count (serving.fct_customer_scores, invariant 8)
                and p.snapshot_id is not null and p.feature_version is not null
                and p.training_run_id is not null and p.git_commit is not null
                qualify row_number() over (
                    partition by p.customer_id order by p.scored_at desc, p.prediction_id desc
                ) = 1
            )
            select i.customer_id
            from _scoring_inputs as i
            inner join standing as s
                on i.customer_id = s.customer_id and i.input_hash = s.input_hash
            where s.model_version = ?
            """,
            [model_version],
        ).fetchall()
    finally:
        session.unregister("_scoring_inputs")
    unchanged = {r[0] for r in standing}
    return ~customer_ids.isin(unchanged)


def baseline(
    session: duckdb.DuckDBPyConnection,
    entry: catalogue.Entry,
    latest: Callable[[int], pd.DataFrame],
) -> tuple[Serving, Any, pd.DataFrame]:
    """The model's rule baseline as recorded (its artifact, sha256 verified) and the frame it
    scores; fitted on that frame (every customer at the latest as_of) and recorded when this
    version of its code has no record yet."""
    warehouse = lineage.warehouse_file(session)
    record = registry.recorded_baseline(session, entry.name)
    if record is not None:
        model = registry.load_baseline(warehouse, record)
        frame = latest(int(model.feature_version))
        version = record["model_version"]
        return Serving("baseline", version, version), model, frame
    rule = entry.module.baseline(entry.policy)
    frame = latest(int(rule.feature_version))
    model = entry.module.baseline(entry.policy, frame)
    artifact = baselines.to_bytes(entry.name, model)
    version, path, sha = registry.write_baseline(warehouse, entry.name, artifact)
    git = lineage.git_state()
    stamp = next((c for c in ("as_of", "period_end") if c in frame), None)  # CLV: period_end
    as_of = frame[stamp].max() if stamp and len(frame) else None
    store.append(
        session,
        "baseline_runs",
        {
            "training_run_id": version,
            "model_name": entry.name,
            "model_version": version,
            "run_type": "baseline",
            "status": "success",
            "code_hash": baselines.code_hash(entry.name),
            "git_commit": git.commit,
            "is_dirty": git.is_dirty,
            "lock_hash": lineage.lock_hash(),
            "invocation_id": lineage.current_invocation(session),
            "registered_at": _now(),
            "artifact_path": path,
            "artifact_sha256": sha,
            "fitted_on": entry.features(int(rule.feature_version)),
            "fitted_as_of": None if as_of is None else pd.Timestamp(as_of).date(),
            "fitted_rows": len(frame),
        },
    )
    return Serving("baseline", version, version), model, frame


def prediction_frame(
    session: duckdb.DuckDBPyConnection,
    *,
    this: str | None,
    model_name: str,
    serving: Serving,
    relation: str,
    feature_version: int,
    scored: Scored | None,
    input_hash: dict[int, str],
    run_type: str = "production",
) -> pd.DataFrame:
    """Prediction rows with full lineage, for the customers scored (none when no customer's
    model or input changed: the serving decision is recorded all the same)."""
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
    if scored is None:
        return store.frame([], tables.PREDICTION_COLUMNS)
    git = lineage.git_state()
    as_of = pd.Series(pd.to_datetime(scored.as_of.to_numpy()))
    hashes = [input_hash[int(c)] for c in scored.customer_ids]
    ids = [
        prediction_id(serving.model_version, h, c, a, invocation_id)
        for h, c, a in zip(hashes, scored.customer_ids, as_of, strict=True)
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
            "input_hash": hashes,
        }
    )
    return store.frame(out, tables.PREDICTION_COLUMNS)
