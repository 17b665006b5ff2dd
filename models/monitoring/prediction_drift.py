"""Prediction drift: PSI of each model's served scores at the latest as_of against the first
as_of the same model version served (customer_ml.pipeline.monitoring.prediction_drift)."""


def model(dbt, session):
    dbt.config(materialized="table")
    from customer_ml.pipeline import monitoring

    dbt.ref("fct_customer_scores", v=2)
    dbt.ref("ml_churn__score"), dbt.ref("ml_clv__score"), dbt.ref("ml_segments__score")
    rows = monitoring.prediction_drift(session)
    return monitoring.typed(session, rows, monitoring.PREDICTION_DRIFT)
