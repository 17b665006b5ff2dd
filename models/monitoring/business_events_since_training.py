"""Business events loaded since each model's last successful training run that name it: each
makes the model's next build train (customer_ml.pipeline.monitoring.business_events; the retraining
decision reads the same query)."""


def model(dbt, session):
    dbt.config(materialized="table")
    from customer_ml.pipeline import monitoring

    dbt.source("shop", "business_events")
    dbt.ref("ml_churn__train"), dbt.ref("ml_clv__train"), dbt.ref("ml_segments__train")
    rows = monitoring.business_events(session)
    return monitoring.typed(session, rows, monitoring.BUSINESS_EVENTS)
