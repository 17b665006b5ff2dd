"""Customer lifetime value as a model of the catalogue: the model protocol
(customer_ml.pipeline.training) over BG/NBD + Gamma-Gamma, whose fitting and BTYD conventions live
in customer_ml.models.btyd (the one adapter to `lifetimes`). Training reads the BTYD summaries
(btyd.summaries: one row per customer and period) of the calibration and scoring periods
(clv_transactions, as stored by the dbt model clv_summaries) and of the holdout
(clv_holdout); scoring values every customer known at the latest as_of.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from customer_ml.models.btyd import ClvModel, calibration_holdout, fit_params, rfm, validate
from customer_ml.models.protocol import Described, Scored

MODEL = ClvModel
# The summary measures a fitted model scores from (btyd.rfm).
SCORING_MEASURES = ["frequency", "recency_days", "t_days", "spend_frequency", "repeat_spend"]


def _period(dataset: pd.DataFrame, name: str) -> pd.DataFrame:
    """The summary rows of one period in customer order: the warehouse returns rows in any
    order, and the fits' float sums depend on it, so the same data must give the same bytes."""
    rows = dataset[dataset["period"] == name]
    return rows.sort_values("customer_id", kind="stable")


def split(dataset: pd.DataFrame, cfg: dict[str, Any], seed: int) -> tuple[pd.DataFrame, ...]:
    """Training rows (the calibration and scoring periods' summaries) and the holdout frame: per
    customer known at the calibration end, the BTYD calibration measures, the holdout purchases
    and spend."""
    unit = cfg["clv_time_unit"]
    calibration, holdout = _period(dataset, "calibration"), _period(dataset, "holdout")
    if calibration.empty:
        raise ValueError("clv_transactions has no calibration rows: no as_of with a full holdout")
    calibration_end = pd.Timestamp(calibration["period_end"].iloc[0])
    holdout_days = int(calibration["holdout_days"].iloc[0])
    holdout_end = calibration_end + pd.Timedelta(days=holdout_days)
    frame = calibration_holdout(calibration, holdout, holdout_days, unit)
    frame.attrs.update(unit=unit, calibration_end=calibration_end, holdout_end=holdout_end)
    train = dataset[dataset["period"].isin(["calibration", "scoring"])]
    return train, frame


def fit(
    train: pd.DataFrame,
    cfg: dict[str, Any],
    seed: int,
    *,
    validation: pd.DataFrame,
    reference: ClvModel | None = None,
    feature_version: int = 1,
) -> ClvModel:
    """The calibration-period fit (what evaluation measures) and the fit on everything known at
    the latest as_of (what scores), in one model."""
    unit, penalizer = cfg["clv_time_unit"], float(cfg["clv_penalizer"])
    calibration, scoring = _period(train, "calibration"), _period(train, "scoring")
    calibrated = fit_params(rfm(calibration, unit), unit, penalizer)
    model = fit_params(rfm(scoring, unit), unit, penalizer)
    model.calibration = {"bgnbd": calibrated.bgnbd, "gamma_gamma": calibrated.gamma_gamma}
    model.feature_version = feature_version
    return model


def evaluation_set(model: ClvModel, holdout: pd.DataFrame) -> pd.DataFrame:
    return holdout


def evaluate(model: Any, holdout: pd.DataFrame) -> dict[str, float]:
    """Predicted vs actual holdout purchases and spend; a fitted model is measured by its
    calibration-period fit, which saw nothing of the holdout."""
    unit = holdout.attrs.get("unit")
    if isinstance(model, ClvModel):
        if model.unit != unit:
            raise ValueError(f"fitted in {model.unit}, the holdout is measured in {unit}")
        model = model.calibrated()
    metrics, _ = validate(model, holdout, holdout["holdout_spend"].dropna())
    return metrics


def baseline(cfg: dict[str, Any], population: pd.DataFrame | None = None) -> Any:
    """The rule; it reads no population, so fitting it changes nothing."""
    from customer_ml.models import baselines

    return baselines.ClvRule()


def score(model: Any, summaries: pd.DataFrame, cfg: dict[str, Any]) -> Any:
    """CLV over the horizon of every customer known at the latest as_of (the scoring period's
    summaries)."""
    from customer_ml.models import baselines

    scoring = _period(summaries, "scoring")
    period_end = pd.Timestamp(scoring["period_end"].iloc[0])
    horizon = int(cfg["horizon_months"])
    if isinstance(model, ClvModel):
        measures = rfm(scoring, model.unit)
        customer_ids = measures.index.to_numpy()
        values = model.clv(measures, horizon, float(cfg["monthly_discount_rate"]))
    else:
        baseline_values = baselines.clv_value(scoring, horizon)
        customer_ids, values = baseline_values.index.to_numpy(), baseline_values.to_numpy()
    return Scored(
        customer_ids=customer_ids.astype("int64"),
        as_of=pd.Series([period_end] * len(customer_ids)),
        scores=np.asarray(values, dtype="float64"),
    )


def scoring_rows(model: ClvModel, dataset: pd.DataFrame) -> pd.DataFrame:
    """The scoring period's summaries, as `score` reads them, with the trailing year's spend the
    rule baseline scores (customer impact against it in the report; the MLflow model's
    signature)."""
    rows = _period(dataset, "scoring").reset_index(drop=True)
    rows = rows[["customer_id", "period", "period_end", *SCORING_MEASURES, "spend_365d"]]
    # the training frame holds the holdout's rows too (their gaps make counts floats); scoring
    # reads the summaries' own types: day counts are integers
    return rows.astype({m: "int64" for m in SCORING_MEASURES if m != "repeat_spend"})


def describe(
    model: ClvModel,
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

    _, by_frequency = validate(model.calibrated(), holdout, holdout["holdout_spend"].dropna())
    calibration = model.calibrated().params
    scoring_end = pd.Timestamp(_period(train, "scoring")["period_end"].iloc[0])
    report = reports.table_report(
        summary=summary,
        title=f"CLV model {facts['model_version']} — validation",
        facts={
            **facts,
            "time_unit": model.unit,
            "penalizer": cfg["clv_penalizer"],
            "calibration_end": holdout.attrs["calibration_end"].date(),
            "holdout_end": holdout.attrs["holdout_end"].date(),
            "scoring_fit_end": scoring_end.date(),
            "calibration_params": calibration,
            "scoring_params": model.params,
        },
        metrics=metrics,
        tables={"Holdout repeat transactions by calibration frequency (10 = 10+)": by_frequency},
        plot=("frequency_cal", ["predicted", "actual"], "mean holdout transactions"),
    )
    return Described(
        report=report,
        model_file="model.json",
        record={
            "fitted_params_json": json.dumps(
                {"calibration": calibration, "scoring": model.params}, sort_keys=True
            ),
            "train_rows": int((train["period"] == "scoring").sum()),  # customers scored
            "validation_rows": len(holdout),
            "train_as_of_max": scoring_end,
            "validation_as_of_min": holdout.attrs["calibration_end"],
            "validation_as_of_max": holdout.attrs["holdout_end"],
        },
        mlflow_params={
            **{f"param.{k}": v for k, v in model.params.items()},
            **{f"calibration_param.{k}": v for k, v in calibration.items()},
            "time_unit": model.unit,
            "penalizer": cfg["clv_penalizer"],
        },
    )
