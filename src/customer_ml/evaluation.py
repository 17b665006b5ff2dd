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

from customer_ml.catalogue import Entry

NOT_COMPARABLE = "not_comparable"


def compare(
    entry: Entry, holdout: Any, models: dict[str, Any]
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


def no_regression(entry: Entry, metrics: dict[str, dict[str, Any]]) -> list[tuple[str, bool, str]]:
    """(check, passed, detail) of the candidate against the baseline and the champion on the
    model's primary metric, within its regression_tolerance. A missing or non-numeric value
    fails; no champion at training time passes (there is nothing to regress against)."""
    primary = entry.primary_metric
    tolerance = float(entry.policy.get("regression_tolerance", 0.0))
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
        if entry.greater_is_better:
            ok = mine >= theirs - tolerance
        else:
            ok = mine <= theirs + tolerance
        better = "higher" if entry.greater_is_better else "lower"
        detail = f"{primary} {mine:.4f} vs {theirs:.4f} ({better} is better, tolerance {tolerance})"
        out.append((name, ok, detail))
    return out
