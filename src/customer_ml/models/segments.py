"""Customer segments: k-means (scikit-learn) on standardized recency, frequency, monetary,
value and engagement features, with segment ids that keep their meaning across retrains.

Stability: a retrained model's clusters are matched to the previous model's (Hungarian matching
on centroid distance, in the new model's standardized space) so segment ids carry over; each
retrain reports the adjusted Rand index of old vs new assignment on the same customers and the
share of customers who changed segment. Names are derived from centroid profiles.

A fitted model is its scaler, centroids, ids and names, the silhouette per k it chose from and
the feature version it was fitted on, stored as JSON (deterministic bytes). The model protocol
(customer_ml.pipeline.training) is at the end: segments have no label and no holdout, so candidate,
rule baseline and champion are measured on the customers the candidate was fitted on, by the mean
silhouette in one standardized space (the same for all three).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score

from customer_ml.models import evaluation
from customer_ml.models.protocol import Described, Scored

# Heavy-tailed counts and amounts enter as log1p; recency as log1p of days.
FEATURES = [
    "days_since_last_order",
    "orders_365d",
    "amount_365d",
    "avg_basket_lifetime",
    "sessions_90d",
    "support_contacts_90d",
]


def feature_matrix(df: pd.DataFrame) -> np.ndarray:
    X = df[FEATURES].astype(float).fillna(0.0).clip(lower=0.0)
    return np.log1p(X.to_numpy())


@dataclass
class SegmentModel:
    mean: list[float]
    scale: list[float]
    centroids: list[list[float]]  # standardized space, one per segment
    segment_ids: list[int]
    names: list[str] = field(default_factory=list)
    feature_version: int = 2
    silhouette_by_k: dict[str, float] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return json.dumps(self.__dict__, indent=2, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> SegmentModel:
        return cls(**json.loads(data))

    def standardize(self, df: pd.DataFrame) -> np.ndarray:
        return (feature_matrix(df) - np.asarray(self.mean)) / np.asarray(self.scale)

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        Z = self.standardize(df)
        distance = ((Z[:, None, :] - np.asarray(self.centroids)[None, :, :]) ** 2).sum(axis=2)
        return np.asarray(self.segment_ids)[distance.argmin(axis=1)]

    def name_of(self, segment_id: int) -> str:
        return self.names[self.segment_ids.index(segment_id)]


def _fit_k(Z: np.ndarray, k: int, seed: int) -> KMeans:
    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit(Z)


def choose_k(Z: np.ndarray, k_range: tuple[int, int], seed: int, sample: int) -> dict[int, float]:
    """Silhouette per k on a seeded sample of at most `sample` rows."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(Z), size=min(sample, len(Z)), replace=False))
    return {
        k: float(silhouette_score(Z[idx], _fit_k(Z, k, seed).labels_[idx]))
        for k in range(k_range[0], k_range[1] + 1)
    }


def _word(z: float, low: str, mid: str, high: str) -> str:
    return high if z > 0.5 else (low if z < -0.5 else mid)


def name_segments(centroids: np.ndarray) -> list[str]:
    """Readable names from standardized centroids: recency, frequency, value and engagement."""
    names = []
    for c in centroids:
        words = [
            _word(c[0], "recent", "steady", "lapsed"),
            _word(c[1], "rare", "regular", "frequent"),
            _word(c[2], "low-value", "mid-value", "high-value"),
            _word(c[4], "quiet", "", "engaged"),
        ]
        names.append(" ".join(w for w in words if w))
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def match_ids(new_centroids: np.ndarray, previous: SegmentModel | None, Z_scale) -> list[int]:
    """Segment ids for new clusters: the matched previous id, or a fresh one."""
    k = len(new_centroids)
    if previous is None:
        return list(range(k))
    # previous centroids into the new standardized space
    old_raw = np.asarray(previous.centroids) * np.asarray(previous.scale) + np.asarray(
        previous.mean
    )
    old = (old_raw - Z_scale[0]) / Z_scale[1]
    cost = ((new_centroids[:, None, :] - old[None, :, :]) ** 2).sum(axis=2)
    rows, cols = linear_sum_assignment(cost)
    ids = [-1] * k
    for r, c in zip(rows, cols, strict=True):
        ids[r] = previous.segment_ids[c]
    fresh = max(previous.segment_ids) + 1
    for i in range(k):
        if ids[i] < 0:
            ids[i], fresh = fresh, fresh + 1
    return ids


def fit_kmeans(
    df: pd.DataFrame,
    *,
    k: int | None,
    k_range: tuple[int, int],
    seed: int,
    previous: SegmentModel | None = None,
    silhouette_sample: int = 5000,
) -> tuple[SegmentModel, dict[int, float]]:
    X = feature_matrix(df)
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    Z = (X - mean) / scale
    silhouettes = {} if k else choose_k(Z, k_range, seed, silhouette_sample)
    k = k or max(silhouettes, key=lambda key: (silhouettes[key], -key))
    km = _fit_k(Z, k, seed)
    # A canonical order of clusters (by centroid), so ids do not depend on k-means' labels.
    order = np.lexsort(km.cluster_centers_.T[::-1])
    centroids = km.cluster_centers_[order]
    ids = match_ids(centroids, previous, (mean, scale))
    model = SegmentModel(
        mean=[float(v) for v in mean],
        scale=[float(v) for v in scale],
        centroids=[[float(v) for v in c] for c in centroids],
        segment_ids=ids,
        names=name_segments(centroids),
        silhouette_by_k={str(key): value for key, value in silhouettes.items()},
    )
    return model, silhouettes


def stability(previous: SegmentModel, new: SegmentModel, df: pd.DataFrame) -> dict[str, float]:
    """Old vs new assignment on the same customers."""
    old, now = previous.predict(df), new.predict(df)
    return {
        "adjusted_rand_index": float(adjusted_rand_score(old, now)),
        "share_changed_segment": float((old != now).mean()),
        "customers_compared": float(len(df)),
    }


def profile(model: SegmentModel, df: pd.DataFrame) -> pd.DataFrame:
    """Per segment: its customers and their mean recency, frequency and spend, and its name."""
    assigned = df.assign(segment_id=model.predict(df))
    out = (
        assigned.groupby("segment_id")
        .agg(
            customers=("customer_id", "size"),
            mean_recency_days=("days_since_last_order", "mean"),
            mean_frequency_365d=("orders_365d", "mean"),
            mean_monetary_365d=("amount_365d", "mean"),
        )
        .reset_index()
    )
    out["segment_name"] = [model.name_of(int(s)) for s in out["segment_id"]]
    return out


# The model protocol (customer_ml.pipeline.training).
MODEL = SegmentModel
EVALUATION_SAMPLE = 5000


def _customers(features: pd.DataFrame) -> pd.DataFrame:
    """Customers with an order at the as_of, in customer order."""
    df = features[features["orders_lifetime"] > 0].sort_values("customer_id", kind="stable")
    return df.reset_index(drop=True)


def split(features: pd.DataFrame, cfg: dict[str, Any], seed: int) -> tuple[pd.DataFrame, ...]:
    df = _customers(features)
    if df.empty:
        raise ValueError("no customer with an order at the latest as_of: nothing to segment")
    return df, df


def fit(
    train: pd.DataFrame,
    cfg: dict[str, Any],
    seed: int,
    *,
    validation: pd.DataFrame,
    reference: SegmentModel | None = None,
    feature_version: int = 2,
) -> SegmentModel:
    """k-means with k from config or by silhouette; ids matched to the reference (the champion)."""
    model, _ = fit_kmeans(
        train,
        k=cfg.get("k"),
        k_range=(int(cfg["k_min"]), int(cfg["k_max"])),
        seed=seed,
        previous=reference,
        silhouette_sample=int(cfg["silhouette_sample"]),
    )
    model.feature_version = feature_version
    return model


def evaluation_set(model: SegmentModel, holdout: pd.DataFrame) -> pd.DataFrame:
    return holdout


def evaluate(model: Any, customers: pd.DataFrame) -> dict[str, float]:
    """Mean silhouette of the model's assignment on one seeded sample of `customers`, in the
    customers' own standardized space (so every model compared is measured alike)."""
    X = feature_matrix(customers)
    scale = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    assigned = np.asarray(model.predict(customers))
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(Z), size=min(EVALUATION_SAMPLE, len(Z)), replace=False))
    k = len(np.unique(assigned[idx]))
    silhouette = (
        float(silhouette_score(Z[idx], assigned[idx])) if 2 <= k < len(idx) else float("nan")
    )
    largest = float(pd.Series(assigned).value_counts(normalize=True).iloc[0])
    return {
        "silhouette": silhouette,
        "k": float(len(np.unique(assigned))),
        "largest_segment_share": largest,
        "customers": float(len(customers)),
    }


def baseline(cfg: dict[str, Any], population: pd.DataFrame | None = None) -> Any:
    """The RFM rules; fitted on `population` (their medians over every customer with an order),
    they score any subset of it as they score all of it."""
    from customer_ml.models import baselines

    rules = baselines.SegmentRules()
    return rules if population is None else rules.fitted(_customers(population))


def score(model: Any, features: pd.DataFrame, cfg: dict[str, Any]) -> Any:

    df = _customers(features)
    ids = np.asarray(model.predict(df))
    return Scored(
        customer_ids=df["customer_id"].to_numpy(),
        as_of=pd.to_datetime(df["as_of"]),
        scores=ids.astype("float64"),
        labels=[model.name_of(int(i)) for i in ids],
    )


def scoring_rows(model: SegmentModel, dataset: pd.DataFrame) -> pd.DataFrame:
    """The customers with an order, as `score` reads them (customer impact in the report; the
    MLflow model's signature)."""
    return _customers(dataset)[["customer_id", "as_of", "orders_lifetime", *FEATURES]]


def describe(
    model: SegmentModel,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    models: dict[str, Any],
    metrics: dict[str, dict[str, Any]],
    *,
    facts: dict[str, Any],
    cfg: dict[str, Any],
    summary: dict[str, Any],
) -> Any:
    from customer_ml.models import reports

    reference = models.get("champion")
    moved = stability(reference, model, train) if reference is not None else None
    as_of = pd.Timestamp(train["as_of"].max())
    table = profile(model, train)
    report = reports.table_report(
        summary=summary,
        title=f"Segments model {facts['model_version']} — profile and stability",
        facts={
            **facts,
            "as_of": as_of.date(),
            "customers": len(train),
            "silhouette_by_k": model.silhouette_by_k or "k fixed by config",
            "ids_matched_to_champion": reference is not None,
            "stability_vs_champion": moved or "no champion",
            "warnings": evaluation.segment_flags(
                model.silhouette_by_k, metrics.get("candidate", {}).get("largest_segment_share")
            )
            or "none",
        },
        metrics=metrics,
        tables={"Segment profiles": table},
        metrics_heading="Metrics on the fitted customers (candidate vs rule baseline; no holdout)",
        images=reports.segment_figures(
            train.assign(segment_name=[model.name_of(int(s)) for s in model.predict(train)]),
            "days_since_last_order",
            "amount_365d",
        ),
    )
    return Described(
        report=report,
        model_file="model.json",
        extra_files={"profile.csv": table.to_csv(index=False).encode()},
        record={
            "fitted_params_json": json.dumps(
                {
                    "segments": dict(zip(map(str, model.segment_ids), model.names, strict=True)),
                    "stability_vs_champion": moved,
                },
                sort_keys=True,
            ),
            "train_rows": len(train),
            "train_as_of_max": as_of,
        },
        mlflow_params={"k": len(model.segment_ids)},
    )
