"""What a backfill would change in production's past predictions: every production prediction in
the backfill's slice (its as_of range, its cohort's customers) scored again by the same model —
the champion run's recorded artifact (sha256 checked) or the rule baseline — on the backfill's
recomputed inputs, and compared with the score production served.

Per model and as_of: customers compared, scores changed, mean and largest change, decisions that
flip across the model's `decision_threshold`, and the segment migration matrix for a model that
names its scores. CLV is scored from its scoring period's summaries, which a backfill computes
at the last as_of of its range only; its other as_of dates are listed as not rescored.

Run by `backfill_diff.diff` while production is attached READ_ONLY as `production`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from customer_ml import catalogue, config
from customer_ml.models import btyd
from customer_ml.records import registry


def _inputs(con: duckdb.DuckDBPyConnection, model_name: str, feature_version: int, as_of):
    """The backfill's rows the model's scoring node would read at `as_of`, or None (also when
    the backfill did not build them: a backfill of one feature version builds no CLV dataset)."""
    from customer_ml.records.chain import columns_of

    if model_name == "clv":
        if not columns_of(con, "datasets.clv_transactions_v1"):
            return None
        summaries = btyd.summaries(con.table("datasets.clv_transactions_v1"))
        rows = summaries.filter("period = 'scoring'").df()
        if rows.empty or pd.Timestamp(rows["period_end"].iloc[0]).date() != as_of:
            return None
        return rows
    relation = catalogue.entry(model_name).features(feature_version)
    if not columns_of(con, relation):
        return None
    return con.execute(f"select * from {relation} where as_of = ?", [as_of]).df()


def _model(entry: catalogue.Entry, kind: str, run_id: str, con, production: str) -> Any:
    """The model that served: the champion run's artifact, or the rule baseline as production
    recorded it (fitted on production's whole population, never on a backfill's cohort); None
    for a rule recorded before rules were fitted once (it kept no parameters)."""
    if kind != "champion":
        record = registry.recorded_baseline(con, entry.name, run_id, database="production")
        if record is None or not record.get("artifact_path"):
            return None
        return registry.load_baseline(production, record)
    [run] = (
        con.execute(
            f"select * from production.ml.ml_{entry.name}__train where training_run_id = ?",
            [run_id],
        )
        .df()
        .to_dict(orient="records")
    )
    path = config.recorded_file(production, run["artifact_path"])
    return entry.module.MODEL.from_bytes(registry.read_verified(path, run["artifact_sha256"]))


NO_RECORDED_RULE = (
    "not rescored: served by a rule baseline recorded before rules were fitted once "
    "(it kept no parameters to score with)"
)

CURRENT_SQL = """
select p.model_kind, p.training_run_id, p.model_version, p.feature_version, p.as_of,
    p.customer_id, p.prediction_id, p.score, p.score_label
from production.ml.ml_{model}__score p
join production.lineage.builds b using (invocation_id)
where not b.is_dirty and coalesce(b.run_type, 'production') = 'production'
    and p.as_of between ? and ? and p.customer_id in (select customer_id from raw.customers)
qualify row_number() over (
    partition by p.customer_id, p.as_of order by p.scored_at desc, p.prediction_id
) = 1
"""


def rescored(
    con: duckdb.DuckDBPyConnection, started: dict[str, Any], as_of_range: tuple
) -> Iterator[tuple[catalogue.Entry, dict[str, Any], pd.DataFrame | None]]:
    """Per model and as_of, production's current predictions in the slice (the latest of a
    finished clean production build per customer) joined with the backfill's score of each
    (`new`, `new_label`; NaN where the backfill has no inputs for the customer): the model's
    entry, the group's facts, and the rows (None when the backfill has no inputs at that as_of)."""
    for model_name in catalogue.names():
        entry = catalogue.entry(model_name)
        served = con.execute(CURRENT_SQL.format(model=model_name), list(as_of_range)).df()
        groups = served.groupby(["model_kind", "training_run_id", "feature_version", "as_of"])
        for (kind, run_id, feature_version, as_of), original in groups:
            as_of = pd.Timestamp(as_of).date()
            row = {"model": model_name, "as_of": as_of, "served_by": run_id,
                   "customers": len(original)}  # fmt: skip
            inputs = _inputs(con, model_name, int(feature_version), as_of)
            if inputs is None or inputs.empty:
                yield entry, row, None
                continue
            model = _model(entry, kind, run_id, con, started["production_path"])
            if model is None:
                yield entry, {**row, "note": NO_RECORDED_RULE}, None
                continue
            scored = entry.module.score(model, inputs, entry.policy)
            new = pd.DataFrame({"customer_id": scored.customer_ids, "new": scored.scores})
            if scored.labels is not None:
                new["new_label"] = scored.labels
            yield entry, row, original.merge(new, on="customer_id", how="left")


def diff(rescored: list) -> list[dict[str, Any]]:
    """One row per model and as_of of production's current predictions in the slice."""
    return [
        {"note": "not rescored: the backfill has no inputs for it", **row}
        if both is None
        else {**row, **_compare(entry, both)}
        for entry, row, both in rescored
    ]


def publishable(rescored: list) -> dict[str, pd.DataFrame]:
    """Model -> the rows whose score the backfill changes (a customer it has no score for is
    not one), with the production prediction each replaces; models with none are left out."""
    out: dict[str, list[pd.DataFrame]] = {}
    for _entry, row, both in rescored:
        if both is None:
            continue
        moved = both[both["new"].notna() & (both["new"] != both["score"])]
        if len(moved):
            out.setdefault(row["model"], []).append(moved)
    return {model: pd.concat(frames, ignore_index=True) for model, frames in out.items()}


def _compare(entry: catalogue.Entry, both: pd.DataFrame) -> dict[str, Any]:
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
        out["campaign_size"] = {"served": int(then.sum()), "backfilled": int(now.sum())}
    if entry.policy.get("score_unit") == "currency":
        out["total_value"] = {"served": float(both["score"].sum()),
                              "backfilled": float(both["new"].sum())}  # fmt: skip
    if "new_label" in both:
        matrix = pd.crosstab(both["score_label"], both["new_label"].fillna("(none)"))
        out["migration"] = {
            str(f): {str(t): int(n) for t, n in r.items()} for f, r in matrix.iterrows()
        }
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in out.items()}
