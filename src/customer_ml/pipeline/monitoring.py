"""What the `monitoring` schema shows about each model's inputs and outputs (issue 17): feature
drift, prediction drift and performance on matured predictions. Each is one function here, read
by its dbt Python model (models/monitoring/) and, for feature drift and degradation, by the
retraining decision (customer_ml.pipeline.retraining), so a table an analyst reads and the evidence
of a decision are computed by the same code.

The model watched is the **serving** one: the champion when one was promoted (registry.champion,
age not checked), otherwise the latest successful production training run (what would be
promoted; the rule baseline serves meanwhile). Its **training reference** is the as_of of the
drift relation the run saw when it trained (the `data_as_of` of its `train` decision), or, for runs
recorded before decisions existed, the last as_of it validated or trained on.

Performance is measured on the serving model's own predictions (ml.ml_<model>__score by its
model_version) once their outcome is known:
- churn (and any model judged by ROC AUC): ROC AUC of the predictions at each as_of against the
  labels of that as_of (label relation at the run's label version); a window needs both classes.
- clv: absolute relative error of the predicted value summed over customers against the spend
  they realized over `horizon_months` after the as_of (a window is matured when the data covers
  the whole horizon). Not judged for degradation: the training holdout measures transactions.
- segments: stability, the share of customers keeping their segment from the previous scored
  as_of of the same model version. Not judged for degradation: no holdout reference.

Sustained degradation: worse than the training holdout by more than `degradation_tolerance` in
each of the last `degradation_windows` (K) windows.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import duckdb
import pandas as pd

from customer_ml import catalogue
from customer_ml.pipeline import drift
from customer_ml.records import registry, store
from customer_ml.records.chain import columns_of

FEATURE_DRIFT = {
    "model_name": "varchar",
    "reference_training_run_id": "varchar",
    "reference_role": "varchar",
    "drift_relation": "varchar",
    "reference_as_of": "date",
    "current_as_of": "date",
    "feature": "varchar",
    "feature_kind": "varchar",
    "psi": "double",
    "drift_band": "varchar",
    "is_drifted": "boolean",
    "drifted_share": "double",
}
PREDICTION_DRIFT = {
    "model_name": "varchar",
    "model_version": "varchar",
    "model_kind": "varchar",
    "score_kind": "varchar",
    "reference_as_of": "date",
    "current_as_of": "date",
    "reference_rows": "bigint",
    "current_rows": "bigint",
    "psi": "double",
    "drift_band": "varchar",
}


def typed(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]], columns: dict[str, str]):
    """Rows as an Arrow table with exactly `columns`, each cast to its SQL type (the same
    schema whether there are rows or none), for a dbt Python model to return."""
    name = f"monitoring_rows_{uuid.uuid4().hex}"
    con.register(name, pd.DataFrame(rows, columns=list(columns), dtype=object))
    try:
        casts = ", ".join(f'cast("{c}" as {t}) as "{c}"' for c, t in columns.items())
        return con.sql(f"select {casts} from {name}").to_arrow_table()
    finally:
        con.unregister(name)


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> dict | None:
    return (store.read(con, sql, params) or [None])[0]


def reference_run(con: duckdb.DuckDBPyConnection, model_name: str) -> tuple[dict | None, str]:
    """(the serving model's training run, 'champion' or 'latest_run'), or (None, 'none')."""
    champion = registry.champion(con, model_name, max_age_check=False)
    if champion is not None:
        return champion, "champion"
    table = f"ml.ml_{model_name}__train"
    if columns_of(con, table):
        latest = _one(
            con,
            f"select * from {table} where status = 'success' and run_type = 'production' "
            "order by started_at desc limit 1",
        )
        if latest is not None:
            return latest, "latest_run"
    return None, "none"


def trained_on_as_of(con: duckdb.DuckDBPyConnection, model_name: str, run: dict) -> date | None:
    """The as_of of the drift relation the run saw when it trained (see the module docstring)."""
    decided = _one(
        con,
        "select data_as_of from lineage.retraining_decisions where model_name = ? "
        "and action = 'train' and invocation_id = ? and data_as_of is not null "
        "order by decided_at desc limit 1",
        [model_name, run["invocation_id"]],
    )
    if decided is not None:
        return decided["data_as_of"]
    return run.get("validation_as_of_max") or run.get("train_as_of_max")


def latest_as_of(con: duckdb.DuckDBPyConnection, relation: str | None) -> date | None:
    if not relation or "as_of" not in columns_of(con, relation):  # no such relation: no columns
        return None
    return con.execute(f"select max(as_of) from {relation}").fetchall()[0][0]


def band(psi: float, rules: dict[str, Any]) -> str | None:
    if psi != psi:  # NaN: nothing to compare
        return None
    if psi > rules["psi_significant"]:
        return "significant"
    return "moderate" if psi >= rules["psi_moderate"] else "stable"


def feature_drift(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """One row per model and feature: PSI between the serving model's training reference and
    the latest as_of of its drift relation."""
    from customer_ml.pipeline import retraining_policy

    rows = []
    for name in catalogue.names():
        run, role = reference_run(con, name)
        if run is None:
            continue
        rules = retraining_policy.policy(name)
        relation = retraining_policy.drift_relation(rules, run["feature_version"])
        reference_as_of, current_as_of = (
            trained_on_as_of(con, name, run),
            latest_as_of(con, relation),
        )
        if reference_as_of is None or current_as_of is None:
            continue
        scores = drift.between(con, relation, reference_as_of, current_as_of)
        drifted = [f for f, (_, psi) in scores.items() if band(psi, rules) == "significant"]
        for feature, (kind, psi) in scores.items():
            rows.append(
                {
                    "model_name": name,
                    "reference_training_run_id": run["training_run_id"],
                    "reference_role": role,
                    "drift_relation": relation,
                    "reference_as_of": reference_as_of,
                    "current_as_of": current_as_of,
                    "feature": feature,
                    "feature_kind": kind,
                    "psi": psi,
                    "drift_band": band(psi, rules),
                    "is_drifted": feature in drifted,
                    "drifted_share": len(drifted) / len(scores),
                }
            )
    return rows


def prediction_drift(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """One row per model: PSI of the scores served at the latest as_of against the first as_of
    the same model version served (segments: by segment)."""
    from customer_ml.pipeline import retraining_policy

    rows = []
    for name in catalogue.names():
        latest = _one(
            con,
            "select model_version, model_kind, as_of from serving.fct_customer_scores "
            "where model_name = ? order by as_of desc, scored_at desc limit 1",
            [name],
        )
        if latest is None:
            continue
        served = con.execute(
            f"select s.as_of, s.score, p.score_label from serving.fct_customer_scores s "
            f"left join ml.ml_{name}__score p using (prediction_id) "
            "where s.model_name = ? and s.model_version = ?",
            [name, latest["model_version"]],
        ).df()
        served["as_of"] = pd.to_datetime(served["as_of"]).dt.date
        first = served["as_of"].min()
        reference = served[served["as_of"] == first]
        current = served[served["as_of"] == latest["as_of"]]
        categorical = served["score_label"].notna().any()
        column = "score_label" if categorical else "score"
        psi = (drift.psi_categorical if categorical else drift.psi)(
            reference[column], current[column]
        )
        rows.append(
            {
                "model_name": name,
                "model_version": latest["model_version"],
                "model_kind": latest["model_kind"],
                "score_kind": "categorical" if categorical else "numeric",
                "reference_as_of": first,
                "current_as_of": latest["as_of"],
                "reference_rows": len(reference),
                "current_rows": len(current),
                "psi": psi,
                "drift_band": band(psi, retraining_policy.policy(name)),
            }
        )
    return rows


DEFINITION_CHANGES = {
    "model_name": "varchar",
    "reference_training_run_id": "varchar",
    "reference_role": "varchar",
    "relation_kind": "varchar",
    "relation_name": "varchar",
    "trained_definition_hash": "varchar",
    "current_definition_hash": "varchar",
    "is_changed": "boolean",
}
BUSINESS_EVENTS = {
    "model_name": "varchar",
    "last_training_run_id": "varchar",
    "last_trained_at": "timestamp",
    "event_id": "bigint",
    "event_type": "varchar",
    "event_name": "varchar",
    "loaded_at": "timestamp",
}


def definition_changes(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """One row per model and relation it trained on (features, labels): the definition hash the
    serving model trained on against the one the latest build of that relation recorded."""
    rows = []
    for name in catalogue.names():
        run, role = reference_run(con, name)
        if run is None:
            continue
        entry = catalogue.entry(name)
        trained = {
            "features": (entry.features(run["feature_version"]), run["feature_definition_hash"]),
            "labels": (entry.labels(run["label_version"]), run["label_definition_hash"]),
        }
        for kind, (relation, trained_hash) in trained.items():
            if relation is None:
                continue
            current = _one(
                con,
                "select definition_hash from lineage.model_definitions where relation_name = ? "
                "order by recorded_at desc limit 1",
                [relation],
            )
            current_hash = current and current["definition_hash"]
            rows.append(
                {
                    "model_name": name,
                    "reference_training_run_id": run["training_run_id"],
                    "reference_role": role,
                    "relation_kind": kind,
                    "relation_name": relation,
                    "trained_definition_hash": trained_hash,
                    "current_definition_hash": current_hash,
                    "is_changed": current_hash is not None and current_hash != trained_hash,
                }
            )
    return rows


def business_events_since(con: duckdb.DuckDBPyConnection, model_name: str, since) -> list[dict]:
    """Business events loaded after `since` whose affected_models (comma-separated) name the
    model."""
    return store.read(
        con,
        "select event_id, event_type, name, _loaded_at as loaded_at from raw.business_events "
        "where list_contains(string_split(replace(coalesce(affected_models, ''), ' ', ''), "
        "','), ?) and _loaded_at > ? order by event_id",
        [model_name, since],
    )


def business_events(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """One row per model and business event naming it loaded since its last successful training
    run (what makes the next build train it)."""
    rows = []
    for name in catalogue.names():
        table = f"ml.ml_{name}__train"
        last = columns_of(con, table) and _one(
            con,
            f"select training_run_id, started_at from {table} where status = 'success' "
            "order by started_at desc limit 1",
        )
        if not last:
            continue
        for event in business_events_since(con, name, last["started_at"]):
            rows.append(
                {
                    "model_name": name,
                    "last_training_run_id": last["training_run_id"],
                    "last_trained_at": last["started_at"],
                    "event_id": event["event_id"],
                    "event_type": event["event_type"],
                    "event_name": event["name"],
                    "loaded_at": event["loaded_at"],
                }
            )
    return rows
