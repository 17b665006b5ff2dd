"""Rule baselines: need no training, always exist, and are what scoring falls back to.

Each rule is a model-like object with the parts of the model protocol that scoring and
evaluation use (`feature_version`, `predict`, and for CLV the BTYD quantities), so the same
`evaluate` measures candidate, baseline and champion.

A rule that reads its population (the segment rules' medians) is fitted once, on production's
whole population, and recorded like a model: its parameters are an artifact (`to_bytes`), and
its version hashes this file, its model's name and those bytes (`version`), so its predictions
carry lineage like a model's, each model's its own, and no cohort ever refits it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def code_hash(model_name: str) -> str:
    """What of the code a rule's version reads: this file and its model's name."""
    digest = hashlib.sha256(model_name.encode() + b"\0" + Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


def version(model_name: str, artifact: bytes) -> str:
    """The version of `model_name`'s rule with the parameters `artifact` (to_bytes): its own
    (two models' rules never share a model_version), changing with this file or the fit."""
    digest = hashlib.sha256(code_hash(model_name).encode() + b"\0" + artifact)
    return f"baseline-{model_name}-{digest.hexdigest()[:16]}"


def to_bytes(model_name: str, rule: Any) -> bytes:
    """A rule's artifact: which rule, with which parameters (JSON; floats as repr, exact)."""
    params = getattr(rule, "params", {})
    body = {"model": model_name, "rule": type(rule).__name__, "params": params}
    return json.dumps(body, sort_keys=True).encode()


def from_bytes(data: bytes) -> Any:
    body = json.loads(data)
    return RULES[body["rule"]](**body["params"])


def churn_scores(features: pd.DataFrame) -> np.ndarray:
    """Churn risk from recency relative to the customer's own purchase interval.

    A customer silent for k of their usual intervals scores 1 - exp(-k / 3); one with no order
    scores 1.
    """
    orders = features["orders_lifetime"].to_numpy(dtype=float)
    tenure = features["tenure_days"].fillna(0).to_numpy(dtype=float)
    since = features["days_since_last_order"].to_numpy(dtype=float)
    interval = np.maximum(tenure / np.maximum(orders, 1.0), 7.0)
    k = np.where(orders > 0, np.nan_to_num(since, nan=0.0) / interval, np.inf)
    return 1.0 - np.exp(-k / 3.0)


class ChurnRule:
    """Churn risk from recency relative to the customer's own purchase interval."""

    feature_version = 1

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        return churn_scores(features)


class ClvRule:
    """Each customer keeps buying at their calibration-period rate and spending their average;
    scored CLV is the trailing 12-month spend scaled to the horizon."""

    feature_version = 1

    def expected_transactions(self, rfm: pd.DataFrame, periods: np.ndarray | float) -> np.ndarray:
        rate = rfm["frequency"] / rfm["T"].clip(lower=1)
        return (rate * periods).to_numpy(dtype=float)

    def expected_spend(self, rfm: pd.DataFrame) -> np.ndarray:
        return rfm["monetary_value"].to_numpy(dtype=float)


class SegmentRules:
    """RFM quantile rules (see segment_rules). The medians are the population's, fixed when the
    rules are fitted (`fitted`: on every customer with an order, once, and recorded); unfitted
    rules take them from the frame predicted (a training run's holdout measure)."""

    feature_version = 2

    def __init__(
        self,
        median_days_since_last_order: float | None = None,
        median_amount_365d: float | None = None,
    ) -> None:
        fitted = median_days_since_last_order is not None and median_amount_365d is not None
        self.medians = (median_days_since_last_order, median_amount_365d) if fitted else None

    def fitted(self, customers: pd.DataFrame) -> SegmentRules:
        return SegmentRules(*segment_medians(customers))

    @property
    def params(self) -> dict[str, float]:
        if self.medians is None:
            raise ValueError("segment rules are fitted before they are recorded")
        since, amount = self.medians
        return {"median_days_since_last_order": since, "median_amount_365d": amount}

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        return segment_rules(features, self.medians)

    def name_of(self, segment_id: int) -> str:
        return SEGMENT_RULE_NAMES[int(segment_id)]


def clv_value(summaries: pd.DataFrame, horizon_months: int) -> pd.Series:
    """Rule baseline CLV: trailing 12-month spend (btyd.summaries' spend_365d, the 365 days up
    to the period end inclusive), scaled to the horizon, per customer."""
    trailing = pd.Series(
        summaries["spend_365d"].to_numpy(dtype=float),
        index=pd.Index(summaries["customer_id"].to_numpy(dtype="int64"), name="customer_id"),
    ).sort_index()
    return trailing * horizon_months / 12.0


RULES = {rule.__name__: rule for rule in (ChurnRule, ClvRule, SegmentRules)}

SEGMENT_RULE_NAMES = {
    0: "recent high-value",
    1: "recent low-value",
    2: "lapsed high-value",
    3: "lapsed low-value",
}


def _recency_and_value(features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    since = features["days_since_last_order"].fillna(np.inf).to_numpy(dtype=float)
    amount = features["amount_365d"].fillna(0).to_numpy(dtype=float)
    return since, amount


def segment_medians(features: pd.DataFrame) -> tuple[float, float]:
    """The medians of days since the last order (of those with one; -inf when nobody has one,
    so that everyone is lapsed) and of trailing 365-day spend."""
    since, amount = _recency_and_value(features)
    finite = since[np.isfinite(since)]
    median_since = float(np.median(finite)) if finite.size else float("-inf")
    return median_since, float(np.median(amount)) if amount.size else 0.0


def segment_rules(features: pd.DataFrame, medians: tuple[float, float] | None = None) -> np.ndarray:
    """RFM quantile rules: recent vs lapsed (days since last order vs its median) crossed with
    high vs low value (trailing 365-day spend vs its median); the medians of `features` unless
    given."""
    since, amount = _recency_and_value(features)
    median_since, median_amount = medians if medians is not None else segment_medians(features)
    lapsed = since > median_since
    low = amount <= median_amount
    return (lapsed.astype(int) * 2 + low.astype(int)).astype(int)
