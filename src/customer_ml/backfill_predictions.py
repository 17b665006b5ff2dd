"""What a backfill would change in production's past predictions: every production prediction in
the backfill's slice (its as_of range, its cohort's customers) scored again by the same model —
the champion run's recorded artifact (sha256 checked) or the rule baseline — on the backfill's
recomputed inputs, and compared with the score production served.

Per model and as_of: customers compared, scores changed, mean and largest change, decisions that
flip across the model's `decision_threshold`, and the segment migration matrix for a model that
names its scores. CLV is scored from its scoring period's summaries, which a backfill computes
at the last as_of of its range only; its other as_of dates are listed as not rescored.

Run inside `backfill_diff.diff` while production is attached READ_ONLY as `production`.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pandas as pd

from customer_ml import btyd, catalogue, config, registry


def _inputs(con: duckdb.DuckDBPyConnection, model_name: str, feature_version: int, as_of):
    """The backfill's rows the model's scoring node would read at `as_of`, or None."""
    if model_name == "clv":
        summaries = btyd.summaries(con.table("datasets.clv_transactions_v1"))
        rows = summaries.filter("period = 'scoring'").df()
        if rows.empty or pd.Timestamp(rows["period_end"].iloc[0]).date() != as_of:
            return None
        return rows
    relation = catalogue.entry(model_name).features(feature_version)
    return con.execute(f"select * from {relation} where as_of = ?", [as_of]).df()


def _model(entry: catalogue.Entry, run: dict[str, Any] | None, production: str) -> Any:
    if run is None:
        return entry.module.baseline(entry.policy)
    path = config.recorded_file(production, run["artifact_path"])
    return entry.module.MODEL.from_bytes(registry.read_verified(path, run["artifact_sha256"]))


def diff(
    con: duckdb.DuckDBPyConnection, started: dict[str, Any], as_of_range: tuple
) -> list[dict[str, Any]]:
    """One row per model and as_of of production's predictions in the slice."""
    out = []
    cohort = "customer_id in (select customer_id from raw.customers)"
    for model_name in catalogue.names():
        entry = catalogue.entry(model_name)
        served = con.execute(
            f"select model_kind, training_run_id, feature_version, as_of, customer_id, score, "
            f"score_label from production.ml.ml_{model_name}__score "
            f"where as_of between ? and ? and {cohort}",
            list(as_of_range),
        ).df()
        groups = served.groupby(["model_kind", "training_run_id", "feature_version", "as_of"])
        for (kind, run_id, feature_version, as_of), original in groups:
            as_of = pd.Timestamp(as_of).date()
            row = {"model": model_name, "as_of": as_of, "served_by": run_id,
                   "customers": len(original)}  # fmt: skip
            inputs = _inputs(con, model_name, int(feature_version), as_of)
            if inputs is None or inputs.empty:
                out.append({**row, "note": "not rescored: the backfill has no inputs for it"})
                continue
            run = None
            if kind == "champion":
                [run] = (
                    con.execute(
                        f"select * from production.ml.ml_{model_name}__train "
                        "where training_run_id = ?",
                        [run_id],
                    )
                    .df()
                    .to_dict(orient="records")
                )
            model = _model(entry, run, started["production_path"])
            out.append({**row, **_compare(entry, original, entry.module.score(
                model, inputs, entry.policy))})  # fmt: skip
    return out


def _compare(entry: catalogue.Entry, original: pd.DataFrame, scored: Any) -> dict[str, Any]:
    new = pd.DataFrame({"customer_id": scored.customer_ids, "new": scored.scores})
    if scored.labels is not None:
        new["new_label"] = scored.labels
    both = original.merge(new, on="customer_id", how="left")
    change = (both["new"] - both["score"]).abs()
    changed = both["new"].isna() | (change > 0)
    out: dict[str, Any] = {
        "changed": int(changed.sum()),
        "mean_change": float((both["new"] - both["score"]).mean()),
        "largest_change": float(change.max()) if len(change) else 0.0,
    }
    if "decision_threshold" in entry.policy:
        threshold = float(entry.policy["decision_threshold"])
        then, now = both["score"] >= threshold, both["new"] >= threshold
        out["crossed_up"] = int((now & ~then).sum())
        out["crossed_down"] = int((~now & then).sum())
    if scored.labels is not None:
        matrix = pd.crosstab(both["score_label"], both["new_label"].fillna("(none)"))
        out["migration"] = {
            str(f): {str(t): int(n) for t, n in r.items()} for f, r in matrix.iterrows()
        }
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in out.items()}
