"""Customer lifetime value: BG/NBD for repeat transactions and P(alive), Gamma-Gamma for spend.

The one adapter to `lifetimes` (archived upstream): nothing else imports it. The BTYD
conventions of the literature: transactions on the same day count as one (their amounts summed);
frequency = number of repeat purchase periods; recency = first to last purchase and T = first
purchase to the calibration end, in the configured unit (`days`, or `weeks` = days / 7, via
lifetimes' `freq='D', freq_multiplier=7`; `freq='W'` would bucket by calendar week and shift the
fitted parameters); the calibration period ends at the as_of date, inclusive.

A fitted model is its parameters (r, alpha, a, b; p, q, v), stored as JSON, so the artifact is
deterministic and readable.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

UNITS = {"days": 1, "weeks": 7}
MONTH_DAYS = 30.4375


def _lifetimes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import lifetimes
        from lifetimes import utils

    return lifetimes, utils


def period_end_day(period_end: Any) -> pd.Timestamp:
    """The calibration end is a date and includes that whole day."""
    return pd.Timestamp(period_end).normalize()


def daily_transactions(transactions: pd.DataFrame) -> pd.DataFrame:
    tx = transactions[["customer_id", "ordered_at", "amount"]].copy()
    tx["ordered_at"] = pd.to_datetime(tx["ordered_at"]).dt.normalize()
    tx["amount"] = tx["amount"].astype(float)
    return tx.sort_values(["customer_id", "ordered_at"], kind="stable")


def summary(transactions: pd.DataFrame, period_end: Any, unit: str) -> pd.DataFrame:
    """frequency, recency, T, monetary_value per customer at `period_end` (BTYD conventions)."""
    _, utils = _lifetimes()
    out = utils.summary_data_from_transaction_data(
        daily_transactions(transactions),
        "customer_id",
        "ordered_at",
        monetary_value_col="amount",
        observation_period_end=period_end_day(period_end),
        freq="D",
        freq_multiplier=UNITS[unit],
    )
    return out.sort_index()


def calibration_holdout(
    transactions: pd.DataFrame, calibration_end: Any, holdout_end: Any, unit: str
) -> pd.DataFrame:
    _, utils = _lifetimes()
    out = utils.calibration_and_holdout_data(
        daily_transactions(transactions),
        "customer_id",
        "ordered_at",
        calibration_period_end=period_end_day(calibration_end),
        observation_period_end=period_end_day(holdout_end),
        freq="D",
        freq_multiplier=UNITS[unit],
        monetary_value_col="amount",
    )
    return out.sort_index()


@dataclass
class ClvModel:
    """Fitted BG/NBD and Gamma-Gamma parameters and the conventions they were fitted under."""

    unit: str
    bgnbd: dict[str, float] = field(default_factory=dict)
    gamma_gamma: dict[str, float] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        doc = {"unit": self.unit, "bgnbd": self.bgnbd, "gamma_gamma": self.gamma_gamma}
        return json.dumps(doc, indent=2, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> ClvModel:
        doc = json.loads(data)
        return cls(doc["unit"], doc["bgnbd"], doc["gamma_gamma"])

    @property
    def params(self) -> dict[str, float]:
        return {**self.bgnbd, **self.gamma_gamma}

    def _fitters(self):
        lifetimes, _ = _lifetimes()
        bgf = lifetimes.BetaGeoFitter()
        bgf.params_ = pd.Series(self.bgnbd)[["r", "alpha", "a", "b"]]
        # lifetimes sets this alias in fit(); a fitter rebuilt from parameters needs it too
        bgf.predict = bgf.conditional_expected_number_of_purchases_up_to_time
        ggf = lifetimes.GammaGammaFitter()
        ggf.params_ = pd.Series(self.gamma_gamma)[["p", "q", "v"]]
        return bgf, ggf

    def expected_transactions(self, rfm: pd.DataFrame, periods: np.ndarray | float) -> np.ndarray:
        bgf, _ = self._fitters()
        return np.asarray(
            bgf.conditional_expected_number_of_purchases_up_to_time(
                periods, rfm["frequency"], rfm["recency"], rfm["T"]
            ),
            dtype=float,
        )

    def p_alive(self, rfm: pd.DataFrame) -> np.ndarray:
        bgf, _ = self._fitters()
        return np.asarray(
            bgf.conditional_probability_alive(rfm["frequency"], rfm["recency"], rfm["T"]),
            dtype=float,
        )

    def expected_spend(self, rfm: pd.DataFrame) -> np.ndarray:
        _, ggf = self._fitters()
        return np.asarray(
            ggf.conditional_expected_average_profit(rfm["frequency"], rfm["monetary_value"]),
            dtype=float,
        )

    def clv(self, rfm: pd.DataFrame, horizon_months: int, monthly_discount: float) -> np.ndarray:
        """Discounted expected value over `horizon_months` (lifetimes' discounted-cash-flow sum)."""
        bgf, ggf = self._fitters()
        values = ggf.customer_lifetime_value(
            bgf,
            rfm["frequency"],
            rfm["recency"],
            rfm["T"],
            rfm["monetary_value"],
            time=horizon_months,
            discount_rate=monthly_discount,
            freq="W" if self.unit == "weeks" else "D",
        )
        return np.asarray(values, dtype=float)


def fit(rfm: pd.DataFrame, unit: str, penalizer: float) -> ClvModel:
    """Fit BG/NBD on all customers and Gamma-Gamma on repeat customers (frequency > 0)."""
    lifetimes, _ = _lifetimes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bgf = lifetimes.BetaGeoFitter(penalizer_coef=penalizer)
        bgf.fit(rfm["frequency"], rfm["recency"], rfm["T"])
        repeat = rfm[(rfm["frequency"] > 0) & (rfm["monetary_value"] > 0)]
        ggf = lifetimes.GammaGammaFitter(penalizer_coef=penalizer)
        ggf.fit(repeat["frequency"], repeat["monetary_value"])
    return ClvModel(
        unit,
        {k: float(v) for k, v in bgf.params_.items()},
        {k: float(v) for k, v in ggf.params_.items()},
    )


def holdout_actual_spend(holdout: pd.DataFrame) -> pd.Series:
    """Mean daily spend per customer in the holdout (same-day orders merged)."""
    tx = daily_transactions(holdout)
    daily = tx.groupby(["customer_id", "ordered_at"])["amount"].sum()
    return daily.groupby(level=0).mean()


def validate(
    model: ClvModel, cal_holdout: pd.DataFrame, holdout_spend: pd.Series
) -> tuple[dict[str, float], pd.DataFrame]:
    """Predicted vs actual holdout repeat transactions, in total, per customer and by
    calibration frequency; spend error for repeat customers."""
    cal = cal_holdout.rename(
        columns={
            "frequency_cal": "frequency",
            "recency_cal": "recency",
            "T_cal": "T",
            "monetary_value_cal": "monetary_value",
        }
    )
    predicted = model.expected_transactions(cal, cal_holdout["duration_holdout"].to_numpy())
    actual = cal_holdout["frequency_holdout"].to_numpy(dtype=float)
    by_frequency = (
        pd.DataFrame(
            {
                "frequency_cal": np.minimum(cal["frequency"].to_numpy(), 10).astype(int),
                "predicted": predicted,
                "actual": actual,
            }
        )
        .groupby("frequency_cal")
        .agg(
            customers=("actual", "size"), predicted=("predicted", "mean"), actual=("actual", "mean")
        )
        .reset_index()
    )
    repeat = cal[(cal["frequency"] > 0) & cal.index.isin(holdout_spend.index)]
    spend_predicted = model.expected_spend(repeat)
    spend_actual = holdout_spend.reindex(repeat.index).to_numpy()
    total_predicted, total_actual = float(predicted.sum()), float(actual.sum())
    metrics = {
        "holdout_transactions_predicted": total_predicted,
        "holdout_transactions_actual": total_actual,
        "holdout_transactions_relative_error": (total_predicted - total_actual)
        / max(total_actual, 1.0),
        "holdout_transactions_mae": float(np.abs(predicted - actual).mean()),
        "spend_mae_repeat_customers": float(np.abs(spend_predicted - spend_actual).mean())
        if len(repeat)
        else float("nan"),
        "spend_relative_error_repeat_customers": float(
            (spend_predicted.sum() - spend_actual.sum()) / max(spend_actual.sum(), 1.0)
        )
        if len(repeat)
        else float("nan"),
        "customers": float(len(cal)),
    }
    return metrics, by_frequency
