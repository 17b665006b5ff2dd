"""Segments: deterministic fits, ids that survive a permutation of clusters and a retrain,
stability figures, names and profiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from customer_ml.models import baselines, segments

CFG = dict(k=None, k_range=(2, 5), seed=7, silhouette_sample=2000)


def _customers(n: int = 900, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    """Three well-separated groups: loyal, occasional, lapsed."""
    rng = np.random.default_rng(seed)
    group = np.repeat([0, 1, 2], n // 3)
    since = np.array([5, 60, 300])[group] * rng.lognormal(0, 0.2, n) * (1 + shift)
    orders = np.array([40, 8, 1])[group] * rng.lognormal(0, 0.2, n)
    return pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "as_of": pd.Timestamp("2025-12-01"),
            "days_since_last_order": since,
            "orders_365d": orders.round(),
            "amount_365d": orders * 50 * rng.lognormal(0, 0.1, n),
            "avg_basket_lifetime": 50 * rng.lognormal(0, 0.1, n),
            "sessions_90d": np.array([30, 6, 0])[group] * rng.lognormal(0, 0.2, n),
            "support_contacts_90d": np.zeros(n),
            "group": group,
        }
    )


def test_same_data_same_model_and_ari_one() -> None:
    df = _customers()
    a, silhouettes = segments.fit_kmeans(df, **CFG)
    b, _ = segments.fit_kmeans(df.sample(frac=1, random_state=3), **CFG)
    assert len(a.segment_ids) == 3 and max(silhouettes, key=silhouettes.get) == 3
    assert a.to_bytes() == segments.fit_kmeans(df, **CFG)[0].to_bytes()
    assert segments.stability(a, b, df)["adjusted_rand_index"] == 1.0


def test_ids_keep_their_meaning_when_clusters_are_permuted() -> None:
    df = _customers()
    previous, _ = segments.fit_kmeans(df, **CFG)
    # The same clusters listed in another order, with other ids: matching restores the ids.
    permuted = segments.SegmentModel(
        mean=previous.mean,
        scale=previous.scale,
        centroids=previous.centroids[::-1],
        segment_ids=[10, 11, 12],
        names=previous.names[::-1],
    )
    ids = segments.match_ids(
        np.asarray(permuted.centroids),
        previous,
        (np.asarray(previous.mean), np.asarray(previous.scale)),
    )
    assert ids == previous.segment_ids[::-1]


def test_retrain_on_more_data_keeps_ids_and_is_stable() -> None:
    first, _ = segments.fit_kmeans(_customers(seed=0), **CFG)
    later_data = _customers(seed=1, shift=0.05)
    later, _ = segments.fit_kmeans(later_data, previous=first, **CFG)
    stability = segments.stability(first, later, later_data)
    assert stability["adjusted_rand_index"] > 0.95
    assert stability["share_changed_segment"] < 0.02
    # each id still means the same group of customers
    for model in (first, later):
        assigned = model.predict(later_data)
        for group in range(3):
            values, counts = np.unique(assigned[later_data["group"] == group], return_counts=True)
            assert counts.max() / counts.sum() > 0.95
    loyal = later_data["group"] == 0
    assert (first.predict(later_data)[loyal] == later.predict(later_data)[loyal]).mean() > 0.95


def test_new_cluster_gets_a_fresh_id() -> None:
    df = _customers()
    previous, _ = segments.fit_kmeans(df, k=2, k_range=(2, 2), seed=7)
    more, _ = segments.fit_kmeans(df, k=3, k_range=(3, 3), seed=7, previous=previous)
    assert sorted(more.segment_ids) == [0, 1, 2] and set(previous.segment_ids) <= set(
        more.segment_ids
    )


def test_names_and_profiles_are_readable() -> None:
    df = _customers()
    model, _ = segments.fit_kmeans(df, **CFG)
    profile = segments.profile(model, df)
    assert profile["customers"].sum() == len(df)
    names = dict(zip(profile["segment_id"], profile["segment_name"], strict=True))
    loyal = int(pd.Series(model.predict(df[df["group"] == 0])).mode()[0])
    lapsed = int(pd.Series(model.predict(df[df["group"] == 2])).mode()[0])
    assert names[loyal].startswith("recent") and "lapsed" in names[lapsed]
    assert len(set(names.values())) == len(names)


def test_rule_baseline_splits_by_recency_and_value() -> None:
    df = _customers()
    rules = baselines.segment_rules(df)
    assert set(np.unique(rules)) <= {0, 1, 2, 3}
    loyal = rules[df["group"] == 0]
    assert (loyal == 0).mean() > 0.9  # recent high-value
    assert baselines.SEGMENT_RULE_NAMES[0] == "recent high-value"


def test_round_trip() -> None:
    df = _customers()
    model, _ = segments.fit_kmeans(df, **CFG)
    again = segments.SegmentModel.from_bytes(model.to_bytes())
    np.testing.assert_array_equal(model.predict(df), again.predict(df))
    with pytest.raises(ValueError):
        model.name_of(99)
