"""Feature drift of each model's serving model: PSI per feature between its training reference
and the latest as_of (customer_ml.pipeline.monitoring.feature_drift; the retraining decision reads
the same function).

The refs order this model after what it reads; the catalogue (config/models.yml) names the
models, and a new model's training node is added here.
"""


def model(dbt, session):
    dbt.config(materialized="table")
    from customer_ml.pipeline import monitoring

    dbt.ref("customer_features", v=1), dbt.ref("customer_features", v=2)
    dbt.ref("ml_churn__train"), dbt.ref("ml_clv__train"), dbt.ref("ml_segments__train")
    return monitoring.typed(session, monitoring.feature_drift(session), monitoring.FEATURE_DRIFT)
