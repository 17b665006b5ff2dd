"""Performance of each model's serving model on its matured predictions, one row per evaluation
window, with sustained degradation (customer_ml.pipeline.performance.performance; the retraining
decision reads the same function)."""


def model(dbt, session):
    dbt.config(materialized="table")
    from customer_ml import catalogue
    from customer_ml.pipeline import monitoring, performance

    dbt.ref("ml_churn__score"), dbt.ref("ml_clv__score"), dbt.ref("ml_segments__score")
    dbt.ref("ml_churn__train"), dbt.ref("ml_clv__train"), dbt.ref("ml_segments__train")
    dbt.ref("churn_labels", v=1), dbt.ref("churn_labels", v=2), dbt.ref("stg_shop__orders")
    rows = [w for name in catalogue.names() for w in performance.performance(session, name)]
    return monitoring.typed(session, rows, performance.PERFORMANCE)
