from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from customer_ml.models import baselines, churn, evaluation


def _dataset(n_customers: int = 400, seed: int = 0) -> pd.DataFrame:
    """Small fixed data where churn follows recency, over six monthly as_of dates."""
    rng = np.random.default_rng(seed)
    frames = []
    for month in range(1, 7):
        since = rng.integers(0, 200, n_customers)
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": np.arange(n_customers),
                    "as_of": pd.Timestamp(2025, month, 1),
                    "country": rng.choice(["US", "DE", "XX"], n_customers),
                    "plan": rng.choice(["basic", "pro"], n_customers),
                    "orders_30d": rng.integers(0, 3, n_customers),
                    "orders_90d": rng.integers(0, 6, n_customers),
                    "orders_365d": rng.integers(0, 20, n_customers),
                    "orders_lifetime": rng.integers(1, 30, n_customers),
                    "amount_30d": rng.gamma(2, 10, n_customers),
                    "amount_90d": rng.gamma(2, 30, n_customers),
                    "amount_365d": rng.gamma(2, 100, n_customers),
                    "amount_lifetime": rng.gamma(2, 200, n_customers),
                    "days_since_last_order": since,
                    "tenure_days": since + rng.integers(30, 700, n_customers),
                    "sessions_30d": rng.integers(0, 10, n_customers),
                    "sessions_90d": rng.integers(0, 30, n_customers),
                    "support_contacts_90d": rng.integers(0, 3, n_customers),
                    "has_marketing_opt_in": rng.random(n_customers) < 0.5,
                    "is_churned": rng.random(n_customers) < 1 / (1 + np.exp(-(since - 100) / 20)),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


HP = {
    "objective": "binary",
    "learning_rate": 0.1,
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "num_boost_round": 60,
    "early_stopping_rounds": 10,
}


def test_time_split_trains_on_earlier_dates_only() -> None:
    df = _dataset()
    train, valid = churn.time_split(df, 2)
    assert train["as_of"].max() < valid["as_of"].min()
    assert sorted(valid["as_of"].unique()) == [pd.Timestamp(2025, 5, 1), pd.Timestamp(2025, 6, 1)]
    assert len(train) + len(valid) == len(df)


def test_time_split_needs_enough_dates() -> None:
    df = _dataset()
    with pytest.raises(ValueError, match="more than 6 labelled as_of dates"):
        churn.time_split(df, 6)


def test_training_twice_gives_identical_bytes_and_learns() -> None:
    df = _dataset()
    train, valid = churn.time_split(df, 2)
    first = churn.train_booster(train, valid, HP, seed=3, feature_version=1)
    third = churn.train_booster(train, valid, HP, seed=4, feature_version=1)
    assert (
        first.to_bytes()
        == churn.train_booster(train, valid, HP, seed=3, feature_version=1).to_bytes()
    )
    assert first.metrics["roc_auc"] > 0.75
    # A different seed changes bagging, so the bytes differ: the check can fail.
    assert first.to_bytes() != third.to_bytes()


def test_training_on_the_quota_s_threads_gives_identical_bytes() -> None:
    df = _dataset()
    train, valid = churn.time_split(df, 2)
    cfg = {"hyperparameters": HP, "quotas": {"threads": 2}}
    first = churn.fit(train, cfg, 3, validation=valid)
    assert first.booster.params["num_threads"] == 2  # the quota's count, not a fixed 1
    assert first.to_bytes() == churn.fit(train, cfg, 3, validation=valid).to_bytes()
    single = churn.fit(train, {"hyperparameters": HP}, 3, validation=valid)
    assert single.booster.params["num_threads"] == 1


def test_round_trip_predicts_the_same() -> None:
    df = _dataset()
    train, valid = churn.time_split(df, 2)
    model = churn.train_booster(train, valid, HP, seed=3, feature_version=1)
    again = churn.ChurnModel.from_bytes(model.to_bytes())
    np.testing.assert_array_equal(model.predict(valid), again.predict(valid))


def test_categories_are_learned_at_fit_and_stored_with_the_model() -> None:
    """A user's own countries survive into the model (nothing hard-codes the demo's), and a
    value first seen when scoring, or missing, codes as unknown."""
    df = _dataset().assign(country=lambda d: np.where(d["customer_id"] % 2, "BR", "JP"))
    train, valid = churn.time_split(df, 2)
    model = churn.train_booster(train, valid, HP, seed=3, feature_version=1)
    assert model.categories["country"] == ["BR", "JP", "unknown"]
    again = churn.ChurnModel.from_bytes(model.to_bytes())
    assert again.categories == model.categories and again.feature_version == 1
    X = again.matrix(df.head(3).assign(country=["JP", "ZZ", None]))
    assert list(X["country"]) == [1.0, 2.0, 2.0]
    # the learned codes are what the booster saw: BR and JP are not all "unknown"
    assert model.matrix(train)["country"].nunique() == 2


def test_evaluate_on_known_values() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    m = evaluation.classification_metrics(y, p)
    assert m["roc_auc"] == pytest.approx(0.75)
    assert m["brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)


def test_baseline_ranks_by_recency_relative_to_interval() -> None:
    df = pd.DataFrame(
        {
            "orders_lifetime": [10, 10, 0, 2],
            "tenure_days": [100, 100, 50, 100],
            "days_since_last_order": [5, 60, None, 60],
        }
    )
    s = baselines.churn_scores(df)
    assert s[0] < s[3] < s[1]  # 60 days is 6 intervals for a 10-day buyer, 1.2 for a 50-day one
    assert s[2] == 1.0
    rule = baselines.to_bytes("churn", baselines.ChurnRule())
    assert baselines.version("churn", rule).startswith("baseline-churn-")
    assert len({baselines.version(m, rule) for m in ("churn", "clv", "segments")}) == 3


def test_feature_version_selects_columns() -> None:
    df = _dataset().head(5)
    assert list(churn.feature_matrix(df, 1).columns) == churn.NUMERIC_FEATURES[1] + [
        "country",
        "plan",
    ]
    with pytest.raises(ValueError, match="v9"):
        churn.feature_matrix(df, 9)


def test_isotonic_calibration_is_monotone_held_out_and_round_trips() -> None:
    df = _dataset()
    train, valid = churn.time_split(df, 2)
    model = churn.train_booster(train, valid, HP, seed=3, feature_version=1, calibration="isotonic")
    assert model.holdout_as_of == [pd.Timestamp(2025, 6, 1)]  # fitted on May, measured on June
    assert model.metrics["rows"] == (valid["as_of"] == pd.Timestamp(2025, 6, 1)).sum()
    assert np.all(np.diff(model.calibration["y"]) >= 0)
    again = churn.ChurnModel.from_bytes(model.to_bytes())
    np.testing.assert_array_equal(model.predict(valid), again.predict(valid))
    raw = churn.train_booster(train, valid, HP, seed=3, feature_version=1)
    assert not np.array_equal(model.predict(valid), raw.predict(valid))
    with pytest.raises(ValueError, match="calibration 'platt'"):
        churn.train_booster(train, valid, HP, seed=3, feature_version=1, calibration="platt")
