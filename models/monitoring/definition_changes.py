"""Schema or logic change: the definition hash of each relation the serving model trained on
against the one its latest build recorded (customer_ml.pipeline.monitoring.definition_changes)."""


def model(dbt, session):
    dbt.config(materialized="table")
    from customer_ml.pipeline import monitoring

    dbt.ref("customer_features", v=1), dbt.ref("customer_features", v=2)
    dbt.ref("churn_labels", v=1), dbt.ref("churn_labels", v=2), dbt.ref("clv_holdout", v=1)
    dbt.ref("clv_transactions", v=1)
    dbt.ref("ml_churn__train"), dbt.ref("ml_clv__train"), dbt.ref("ml_segments__train")
    rows = monitoring.definition_changes(session)
    return monitoring.typed(session, rows, monitoring.DEFINITION_CHANGES)
