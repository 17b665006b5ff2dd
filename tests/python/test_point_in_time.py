"""Point-in-time features and labels against an independent oracle (customer_ml.data.oracle, plain
pandas, per as_of) on the built tiny warehouse: every row, every column. The tiny data has late
arrivals, corrections (cancellations) and customer changes known late, so a wrong cutoff, a wrong
version or a wrong window shows here."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from customer_ml.data import oracle


@pytest.fixture(scope="module")
def warehouse(built: Path) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(built / "ci.duckdb"), read_only=True)
    try:
        return {
            "orders": con.execute(
                "select order_id, customer_id, cast(amount as double) as amount, ordered_at, "
                "_available_at, _loaded_at from staging.stg_shop__orders"
            ).df(),
            "customers": con.execute("select * from staging.stg_shop__customers").df(),
            "events": con.execute("select * from staging.stg_shop__engagement_events").df(),
            "features": con.execute(
                "select * from features.customer_features_v1 order by customer_id, as_of"
            ).df(),
            "labels_v1": con.execute(
                "select * from labels.churn_labels_v1 order by customer_id, as_of"
            ).df(),
            "labels_v2": con.execute(
                "select * from labels.churn_labels_v2 order by customer_id, as_of"
            ).df(),
        }
    finally:
        con.close()


def _same(expected: pd.DataFrame, actual: pd.DataFrame) -> None:
    actual = actual.assign(as_of=pd.to_datetime(actual["as_of"]))[list(expected.columns)]
    assert len(expected) == len(actual)
    for column in expected.columns:
        a, b = expected[column], actual[column]
        if a.dtype.kind == "f" or b.dtype.kind == "f":
            same = np.isclose(a.astype(float), b.astype(float), rtol=0, atol=1e-9, equal_nan=True)
        else:
            same = (a.to_numpy() == b.to_numpy()) | (a.isna().to_numpy() & b.isna().to_numpy())
        assert same.all(), (column, expected[~same].head(3), actual[~same].head(3))


def test_features_equal_the_oracle(warehouse: dict) -> None:
    dates = sorted(pd.to_datetime(warehouse["features"]["as_of"]).unique())
    assert len(dates) == 12
    expected = oracle.features_v1(
        warehouse["orders"], warehouse["customers"], warehouse["events"], dates
    )
    _same(expected, warehouse["features"])


@pytest.mark.parametrize(("version", "horizon", "support_days"), [(1, 90, None), (2, 60, 14)])
def test_labels_equal_the_oracle(
    warehouse: dict, version: int, horizon: int, support_days: int | None
) -> None:
    dates = sorted(pd.to_datetime(warehouse["features"]["as_of"]).unique())
    expected = oracle.churn_labels(
        warehouse["orders"], warehouse["events"], dates, horizon, support_days
    )
    assert expected["is_churned"].nunique() == 2
    _same(expected, warehouse[f"labels_v{version}"])


def test_the_tiny_data_exercises_the_cutoff(warehouse: dict) -> None:
    """The comparisons above can fail only if the data has what they guard against."""
    orders = warehouse["orders"]
    assert (orders["_available_at"].dt.normalize() > orders["ordered_at"].dt.normalize()).any()
    assert orders["order_id"].duplicated().any()  # corrections
    assert ((orders["amount"] == 0) & orders["order_id"].duplicated(keep=False)).any()
