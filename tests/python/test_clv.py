"""CLV: the BTYD conventions on hand-computed examples, the fit, and the baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from customer_ml import baselines, btyd

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


def test_btyd_conventions_in_weeks() -> None:
    rfm = btyd.summary(TX, END, "weeks")
    a, b = rfm.loc[1], rfm.loc[2]
    assert a["frequency"] == 2  # three purchase days, two of them repeats
    assert a["recency"] == pytest.approx(28 / 7)  # 1 Jan to 29 Jan
    assert a["T"] == pytest.approx(41 / 7)  # 1 Jan to the end of 11 Feb
    assert a["monetary_value"] == pytest.approx(25.0)  # mean of the repeat purchases only
    assert (b["frequency"], b["recency"], b["T"]) == (0, 0, pytest.approx(10 / 7))


def test_btyd_conventions_in_days() -> None:
    rfm = btyd.summary(TX, END, "days")
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
    rfm = btyd.summary(late_same_day, END, "days")
    assert rfm.loc[2, "frequency"] == 1 and rfm.loc[2, "recency"] == 10


def test_calibration_holdout_split() -> None:
    ch = btyd.calibration_holdout(TX, END, "2025-03-11", "weeks")
    assert ch.loc[1, "frequency_cal"] == 2
    assert ch.loc[1, "frequency_holdout"] == 1
    assert ch.loc[1, "duration_holdout"] == pytest.approx(28 / 7)


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
    calibration_end, holdout_end = "2024-12-31", "2025-05-15"
    cal = tx[tx["ordered_at"] < "2025-01-01"]
    rfm = btyd.summary(cal, calibration_end, "weeks")
    model = btyd.fit_params(rfm, "weeks", 0.001)
    assert model.to_bytes() == btyd.fit_params(rfm, "weeks", 0.001).to_bytes()
    assert set(model.params) == {"r", "alpha", "a", "b", "p", "q", "v"}
    again = btyd.ClvModel.from_bytes(model.to_bytes())
    np.testing.assert_array_equal(model.p_alive(rfm), again.p_alive(rfm))
    ch = btyd.calibration_holdout(tx, calibration_end, holdout_end, "weeks")
    holdout = tx[tx["ordered_at"] >= "2025-01-01"]
    metrics, by_frequency = btyd.validate(model, ch, btyd.holdout_actual_spend(holdout))
    assert abs(metrics["holdout_transactions_relative_error"]) < 0.2
    assert by_frequency["customers"].sum() == len(ch)
    values = model.clv(rfm, 12, 0.01)
    assert (values >= 0).all() and values.max() > 0


def test_clv_baseline_is_trailing_twelve_month_spend() -> None:
    values = baselines.clv_value(TX, END, 12)
    assert values.loc[1] == pytest.approx(65.0) and values.loc[2] == pytest.approx(7.0)
    # at the end of 2025, all of customer 1's spend is in the trailing year; 6 months = half
    assert baselines.clv_value(TX, "2025-12-31", 6).loc[1] == pytest.approx(164.0 / 2)
    assert baselines.clv_value(TX, "2026-06-30", 12).loc[1] == 0.0
