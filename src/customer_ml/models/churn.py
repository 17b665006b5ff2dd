"""Churn model: LightGBM on point-in-time features, validated on later as_of dates.

The model protocol (customer_ml.pipeline.training): `split`, `fit`, `evaluation_set`, `evaluate`,
`baseline`, `score`, `describe`, and `ChurnModel` with `predict`, `to_bytes`, `from_bytes`. What
the model learns from its data (feature version and names, the categories of each categorical
feature) is set at fit and serialized with it, as scikit-learn's `feature_names_in_` and
`categories_` are, so a user's own countries and plans survive into the model.

Pure functions over DataFrames. Determinism: fixed seeds for every stochastic component
(bagging, feature sampling, data sampling), `deterministic=True`, row-wise histograms and the
thread count of the model's quota (`quotas.threads`, configuration like the seed), so the same
data and config give the same model bytes on any machine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from customer_ml.models import evaluation, sampling
from customer_ml.models.protocol import Described, Scored

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
CATEGORICAL = ("country", "plan")
UNKNOWN = "unknown"
# Artifacts written before categories were learned at fit coded these fixed vocabularies.
LEGACY_CATEGORIES = {
    "country": ["DE", "ES", "FR", "GB", "NL", "US", UNKNOWN],
    "plan": ["basic", "plus", "pro", UNKNOWN],
}
LABEL = "is_churned"
# The report's mean |contribution| is estimated on a seeded sample of the holdout of at most this
# many rows: LightGBM's pred_contrib over every holdout row took most of a bench-scale training.
CONTRIBUTION_ROWS = 50_000
TRAINING_KEYS = {"num_boost_round", "early_stopping_rounds"}
ARTIFACT_FORMAT = "customer-ml/churn/2"


def learn_categories(df: pd.DataFrame) -> dict[str, list[str]]:
    """Each categorical feature's values seen in `df`, sorted, then "unknown" (for values first
    seen when scoring, and missing ones)."""
    out = {}
    for name in CATEGORICAL:
        seen = sorted({str(v) for v in df[name].dropna().unique()} - {UNKNOWN})
        out[name] = [*seen, UNKNOWN]
    return out


def feature_matrix(
    df: pd.DataFrame, feature_version: int, categories: dict[str, list[str]] | None = None
) -> pd.DataFrame:
    """Model inputs of a feature version in a fixed column order; each category coded by its
    position in the learned vocabulary, anything else as "unknown"."""
    if feature_version not in NUMERIC_FEATURES:
        raise ValueError(f"no churn feature list for customer_features v{feature_version}")
    categories = categories or learn_categories(df)
    X = df[NUMERIC_FEATURES[feature_version]].astype("float64").copy()
    for name, vocabulary in categories.items():
        codes = {value: float(i) for i, value in enumerate(vocabulary)}
        X[name] = df[name].astype("string").map(codes).fillna(codes[UNKNOWN]).astype("float64")
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


@dataclass
class ChurnModel:
    """A trained booster with what it was trained on and how it did."""

    booster: lgb.Booster
    best_iteration: int
    feature_version: int
    categories: dict[str, list[str]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    # isotonic calibration map {"x": [...], "y": [...]} or None
    calibration: dict[str, list[float]] | None = None
    # the as_of dates the metrics are on (all validation dates, or those after calibration)
    holdout_as_of: list = field(default_factory=list)

    @property
    def feature_names(self) -> list[str]:
        return [*NUMERIC_FEATURES[self.feature_version], *self.categories]

    def to_bytes(self) -> bytes:
        doc = {
            "format": ARTIFACT_FORMAT,
            "feature_version": self.feature_version,
            "feature_names": self.feature_names,
            "categories": self.categories,
            "isotonic": self.calibration,
            "lightgbm": self.booster.model_to_string(num_iteration=self.best_iteration),
        }
        return json.dumps(doc, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes, legacy_feature_version: int = 1) -> ChurnModel:
        """A model from its artifact; artifacts written before the learned state was stored
        (plain LightGBM text, or text with an isotonic map) need their recorded feature version."""
        doc = json.loads(data) if data.startswith(b"{") else {"lightgbm": data.decode()}
        booster = lgb.Booster(model_str=doc["lightgbm"])
        return cls(
            booster,
            booster.current_iteration(),
            int(doc.get("feature_version", legacy_feature_version)),
            categories=doc.get("categories", LEGACY_CATEGORIES),
            calibration=doc.get("isotonic"),
        )

    def matrix(self, df: pd.DataFrame) -> pd.DataFrame:
        return feature_matrix(df, self.feature_version, self.categories)

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        raw = self.booster.predict(self.matrix(df), num_iteration=self.best_iteration)
        if self.calibration is None:
            return raw
        return np.interp(raw, self.calibration["x"], self.calibration["y"])

    def mean_abs_contribution(self, df: pd.DataFrame) -> pd.Series:
        """Mean absolute per-feature contribution (LightGBM's own pred_contrib), largest first."""
        X = self.matrix(df)
        contrib = self.booster.predict(X, num_iteration=self.best_iteration, pred_contrib=True)
        values = np.abs(contrib[:, :-1]).mean(axis=0)  # last column is the bias
        return pd.Series(values, index=X.columns).sort_values(ascending=False, kind="stable")

    def feature_importance(self) -> pd.DataFrame:
        names = self.booster.feature_name()
        gain = self.booster.feature_importance("gain", iteration=self.best_iteration)
        split = self.booster.feature_importance("split", iteration=self.best_iteration)
        out = pd.DataFrame({"feature": names, "gain": gain, "split_count": split})
        return out.sort_values(["gain", "feature"], ascending=[False, True]).reset_index(drop=True)


def lgb_params(hyperparameters: dict[str, Any], seed: int, threads: int = 1) -> dict[str, Any]:
    params = {k: v for k, v in hyperparameters.items() if k not in TRAINING_KEYS}
    params.update(
        seed=seed,
        bagging_seed=seed,
        feature_fraction_seed=seed,
        data_random_seed=seed,
        deterministic=True,
        force_row_wise=True,
        # histogram sums depend on how rows split over threads: a fixed count, never "all cores"
        num_threads=threads,
        verbosity=-1,
    )
    return params


def train_booster(
    train_df: pd.DataFrame,
    valid_df: pd.DataFrame,
    hyperparameters: dict[str, Any],
    seed: int,
    feature_version: int,
    calibration: str = "none",
    threads: int = 1,
) -> ChurnModel:
    """Fit on `train_df` with `threads` LightGBM threads, early-stop on `valid_df`; metrics are
    on `valid_df`.

    With calibration 'isotonic', an isotonic map is fitted on the earliest validation as_of and
    the metrics are on the later ones (never on the data the map was fitted on)."""
    if calibration not in ("none", "isotonic"):
        raise ValueError(f"calibration {calibration!r}: expected none or isotonic")
    params = lgb_params(hyperparameters, seed, threads)
    categories = learn_categories(train_df)
    dtrain = lgb.Dataset(
        feature_matrix(train_df, feature_version, categories),
        label=train_df[LABEL].astype(int),
        categorical_feature=list(CATEGORICAL),
        free_raw_data=True,
    )
    dvalid = lgb.Dataset(
        feature_matrix(valid_df, feature_version, categories),
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
    model = ChurnModel(booster, booster.best_iteration or 0, feature_version, categories)
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
    model.metrics = evaluation.classification_metrics(
        holdout[LABEL].to_numpy(), model.predict(holdout)
    )
    return model


# The model protocol (customer_ml.pipeline.training).
MODEL = ChurnModel


def split(dataset: pd.DataFrame, cfg: dict[str, Any], seed: int) -> tuple[pd.DataFrame, ...]:
    """A seeded sample above the row cap, then the time split: earlier as_of dates train."""
    if dataset.empty:
        raise ValueError("churn_training_dataset is empty: no labelled as_of in the data yet")
    data = sampling.sampled(dataset, int(cfg["max_training_rows"]), seed)
    return time_split(data, int(cfg["validation_as_of_count"]))


def fit(
    train_df: pd.DataFrame,
    cfg: dict[str, Any],
    seed: int,
    *,
    validation: pd.DataFrame,
    reference: ChurnModel | None = None,
    feature_version: int = 1,
) -> ChurnModel:
    """LightGBM with early stopping on `validation` (and isotonic calibration when configured),
    on as many threads as the model's quota gives its training."""
    return train_booster(
        train_df,
        validation,
        cfg.get("hyperparameters", {}),
        seed,
        feature_version,
        calibration=cfg.get("calibration", "none"),
        threads=int((cfg.get("quotas") or {}).get("threads", 1)),
    )


def evaluation_set(model: ChurnModel, holdout: pd.DataFrame) -> pd.DataFrame:
    """The validation as_of dates the metrics are on (after calibration's share)."""
    return holdout[holdout["as_of"].isin(model.holdout_as_of)]


def evaluate(model: Any, holdout: pd.DataFrame) -> dict[str, float]:
    return evaluation.classification_metrics(holdout[LABEL].to_numpy(), model.predict(holdout))


def baseline(cfg: dict[str, Any], population: pd.DataFrame | None = None) -> Any:
    """The rule; it reads no population, so fitting it changes nothing."""
    from customer_ml.models import baselines

    return baselines.ChurnRule()


def score(model: Any, features: pd.DataFrame, cfg: dict[str, Any]) -> Any:

    features = features.sort_values("customer_id", kind="stable").reset_index(drop=True)
    return Scored(
        customer_ids=features["customer_id"].to_numpy(),
        as_of=pd.to_datetime(features["as_of"]),
        scores=np.asarray(model.predict(features), dtype="float64"),
    )


def scoring_rows(model: ChurnModel, dataset: pd.DataFrame) -> pd.DataFrame:
    """The dataset's latest as_of as `score` reads it: the feature relation's key and the
    model's features (customer impact in the report; the MLflow model's signature)."""
    latest = dataset[dataset["as_of"] == dataset["as_of"].max()]
    return latest[["customer_id", "as_of", *model.feature_names]].reset_index(drop=True)


def describe(
    model: ChurnModel,
    train_df: pd.DataFrame,
    holdout: pd.DataFrame,
    models: dict[str, Any],
    metrics: dict[str, dict[str, Any]],
    *,
    facts: dict[str, Any],
    cfg: dict[str, Any],
    summary: dict[str, Any],
) -> Any:
    from customer_ml.models import reports
    from customer_ml.models.evaluation import NOT_COMPARABLE

    scores = {
        group: m.predict(holdout)
        for group, m in models.items()
        if m is not None and NOT_COMPARABLE not in metrics.get(group, {})
    }
    importance = model.feature_importance()
    report = reports.classifier_report(
        title=f"Churn model {facts['model_version']} — validation",
        summary=summary,
        facts={
            **facts,
            "train_as_of": f"{train_df['as_of'].min()} .. {train_df['as_of'].max()}",
            "validation_as_of": f"{holdout['as_of'].min()} .. {holdout['as_of'].max()}",
            "train_rows": len(train_df),
            "validation_rows": len(holdout),
            "best_iteration": model.best_iteration,
            "categories": model.categories,
            "warnings": evaluation.classifier_flags(
                holdout[LABEL].to_numpy(),
                metrics,
                best_iteration=model.best_iteration,
                rounds=int(cfg.get("hyperparameters", {}).get("num_boost_round", 400)),
            )
            or "none",
        },
        y=holdout[LABEL].to_numpy(),
        scores=scores,
        metrics=metrics,
        importance=importance,
        contributions=model.mean_abs_contribution(
            sampling.sample_rows(holdout, CONTRIBUTION_ROWS, int(cfg.get("seed", 0)))
        ),
    )
    return Described(
        report=report,
        model_file="model.json",
        extra_files={"feature_importance.csv": importance.to_csv(index=False).encode()},
        record={
            # json.dumps keeps every digit (pandas' to_json rounds to 10)
            "feature_importance_json": json.dumps(importance.to_dict(orient="records")),
            "fitted_params_json": json.dumps(
                {"feature_names": model.feature_names, "categories": model.categories},
                sort_keys=True,
            ),
            "train_rows": len(train_df),
            "validation_rows": len(holdout),
            "best_iteration": model.best_iteration,
            "validation_roc_auc": metrics["candidate"]["roc_auc"],
            "baseline_roc_auc": metrics["baseline"]["roc_auc"],
            "train_as_of_min": train_df["as_of"].min(),
            "train_as_of_max": train_df["as_of"].max(),
            "validation_as_of_min": holdout["as_of"].min(),
            "validation_as_of_max": holdout["as_of"].max(),
        },
    )
