"""Performance of each model's serving model on its own matured predictions, one row per
evaluation window (issue 17): read by models/monitoring/model_performance.py and by the retraining
decision's degradation trigger (customer_ml.pipeline.retraining). The serving model and its
reference are customer_ml.pipeline.monitoring's; the metrics per model and the degradation rule are
in the docstring of customer_ml.pipeline.monitoring.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import duckdb
import pandas as pd

from customer_ml import catalogue
from customer_ml.pipeline.monitoring import reference_run
from customer_ml.records.chain import columns_of

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
    from customer_ml.pipeline import retraining_policy

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
    rules = retraining_policy.policy(model_name)
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
