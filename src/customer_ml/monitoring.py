"""What the `monitoring` schema shows about each model's inputs and outputs (issue 17): feature
drift, prediction drift and performance on matured predictions. Each is one function here, read
by its dbt Python model (models/monitoring/) and, for feature drift and degradation, by the
retraining decision (customer_ml.retraining), so a table an analyst reads and the evidence of a
decision are computed by the same code.

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

import json
import uuid
from datetime import date
from typing import Any

import duckdb
import pandas as pd

from customer_ml import catalogue, drift, records, registry
from customer_ml.chain import columns_of

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
PERFORMANCE = {
    "model_name": "varchar",
    "model_version": "varchar",
    "training_run_id": "varchar",
    "reference_role": "varchar",
    "window_as_of": "date",
    "metric": "varchar",
    "value": "double",
    "customers": "bigint",
    "holdout_value": "double",
    "tolerance": "double",
    "is_degraded": "boolean",
    "consecutive_degraded": "bigint",
    "degradation_windows": "bigint",
    "is_sustained_degradation": "boolean",
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
    return (records.read(con, sql, params) or [None])[0]


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
    from customer_ml import retraining

    rows = []
    for name in catalogue.names():
        run, role = reference_run(con, name)
        if run is None:
            continue
        rules = retraining.policy(name)
        relation = retraining.drift_relation(rules, run["feature_version"])
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
    from customer_ml import retraining

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
                "drift_band": band(psi, retraining.policy(name)),
            }
        )
    return rows


def _roc_auc_windows(con, entry, run) -> tuple[str, list[tuple[date, float, int]]]:
    from sklearn.metrics import roc_auc_score

    labels = entry.labels(run["label_version"])
    label_columns = [c for c in columns_of(con, labels) if c.startswith("is_")] if labels else []
    if not label_columns:
        return "roc_auc", []
    matured = con.execute(
        f"select p.as_of, p.score, l.{label_columns[0]} as label "
        f"from ml.ml_{entry.name}__score p join {labels} l using (customer_id, as_of) "
        "where p.model_version = ? order by p.as_of",
        [run["model_version"]],
    ).df()
    windows = []
    for as_of, window in matured.groupby("as_of"):
        if window["label"].nunique() == 2:
            auc = float(roc_auc_score(window["label"].astype(int), window["score"]))
            windows.append((pd.Timestamp(as_of).date(), auc, len(window)))
    return "roc_auc", windows


def _clv_windows(con, entry, run) -> tuple[str, list[tuple[date, float, int]]]:
    months = int(entry.policy["horizon_months"])
    found = con.execute(
        f"""
        with predicted as (
            select customer_id, as_of, score from ml.ml_{entry.name}__score
            where model_version = ?
        ),
        orders as (  -- each order's latest version
            select customer_id, ordered_at, amount from (
                select *, row_number() over (
                    partition by order_id order by _available_at desc, _loaded_at desc
                ) as version_rank
                from staging.stg_shop__orders
            ) where version_rank = 1
        ),
        windows as (
            select distinct as_of from predicted
            where as_of + to_months({months})
                <= (select cast(max(ordered_at) as date) from staging.stg_shop__orders)
        )
        select w.as_of,
            (select sum(score) from predicted p where p.as_of = w.as_of) as predicted,
            (select coalesce(sum(o.amount), 0) from orders o
             where o.customer_id in (select customer_id from predicted p where p.as_of = w.as_of)
               and o.ordered_at >= w.as_of and o.ordered_at < w.as_of + to_months({months})
            ) as realized,
            (select count(*) from predicted p where p.as_of = w.as_of) as customers
        from windows w order by w.as_of
        """,
        [run["model_version"]],
    ).fetchall()
    return "realized_value_abs_relative_error", [
        (as_of, abs(float(predicted) - float(realized)) / float(realized), n)
        for as_of, predicted, realized, n in found
        if realized
    ]


def _stability_windows(con, entry, run) -> tuple[str, list[tuple[date, float, int]]]:
    found = con.execute(
        f"""
        with scored as (
            select distinct customer_id, as_of, score_label from ml.ml_{entry.name}__score
            where model_version = ?
        ),
        paired as (
            select s.as_of, s.customer_id, s.score_label,
                lag(s.score_label) over (partition by s.customer_id order by s.as_of) as before
            from scored s
        )
        select as_of, avg(case when score_label = before then 1.0 else 0.0 end), count(*)
        from paired where before is not null group by as_of order by as_of
        """,
        [run["model_version"]],
    ).fetchall()
    return "segment_stability", [(a, float(v), n) for a, v, n in found]


def performance(con: duckdb.DuckDBPyConnection, model_name: str) -> list[dict[str, Any]]:
    """One row per evaluation window of the serving model of `model_name` (see the module
    docstring), with the degradation judgement where the model has a holdout reference."""
    from customer_ml import retraining

    entry = catalogue.entry(model_name)
    run, role = reference_run(con, model_name)
    if run is None or not columns_of(con, f"ml.ml_{model_name}__score"):
        return []
    if entry.primary_metric == "roc_auc":
        metric, windows = _roc_auc_windows(con, entry, run)
        holdout = json.loads(run["metrics_json"])["candidate"]["roc_auc"]
    elif model_name == "clv":
        (metric, windows), holdout = _clv_windows(con, entry, run), None
    else:
        (metric, windows), holdout = _stability_windows(con, entry, run), None
    rules = retraining.policy(model_name)
    k, tolerance = int(rules["degradation_windows"]), rules["degradation_tolerance"]
    rows, streak = [], 0
    for as_of, value, customers in windows:
        degraded = None if holdout is None else value < holdout - tolerance
        streak = streak + 1 if degraded else 0
        rows.append(
            {
                "model_name": model_name,
                "model_version": run["model_version"],
                "training_run_id": run["training_run_id"],
                "reference_role": role,
                "window_as_of": as_of,
                "metric": metric,
                "value": value,
                "customers": customers,
                "holdout_value": holdout,
                "tolerance": tolerance,
                "is_degraded": degraded,
                "consecutive_degraded": streak,
                "degradation_windows": k,
                "is_sustained_degradation": None if holdout is None else bool(k and streak >= k),
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
    return records.read(
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
