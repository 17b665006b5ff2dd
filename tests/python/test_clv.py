"""CLV: the BTYD conventions on hand-computed examples and against `lifetimes.utils` (the
warehouse computes them: customer_ml.models.btyd.summaries), the fit, and the baselines."""

from __future__ import annotations

import warnings
from datetime import date

import conftest
import numpy as np
import pandas as pd
import pytest

from customer_ml.models import baselines, btyd

TX = pd.DataFrame(
    {
        "customer_id": [1, 1, 1, 1, 2, 1],
        "ordered_at": pd.to_datetime(
            [
                "2025-01-01 09:00",
                "2025-01-01 18:30",  # same day as the first: merged, amounts summed
                "2025-01-15 12:00",
                "2025-01-29 08:00",
                "2025-02-01 10:00",
                "2025-02-12 10:00",  # after the calibration end: not counted
            ]
        ),
        "amount": [10.0, 5.0, 20.0, 30.0, 7.0, 99.0],
    }
)
END = "2025-02-11"


def _period(tx: pd.DataFrame, end: str, period: str = "calibration", days: int = 28):
    return tx.assign(period=period, period_end=date.fromisoformat(end), holdout_days=days)


def _summaries(tx: pd.DataFrame, end: str) -> pd.DataFrame:
    return conftest.clv_summaries(_period(tx, end))


def _rfm(tx: pd.DataFrame, end: str, unit: str) -> pd.DataFrame:
    return btyd.rfm(_summaries(tx, end), unit)


def test_btyd_conventions_in_weeks() -> None:
    rfm = _rfm(TX, END, "weeks")
    a, b = rfm.loc[1], rfm.loc[2]
    assert a["frequency"] == 2  # three purchase days, two of them repeats
    assert a["recency"] == pytest.approx(28 / 7)  # 1 Jan to 29 Jan
    assert a["T"] == pytest.approx(41 / 7)  # 1 Jan to the end of 11 Feb
    assert a["monetary_value"] == pytest.approx(25.0)  # mean of the repeat purchases only
    assert (b["frequency"], b["recency"], b["T"]) == (0, 0, pytest.approx(10 / 7))


def test_btyd_conventions_in_days() -> None:
    rfm = _rfm(TX, END, "days")
    assert (rfm.loc[1, "recency"], rfm.loc[1, "T"]) == (28, 41)


def test_calibration_ends_at_the_as_of_day_inclusive() -> None:
    late_same_day = pd.concat(
        [
            TX,
            pd.DataFrame(
                {
                    "customer_id": [2],
                    "ordered_at": [pd.Timestamp("2025-02-11 23:59")],
                    "amount": [3.0],
                }
            ),
        ]  # fmt: skip
    )
    rfm = _rfm(late_same_day, END, "days")
    assert rfm.loc[2, "frequency"] == 1 and rfm.loc[2, "recency"] == 10


def _calibration_holdout(tx: pd.DataFrame, end: str, days: int, unit: str) -> pd.DataFrame:
    after = tx["ordered_at"] >= pd.Timestamp(end) + pd.Timedelta(days=1)
    rows = pd.concat(
        [_period(tx[~after], end, days=days), _period(tx[after], end, "holdout", days)]
    )
    frame = conftest.clv_summaries(rows)
    by_period = {name: rows for name, rows in frame.groupby("period")}
    return btyd.calibration_holdout(
        by_period["calibration"], by_period.get("holdout", frame.iloc[:0]), days, unit
    )


def test_calibration_holdout_split() -> None:
    ch = _calibration_holdout(TX, END, 28, "weeks")
    assert ch.loc[1, "frequency_cal"] == 2
    assert ch.loc[1, "frequency_holdout"] == 1
    assert ch.loc[1, "duration_holdout"] == pytest.approx(28 / 7)
    assert ch.loc[1, "holdout_spend"] == pytest.approx(99.0)
    assert ch.loc[2, "frequency_holdout"] == 0 and np.isnan(ch.loc[2, "holdout_spend"])


def _lifetimes_utils():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lifetimes import utils

    return utils


@pytest.mark.parametrize("unit", ["weeks", "days"])
def test_the_warehouse_summaries_are_lifetimes_conventions(unit: str) -> None:
    """The oracle: lifetimes' own summaries of the same orders (several a day, $0 purchases,
    orders after the period end), and the spend measures computed order by order in pandas."""
    utils = _lifetimes_utils()
    tx = _simulated(seed=3)
    tx = pd.concat([tx, tx.iloc[::7].assign(amount=0.0)], ignore_index=True)  # same-day, $0
    end, holdout_end, days = "2024-12-31", "2025-03-31", 90
    ch = _calibration_holdout(tx, end, days, unit)
    by_day = tx.assign(ordered_at=tx["ordered_at"].dt.normalize())  # the end day is inclusive
    expected = utils.calibration_and_holdout_data(
        by_day, "customer_id", "ordered_at", calibration_period_end=end,
        observation_period_end=holdout_end, freq="D", freq_multiplier=btyd.UNITS[unit],
        monetary_value_col="amount",  # without one, lifetimes fails under pandas 3
    )  # fmt: skip
    assert ch.index.equals(expected.index.astype("int64"))
    for column in ("frequency_cal", "recency_cal", "T_cal", "frequency_holdout"):
        np.testing.assert_array_equal(ch[column].to_numpy(), expected[column].to_numpy())
    assert (ch["duration_holdout"] == expected["duration_holdout"]).all()

    known = tx[tx["ordered_at"] < pd.Timestamp(end) + pd.Timedelta(days=1)]
    daily = known.groupby(["customer_id", known["ordered_at"].dt.normalize()])["amount"].sum()
    repeat = daily[daily.groupby(level=0).cumcount() > 0]
    positive = repeat[repeat > 0].groupby(level=0)
    spend = pd.DataFrame({"n": positive.size(), "mean": positive.mean()}).reindex(ch.index)
    np.testing.assert_array_equal(ch["spend_frequency_cal"], spend["n"].fillna(0))
    np.testing.assert_allclose(ch["monetary_value_cal"], spend["mean"].fillna(0), rtol=1e-12)

    trailing = known[known["ordered_at"] >= pd.Timestamp(end) - pd.Timedelta(days=364)]
    expected_365 = trailing.groupby("customer_id")["amount"].sum().reindex(ch.index).fillna(0)
    got_365 = baselines.clv_value(_summaries(tx, end), 12)
    np.testing.assert_allclose(got_365.to_numpy(), expected_365.to_numpy(), rtol=1e-12)


def _simulated(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for customer in range(n):
        rate, p = rng.gamma(2.0, 0.02), rng.beta(1.0, 8.0)
        t = rng.uniform(0, 200)
        while t < 500:
            rows.append((customer, pd.Timestamp("2024-01-01") + pd.Timedelta(days=float(t)),
                         float(rng.gamma(4, 10))))  # fmt: skip
            if rng.random() < p:
                break
            t += rng.exponential(1 / rate)
    return pd.DataFrame(rows, columns=["customer_id", "ordered_at", "amount"])


def test_fit_is_deterministic_and_predicts_the_holdout() -> None:
    tx = _simulated()
    calibration_end = "2024-12-31"
    cal = tx[tx["ordered_at"] < "2025-01-01"]
    rfm = _rfm(cal, calibration_end, "weeks")
    model = btyd.fit_params(rfm, "weeks", 0.001)
    assert model.to_bytes() == btyd.fit_params(rfm, "weeks", 0.001).to_bytes()
    assert set(model.params) == {"r", "alpha", "a", "b", "p", "q", "v"}
    again = btyd.ClvModel.from_bytes(model.to_bytes())
    np.testing.assert_array_equal(model.p_alive(rfm), again.p_alive(rfm))
    ch = _calibration_holdout(tx[tx["ordered_at"] < "2025-05-16"], calibration_end, 135, "weeks")
    metrics, by_frequency = btyd.validate(model, ch, ch["holdout_spend"].dropna())
    assert abs(metrics["holdout_transactions_relative_error"]) < 0.2
    assert by_frequency["customers"].sum() == len(ch)
    values = model.clv(rfm, 12, 0.01)
    assert (values >= 0).all() and values.max() > 0


def test_a_fit_stopped_on_precision_loss_is_taken_at_the_looser_tolerance() -> None:
    """lifetimes calls every optimizer stop but "success" non-convergence; a tolerance no
    float can meet makes scipy's BFGS stop on precision loss, as it did at 200k customers."""
    lifetimes = pytest.importorskip("lifetimes")
    rfm = _rfm(_simulated(), "2024-12-31", "weeks")
    strict = (1e-30,)
    with pytest.raises(ValueError, match=r"^BG/NBD did not converge with penalizer 0.001 on 600 "):
        btyd.fit_params(rfm, "weeks", 0.001, tolerances=strict)
    rescued = btyd.fit_params(rfm, "weeks", 0.001, tolerances=(*strict, 1e-6))
    direct = lifetimes.BetaGeoFitter(penalizer_coef=0.001).fit(
        rfm["frequency"], rfm["recency"], rfm["T"], tol=1e-6
    )
    assert rescued.bgnbd == {k: float(v) for k, v in direct.params_.items()}
    # a fit that converges at lifetimes' own tolerance is the fit it always was
    default = btyd.fit_params(rfm, "weeks", 0.001)
    plain = lifetimes.BetaGeoFitter(penalizer_coef=0.001).fit(
        rfm["frequency"], rfm["recency"], rfm["T"]
    )
    assert default.bgnbd == {k: float(v) for k, v in plain.params_.items()}
    assert default.bgnbd != rescued.bgnbd  # the two tolerances differ: the check can fail


def test_clv_baseline_is_trailing_twelve_month_spend() -> None:
    values = baselines.clv_value(_summaries(TX, END), 12)
    assert values.loc[1] == pytest.approx(65.0) and values.loc[2] == pytest.approx(7.0)
    # at the end of 2025, all of customer 1's spend is in the trailing year; 6 months = half
    assert baselines.clv_value(_summaries(TX, "2025-12-31"), 6).loc[1] == pytest.approx(164.0 / 2)
    assert baselines.clv_value(_summaries(TX, "2026-06-30"), 12).loc[1] == 0.0
