"""Rule baselines: need no training, always exist, and are what scoring falls back to.

Each rule is a model-like object with the parts of the model protocol that scoring and
evaluation use (`feature_version`, `predict`, and for CLV the BTYD quantities), so the same
`evaluate` measures candidate, baseline and champion. A baseline's version is the hash of this
file and its model's name, so its predictions carry lineage like a model's, each model's its own.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd


def version(model_name: str) -> str:
    """The version of `model_name`'s rule: its own (predictions of two models' rules never share
    a model_version), changing with this file."""
    digest = hashlib.sha256(model_name.encode() + b"\0" + Path(__file__).read_bytes())
    return f"baseline-{model_name}-{digest.hexdigest()[:16]}"


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
    """RFM quantile rules (see segment_rules). The medians are the population's: fixed by
    `of_population` on every customer at the as_of (scoring scores only the customers whose
    input changed, and must not take the medians of those alone), else taken from the frame
    predicted."""

    feature_version = 2

    def __init__(self, medians: tuple[float, float] | None = None) -> None:
        self.medians = medians

    def of_population(self, features: pd.DataFrame) -> SegmentRules:
        return SegmentRules(segment_medians(features))

    @property
    def population_key(self) -> str:
        """What of the population the rules read: part of each scored row's input."""
        return "" if self.medians is None else f"medians {self.medians[0]!r} {self.medians[1]!r}"

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
