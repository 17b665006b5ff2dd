"""Customer lifetime value: BG/NBD for repeat transactions and P(alive), Gamma-Gamma for spend.

The one adapter to `lifetimes` (archived upstream): nothing else imports it. The BTYD
conventions of the literature: transactions on the same day count as one (their amounts summed);
frequency = number of repeat purchase periods; recency = first to last purchase and T = first
purchase to the calibration end, in the configured unit (`days`, or `weeks` = days / 7, as
lifetimes' `freq='D', freq_multiplier=7`; `freq='W'` would bucket by calendar week and shift the
fitted parameters); the calibration period ends at the as_of date, inclusive.

These measures are computed in the warehouse (`summaries`, `holdout_summaries`: one row per
customer and period), not by `lifetimes.utils` in pandas, which held ~90M order rows in memory at
a million customers; tests/python/test_clv.py checks them against `lifetimes.utils` on the same
transactions.

A $0 purchase is still a purchase: it counts in BG/NBD's frequency, recency and T, and is left
out of the spend model only (Gamma-Gamma's monetary value is the mean of the repeat purchase days
with a positive amount, `spend_frequency` their count).

A fitted model is its parameters (r, alpha, a, b; p, q, v) and those of its calibration-period
fit, stored as JSON with the time unit and feature version it was fitted under, so the artifact
is deterministic and readable. The model protocol over it is customer_ml.models.clv.
"""

from __future__ import annotations

import contextlib
import io
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


# The BTYD measures per customer and period, computed in the warehouse over the CLV datasets'
# rows (clv_transactions: period, period_end, holdout_days, customer_id, amount, ordered_at), so
# a million customers' orders never reach pandas: one row per customer per period does. Day
# counts are integers and amounts DECIMAL sums, cast to DOUBLE once: the same rows give the same
# bytes in any order. The unit (days or weeks) is applied by `rfm`.
SUMMARY_SQL = """
with daily as (
    select period, period_end, holdout_days, customer_id, day, sum(amount) as amount
    from (
        select * replace (cast(period_end as date) as period_end), cast(ordered_at as date) as day
        from tx
    )
    where day <= period_end
    group by all
),

numbered as (
    select *, row_number() over (partition by period, customer_id order by day) as nth
    from daily
)

select
    period,
    period_end,
    holdout_days,
    customer_id,
    count(*) - 1 as frequency,
    datediff('day', min(day), max(day)) as recency_days,
    datediff('day', min(day), period_end) as t_days,
    count(*) filter (where nth > 1 and amount > 0) as spend_frequency,
    cast(coalesce(sum(amount) filter (where nth > 1 and amount > 0), 0) as double) as repeat_spend,
    cast(coalesce(sum(amount) filter (where day > period_end - 365), 0) as double) as spend_365d
from numbered
group by period, period_end, holdout_days, customer_id
order by period, customer_id
"""

HOLDOUT_SQL = """
with daily as (
    select period_end, holdout_days, customer_id, day, sum(amount) as amount
    from (
        select * replace (cast(period_end as date) as period_end), cast(ordered_at as date) as day
        from tx
    )
    where day > period_end and day <= period_end + cast(holdout_days as integer)
    group by all
)

select
    'holdout' as period,
    period_end,
    holdout_days,
    customer_id,
    count(*) as frequency_holdout,
    count(*) filter (where amount > 0) as holdout_spend_days,
    cast(coalesce(sum(amount) filter (where amount > 0), 0) as double) as holdout_spend_total
from daily
group by period_end, holdout_days, customer_id
order by customer_id
"""


def summaries(transactions: Any) -> Any:
    """Per period and customer known then (a DuckDB relation over clv_transactions' rows): the
    purchase days (same-day orders are one), frequency = repeat days, recency and T in days
    (first to last purchase day; first purchase day to the period end, inclusive), the repeat
    days with a positive amount (`spend_frequency`) and their total, the trailing 365 days' spend
    (the rule baseline's). Orders after the period end are not counted."""
    return transactions.query("tx", SUMMARY_SQL)


def stored_summaries(clv_summaries: Any) -> Any:
    """The rows of the dbt model clv_summaries (which stores `summaries` of clv_transactions per
    period, recomputed only when a period's transactions change), as `summaries` returns them."""
    return clv_summaries.query(
        "stored", "select * exclude (computed_from) from stored order by period, customer_id"
    )


def holdout_summaries(holdout: Any) -> Any:
    """Per customer (a DuckDB relation over clv_holdout's rows): purchase days in the holdout
    (after the calibration end, up to `holdout_days` later inclusive), and the days with a
    positive amount and their total (the actual spend the Gamma-Gamma fit predicts)."""
    return holdout.query("tx", HOLDOUT_SQL)


def _by_customer(frame: pd.DataFrame) -> pd.DataFrame:
    index = pd.Index(frame["customer_id"].to_numpy(dtype="int64"), name="customer_id")
    return frame.set_axis(index, axis=0).sort_index()


def rfm(period: pd.DataFrame, unit: str) -> pd.DataFrame:
    """`summaries` rows of one period as lifetimes' frame, in `unit`: frequency, recency, T (all
    purchases), spend_frequency and monetary_value (mean of the positive-amount repeat days)."""
    rows = _by_customer(period)
    days = UNITS[unit]
    spend_frequency = rows["spend_frequency"].to_numpy(dtype=float)
    repeat_spend = rows["repeat_spend"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(spend_frequency > 0, repeat_spend / spend_frequency, 0.0)
    return pd.DataFrame(
        {
            "frequency": rows["frequency"].to_numpy(dtype=float),
            "recency": rows["recency_days"].to_numpy(dtype=float) / days,
            "T": rows["t_days"].to_numpy(dtype=float) / days,
            "spend_frequency": spend_frequency,
            "monetary_value": monetary,
        },
        index=rows.index,
    )


def calibration_holdout(
    calibration: pd.DataFrame, holdout: pd.DataFrame, holdout_days: int, unit: str
) -> pd.DataFrame:
    """lifetimes' calibration/holdout frame (frequency_cal, recency_cal, T_cal,
    monetary_value_cal, spend_frequency_cal, frequency_holdout, duration_holdout) for every
    customer known at the calibration end, with `holdout_spend`: the mean positive daily spend in
    the holdout (NaN without one)."""
    cal = rfm(calibration, unit).add_suffix("_cal")
    held = _by_customer(holdout).reindex(cal.index)
    cal["frequency_holdout"] = held["frequency_holdout"].fillna(0).to_numpy(dtype=float)
    cal["duration_holdout"] = holdout_days / UNITS[unit]
    spend_days = held["holdout_spend_days"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        cal["holdout_spend"] = np.where(
            spend_days > 0, held["holdout_spend_total"].to_numpy(dtype=float) / spend_days, np.nan
        )
    return cal


@dataclass
class ClvModel:
    """Fitted BG/NBD and Gamma-Gamma parameters and the conventions they were fitted under."""

    unit: str
    bgnbd: dict[str, float] = field(default_factory=dict)
    gamma_gamma: dict[str, float] = field(default_factory=dict)
    # the calibration-period fit ({"bgnbd": ..., "gamma_gamma": ...}): what evaluation measures,
    # since it saw nothing of the holdout
    calibration: dict[str, dict[str, float]] | None = None
    feature_version: int = 1

    def to_bytes(self) -> bytes:
        doc = {
            "unit": self.unit,
            "bgnbd": self.bgnbd,
            "gamma_gamma": self.gamma_gamma,
            "calibration": self.calibration,
            "feature_version": self.feature_version,
        }
        return json.dumps(doc, indent=2, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> ClvModel:
        doc = json.loads(data)
        return cls(
            doc["unit"],
            doc["bgnbd"],
            doc["gamma_gamma"],
            doc.get("calibration"),
            int(doc.get("feature_version", 1)),
        )

    def calibrated(self) -> ClvModel:
        """The calibration-period fit as a model (itself when it has none)."""
        if not self.calibration:
            return self
        return ClvModel(
            self.unit, self.calibration["bgnbd"], self.calibration["gamma_gamma"], None, 1
        )

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
            ggf.conditional_expected_average_profit(rfm["spend_frequency"], rfm["monetary_value"]),
            dtype=float,
        )

    def clv(self, rfm: pd.DataFrame, horizon_months: int, monthly_discount: float) -> np.ndarray:
        """Discounted expected value over `horizon_months`: lifetimes' discounted-cash-flow sum of
        BG/NBD's expected purchases times Gamma-Gamma's expected spend per purchase (from the
        positive-spend purchases; a customer with none is valued at the population mean)."""
        _, utils = _lifetimes()
        bgf, _ = self._fitters()
        values = utils._customer_lifetime_value(
            bgf,
            rfm["frequency"],
            rfm["recency"],
            rfm["T"],
            pd.Series(self.expected_spend(rfm), index=rfm.index),
            time=horizon_months,
            discount_rate=monthly_discount,
            freq="W" if self.unit == "weeks" else "D",
        )
        return np.asarray(values, dtype=float)


# lifetimes' gradient tolerance, then one ten times looser: at 200k customers scipy's BFGS
# stopped the unpenalized Gamma-Gamma fit on "precision loss" with a gradient of 1.2e-7 at the
# optimum (the looser fit reaches the same likelihood to 1e-14), and lifetimes calls any stop
# that is not "success" non-convergence. A fit that converges at the first is unchanged.
TOLERANCES = (1e-7, 1e-6)


def fit_params(
    rfm: pd.DataFrame, unit: str, penalizer: float, tolerances: tuple[float, ...] = TOLERANCES
) -> ClvModel:
    """Fit BG/NBD on all customers and Gamma-Gamma on repeat customers with positive spend, each
    at the first of `tolerances` it converges at."""
    lifetimes, utils = _lifetimes()
    repeat = rfm[(rfm["spend_frequency"] > 0) & (rfm["monetary_value"] > 0)]
    bgf = lifetimes.BetaGeoFitter(penalizer_coef=penalizer)
    ggf = lifetimes.GammaGammaFitter(penalizer_coef=penalizer)
    for name, fitter, args in (
        ("BG/NBD", bgf, (rfm["frequency"], rfm["recency"], rfm["T"])),
        ("Gamma-Gamma", ggf, (repeat["spend_frequency"], repeat["monetary_value"])),
    ):
        for tolerance in tolerances:
            try:
                with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                    warnings.simplefilter("ignore")
                    fitter.fit(*args, tol=tolerance)
                break
            except utils.ConvergenceError:
                continue
        else:
            raise ValueError(
                f"{name} did not converge with penalizer {penalizer:g} on {len(args[0])} "
                f"customers (gradient tolerances {', '.join(map(str, tolerances))}): the data "
                "cannot identify its parameters at this penalizer; set a larger one, e.g. dbt "
                "build --vars '{clv_penalizer: 0.001}'"
            )
    return ClvModel(
        unit,
        {k: float(v) for k, v in bgf.params_.items()},
        {k: float(v) for k, v in ggf.params_.items()},
    )


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
            "spend_frequency_cal": "spend_frequency",
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
    repeat = cal[(cal["spend_frequency"] > 0) & cal.index.isin(holdout_spend.index)]
    spend_predicted = model.expected_spend(repeat)
    spend_actual = holdout_spend.reindex(repeat.index).to_numpy()
    total_predicted, total_actual = float(predicted.sum()), float(actual.sum())
    metrics = {
        "holdout_transactions_predicted": total_predicted,
        "holdout_transactions_actual": total_actual,
        "holdout_transactions_relative_error": (total_predicted - total_actual)
        / max(total_actual, 1.0),
        "holdout_transactions_abs_relative_error": abs(total_predicted - total_actual)
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
