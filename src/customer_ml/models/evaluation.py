"""One evaluation for every model: candidate, rule baseline and current champion measured by the
model module's own `evaluate` on the same holdout, under the same metric names, and the
no-regression verdict the promotion gates read.

A champion that cannot be measured on the candidate's holdout (it needs inputs the holdout lacks)
is recorded as not comparable, and the no-regression check against it fails: a gate that cannot
compare does not pass.
"""

from __future__ import annotations

import math
from typing import Any

from customer_ml.models.protocol import ModelEntry

NOT_COMPARABLE = "not_comparable"


def compare(
    entry: ModelEntry, holdout: Any, models: dict[str, Any]
) -> dict[str, dict[str, float | str]]:
    """Metrics per group ('candidate', 'baseline', 'champion' when there is one) on `holdout`."""
    out: dict[str, dict[str, float | str]] = {}
    for group, model in models.items():
        if model is None:
            continue
        try:
            out[group] = entry.module.evaluate(model, holdout)
        except (KeyError, ValueError) as e:
            if group == "candidate":
                raise
            out[group] = {NOT_COMPARABLE: f"{type(e).__name__}: {e}"}
    return out


def _value(metrics: dict[str, Any], name: str) -> float | None:
    value = metrics.get(name)
    if not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def allowed_slack(entry: ModelEntry, reference: float) -> float:
    """How far a candidate may trail `reference` on the primary metric: regression_tolerance,
    or that share of the reference with regression_tolerance_relative (where the metric's
    scale asks for it: 0.02 absolute on an error near 0.05 let a candidate 36% worse pass)."""
    tolerance = float(entry.policy.get("regression_tolerance", 0.0))
    relative = bool(entry.policy.get("regression_tolerance_relative", False))
    return tolerance * abs(reference) if relative else tolerance


def no_regression(
    entry: ModelEntry, metrics: dict[str, dict[str, Any]]
) -> list[tuple[str, bool, str]]:
    """(check, passed, detail) of the candidate against the baseline and the champion on the
    model's primary metric, within its regression_tolerance (a share of the reference's value
    with regression_tolerance_relative). A missing or non-numeric value
    fails; no champion at training time passes (there is nothing to regress against)."""
    primary = entry.primary_metric
    tolerance = float(entry.policy.get("regression_tolerance", 0.0))
    relative = bool(entry.policy.get("regression_tolerance_relative", False))
    mine = _value(metrics.get("candidate", {}), primary)
    out = []
    for against in ("baseline", "champion"):
        name = f"no regression vs {against}"
        if against == "champion" and against not in metrics:
            out.append((name, True, "no champion when the candidate trained"))
            continue
        theirs_metrics = metrics.get(against, {})
        theirs = _value(theirs_metrics, primary)
        if mine is None or theirs is None:
            why = theirs_metrics.get(NOT_COMPARABLE) or f"no {primary} for " + (
                "the candidate" if mine is None else against
            )
            out.append((name, False, f"cannot compare: {why}"))
            continue
        slack = allowed_slack(entry, theirs)
        if entry.greater_is_better:
            ok = mine >= theirs - slack
        else:
            ok = mine <= theirs + slack
        better = "higher" if entry.greater_is_better else "lower"
        allowed = f"{tolerance:.0%} of it" if relative else f"{tolerance}"
        detail = f"{primary} {mine:.4f} vs {theirs:.4f} ({better} is better, tolerance {allowed})"
        out.append((name, ok, detail))
    return out


def impact(
    entry: ModelEntry, models: dict[str, Any], rows: Any, cfg: dict[str, Any]
) -> dict[str, Any]:
    """What serving the candidate instead of what serves now (the champion, else the rule
    baseline: models["serving"]) would change for the customers in `rows` (the latest as_of, as
    scoring reads it): customers scored by both, those whose score moves by more than the
    policy's `impact_score_change`, the score distributions (mean, 10th, 50th and 90th
    percentiles), decisions that flip across its `decision_threshold` and the campaign's size
    at it, the total value for a model whose `score_unit` is currency, and the segment migration
    matrix for a model that names its scores. When neither serves, or it cannot score these
    rows, says so instead."""
    module = entry.module
    against = "champion" if models.get("champion") is not None else "rule baseline"
    serving = models.get("champion") if against == "champion" else models.get("serving")
    if serving is None:
        return {"note": "no champion when the candidate trained: every score served would be new"}
    candidate = module.score(models["candidate"], rows, cfg)
    try:
        champion = module.score(serving, rows, cfg)
    except (KeyError, ValueError) as e:
        return {"note": f"the {against} cannot score these rows ({type(e).__name__}: {e})"}
    import pandas as pd

    both = pd.DataFrame(
        {"customer_id": candidate.customer_ids, "candidate": candidate.scores}
    ).merge(
        pd.DataFrame({"customer_id": champion.customer_ids, "champion": champion.scores}),
        on="customer_id",
    )
    change = (both["candidate"] - both["champion"]).abs()
    pairs = (("candidate", "candidate"), ("champion", against))  # column, name in the report
    out: dict[str, Any] = {
        "against": against,
        "customers": len(both),
        "distribution": {
            name: {
                "mean": float(both[group].mean()),
                **{f"p{q}": float(both[group].quantile(q / 100)) for q in (10, 50, 90)},
            }
            for group, name in pairs
        },
    }
    if cfg.get("score_unit") == "currency":
        out["total_value"] = {name: float(both[group].sum()) for group, name in pairs}
    if "impact_score_change" in cfg:
        limit = float(cfg["impact_score_change"])
        out["score_change"] = limit
        out["moved"] = int((change > limit).sum())
    if "decision_threshold" in cfg:
        threshold = float(cfg["decision_threshold"])
        now, then = both["candidate"] >= threshold, both["champion"] >= threshold
        out["decision_threshold"] = threshold
        out["flipped_up"] = int((now & ~then).sum())
        out["flipped_down"] = int((~now & then).sum())
        out["campaign_size"] = {"candidate": int(now.sum()), against: int(then.sum())}
    if candidate.labels is not None and champion.labels is not None:
        labels = pd.DataFrame(
            {"customer_id": candidate.customer_ids, "to": candidate.labels}
        ).merge(
            pd.DataFrame({"customer_id": champion.customer_ids, "from": champion.labels}),
            on="customer_id",
        )
        out["moved"] = int((labels["to"] != labels["from"]).sum())
        matrix = pd.crosstab(labels["from"], labels["to"])
        out["migration"] = {
            str(f): {str(t): int(n) for t, n in row.items()} for f, row in matrix.iterrows()
        }
    return out


def classification_metrics(y, p) -> dict[str, float]:
    """A binary classifier's metrics on labels `y` and scores `p` (churn's `evaluate`); NaN
    where a metric is undefined (one class only, no positives)."""
    import numpy as np
    from sklearn import metrics as skm

    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    top = np.argsort(-p, kind="stable")[: max(1, len(p) // 10)]
    base_rate = y.mean() if len(y) else float("nan")
    both = len(np.unique(y)) == 2
    return {
        "roc_auc": float(skm.roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(skm.average_precision_score(y, p)) if both else float("nan"),
        "log_loss": float(skm.log_loss(y, p, labels=[0, 1])),
        "brier": float(skm.brier_score_loss(y, p)),
        "top_decile_lift": float(y[top].mean() / base_rate) if base_rate else float("nan"),
        "top_decile_capture": float(y[top].sum() / y.sum()) if y.sum() else float("nan"),
        "rows": float(len(y)),
        "positive_rate": float(base_rate),
    }


def classifier_flags(
    y: Any, metrics: dict[str, dict[str, Any]], *, best_iteration: int, rounds: int
) -> list[str]:
    """What an approver must not over-read in a classifier's report: a top-decile lift at its
    ceiling (1 / the positive rate: the whole top decile is positive, so the metric cannot tell
    models apart), and early stopping that never fired (the best iteration is the last round)."""
    flags = []
    rate = float(sum(y)) / len(y) if len(y) else 0.0
    lift = metrics.get("candidate", {}).get("top_decile_lift")
    if rate > 0 and isinstance(lift, float) and lift >= 0.98 / rate:
        flags.append(
            f"top_decile_lift {lift:.3f} is at its ceiling 1 / positive rate = {1 / rate:.3f}: "
            "it cannot tell these models apart"
        )
    if best_iteration >= rounds:
        flags.append(
            f"early stopping never fired (best iteration {best_iteration} = num_boost_round "
            f"{rounds}): more rounds may fit better"
        )
    return flags


def segment_flags(silhouette_by_k: dict[str, float], largest_share: float | None) -> list[str]:
    """What an approver must not over-read in a segmentation: a k chosen at the top of the
    range searched (a larger k might separate better), and one segment holding most customers
    (the segmentation then tells most of them nothing)."""
    flags = []
    if len(silhouette_by_k) > 1:
        best = max(silhouette_by_k, key=silhouette_by_k.get)
        if int(best) == max(int(k) for k in silhouette_by_k):
            flags.append(
                f"k = {best}, the largest k searched, has the best silhouette: a larger k_max "
                "may separate customers better"
            )
    if largest_share is not None and largest_share > 0.5:
        flags.append(
            f"one segment holds {largest_share:.0%} of customers: for most of them the "
            "segmentation says nothing"
        )
    return flags
