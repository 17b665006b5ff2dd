"""Churn model: LightGBM on point-in-time features, validated on later as_of dates.

Pure functions over DataFrames. Determinism: fixed seeds for every stochastic component
(bagging, feature sampling, data sampling), `deterministic=True`, row-wise histograms and a
fixed thread count, so the same data and config give the same model bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.isotonic import IsotonicRegression

NUMERIC_FEATURES_V1 = [
    "orders_30d",
    "orders_90d",
    "orders_365d",
    "orders_lifetime",
    "amount_30d",
    "amount_90d",
    "amount_365d",
    "amount_lifetime",
    "days_since_last_order",
    "tenure_days",
    "sessions_30d",
    "sessions_90d",
    "support_contacts_90d",
    "has_marketing_opt_in",
]
NUMERIC_FEATURES = {
    1: NUMERIC_FEATURES_V1,
    2: NUMERIC_FEATURES_V1
    + [
        "sessions_trend_30d_90d",
        "orders_trend_30d_90d",
        "avg_basket_90d",
        "avg_basket_lifetime",
        "avg_days_between_orders",
    ],
}
CATEGORICAL_FEATURES = {
    "country": ["DE", "ES", "FR", "GB", "NL", "US", "unknown"],
    "plan": ["basic", "plus", "pro", "unknown"],
}
LABEL = "is_churned"
TRAINING_KEYS = {"num_boost_round", "early_stopping_rounds"}


def feature_matrix(df: pd.DataFrame, feature_version: int) -> pd.DataFrame:
    """Model inputs of a feature version in a fixed column order; categories coded against a
    fixed vocabulary."""
    if feature_version not in NUMERIC_FEATURES:
        raise ValueError(f"no churn feature list for customer_features v{feature_version}")
    X = df[NUMERIC_FEATURES[feature_version]].astype("float64").copy()
    for name, vocabulary in CATEGORICAL_FEATURES.items():
        codes = {value: float(i) for i, value in enumerate(vocabulary)}
        X[name] = df[name].map(codes).fillna(codes["unknown"]).astype("float64")
    return X


def time_split(df: pd.DataFrame, validation_as_of_count: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on the earlier as_of dates, validate on the last `validation_as_of_count` ones."""
    dates = sorted(df["as_of"].unique())
    if len(dates) <= validation_as_of_count:
        raise ValueError(
            f"time split needs more than {validation_as_of_count} labelled as_of dates, "
            f"found {len(dates)}"
        )
    cut = dates[-validation_as_of_count]
    return df[df["as_of"] < cut], df[df["as_of"] >= cut]


def sample_rows(df: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """A seeded, order-independent sample when above the cap (rows sorted by key first)."""
    df = df.sort_values(["as_of", "customer_id"], kind="stable").reset_index(drop=True)
    if len(df) <= max_rows:
        return df
    keep = np.random.default_rng(seed).choice(len(df), size=max_rows, replace=False)
    return df.iloc[np.sort(keep)].reset_index(drop=True)


def evaluate(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    top = np.argsort(-p, kind="stable")[: max(1, len(p) // 10)]
    base_rate = y.mean() if len(y) else float("nan")
    both = len(np.unique(y)) == 2
    return {
        "roc_auc": float(skm.roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(skm.average_precision_score(y, p)) if both else float("nan"),
        "log_loss": float(skm.log_loss(y, p, labels=[0, 1])),
        "brier": float(skm.brier_score_loss(y, p)),
        "top_decile_lift": float(y[top].mean() / base_rate) if base_rate else float("nan"),
        "top_decile_capture": float(y[top].sum() / y.sum()) if y.sum() else float("nan"),
        "rows": float(len(y)),
        "positive_rate": float(base_rate),
    }


@dataclass
class ChurnModel:
    """A trained booster with what it was trained on and how it did."""

    booster: lgb.Booster
    best_iteration: int
    feature_version: int
    metrics: dict[str, float] = field(default_factory=dict)
    # isotonic calibration map {"x": [...], "y": [...]} or None
    calibration: dict[str, list[float]] | None = None
    # the as_of dates the metrics are on (all validation dates, or those after calibration)
    holdout_as_of: list = field(default_factory=list)

    def to_bytes(self) -> bytes:
        text = self.booster.model_to_string(num_iteration=self.best_iteration)
        if self.calibration is None:
            return text.encode()
        return json.dumps({"lightgbm": text, "isotonic": self.calibration}).encode()

    @classmethod
    def from_bytes(cls, data: bytes, feature_version: int) -> ChurnModel:
        calibration = None
        if data.startswith(b"{"):
            doc = json.loads(data)
            data, calibration = doc["lightgbm"].encode(), doc["isotonic"]
        booster = lgb.Booster(model_str=data.decode())
        return cls(booster, booster.current_iteration(), feature_version, calibration=calibration)

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        X = feature_matrix(df, self.feature_version)
        raw = self.booster.predict(X, num_iteration=self.best_iteration)
        if self.calibration is None:
            return raw
        return np.interp(raw, self.calibration["x"], self.calibration["y"])

    def mean_abs_contribution(self, df: pd.DataFrame) -> pd.Series:
        """Mean absolute per-feature contribution (LightGBM's own pred_contrib), largest first."""
        X = feature_matrix(df, self.feature_version)
        contrib = self.booster.predict(X, num_iteration=self.best_iteration, pred_contrib=True)
        values = np.abs(contrib[:, :-1]).mean(axis=0)  # last column is the bias
        return pd.Series(values, index=X.columns).sort_values(ascending=False, kind="stable")

    def feature_importance(self) -> pd.DataFrame:
        names = self.booster.feature_name()
        gain = self.booster.feature_importance("gain", iteration=self.best_iteration)
        split = self.booster.feature_importance("split", iteration=self.best_iteration)
        out = pd.DataFrame({"feature": names, "gain": gain, "split_count": split})
        return out.sort_values(["gain", "feature"], ascending=[False, True]).reset_index(drop=True)


def lgb_params(hyperparameters: dict[str, Any], seed: int) -> dict[str, Any]:
    params = {k: v for k, v in hyperparameters.items() if k not in TRAINING_KEYS}
    params.update(
        seed=seed,
        bagging_seed=seed,
        feature_fraction_seed=seed,
        data_random_seed=seed,
        deterministic=True,
        force_row_wise=True,
        num_threads=1,
        verbosity=-1,
    )
    return params


def train(
    train_df: pd.DataFrame,
    valid_df: pd.DataFrame,
    hyperparameters: dict[str, Any],
    seed: int,
    feature_version: int,
    calibration: str = "none",
) -> ChurnModel:
    """Fit on `train_df`, early-stop on `valid_df`; metrics are on `valid_df`.

    With calibration 'isotonic', an isotonic map is fitted on the earliest validation as_of and
    the metrics are on the later ones (never on the data the map was fitted on)."""
    if calibration not in ("none", "isotonic"):
        raise ValueError(f"calibration {calibration!r}: expected none or isotonic")
    params = lgb_params(hyperparameters, seed)
    dtrain = lgb.Dataset(
        feature_matrix(train_df, feature_version),
        label=train_df[LABEL].astype(int),
        categorical_feature=list(CATEGORICAL_FEATURES),
        free_raw_data=True,
    )
    dvalid = lgb.Dataset(
        feature_matrix(valid_df, feature_version),
        label=valid_df[LABEL].astype(int),
        reference=dtrain,
    )
    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=int(hyperparameters.get("num_boost_round", 400)),
        valid_sets=[dvalid],
        callbacks=[
            lgb.early_stopping(int(hyperparameters.get("early_stopping_rounds", 30)), verbose=False)
        ],
    )
    model = ChurnModel(booster, booster.best_iteration or 0, feature_version)
    dates = sorted(valid_df["as_of"].unique())
    holdout = valid_df
    if calibration == "isotonic":
        if len(dates) < 2:
            raise ValueError("isotonic calibration needs at least 2 validation as_of dates")
        fit_on = valid_df[valid_df["as_of"] == dates[0]]
        holdout = valid_df[valid_df["as_of"] > dates[0]]
        isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        isotonic.fit(model.predict(fit_on), fit_on[LABEL].astype(int))
        model.calibration = {
            "x": [float(v) for v in isotonic.X_thresholds_],
            "y": [float(v) for v in isotonic.y_thresholds_],
        }
    model.holdout_as_of = sorted(holdout["as_of"].unique())
    model.metrics = evaluate(holdout[LABEL].to_numpy(), model.predict(holdout))
    return model
