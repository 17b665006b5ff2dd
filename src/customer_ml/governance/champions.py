"""Who serves each model, read from the records: `customer-ml status` (champion, what the last
clean production build served, open requests, recent failures) and the check that the MLflow
registry alias `@champion` still mirrors lineage.promotions (customer_ml.governance.promotion
changes champions; this module only reads them, and restores the mirror).
"""

from __future__ import annotations

import duckdb

from customer_ml import catalogue
from customer_ml.governance.requests import read_request
from customer_ml.records import lineage, store


def status(con: duckdb.DuckDBPyConnection) -> list[dict]:
    from customer_ml.records import registry

    out = []
    for model_name in catalogue.names():
        serving = registry.champion(con, model_name, max_age_check=False)
        requests = store.read(
            con,
            "select request_id from lineage.promotion_requests where model_name = ? "
            "order by requested_at",
            [model_name],
        )
        open_requests = [
            r["request_id"]
            for r in requests
            if read_request(con, r["request_id"])["state"] == "open"
        ]
        failures = store.read(
            con,
            "select status, error, failed_at from lineage.training_failures "
            "where model_name = ? order by failed_at desc limit 3",
            [model_name],
        )
        # What serves is what the last clean production build scored with (the serving rule,
        # macro servable_builds); a promotion serves from the next build.
        served = store.read(
            con,
            "select d.training_run_id, d.model_kind, d.decided_at from lineage.serving_decisions d "
            "join lineage.builds b using (invocation_id) where d.model_name = ? and not "
            "b.is_dirty and coalesce(b.run_type, 'production') = 'production' "
            "order by d.decided_at desc limit 1",
            [model_name],
        )
        champion = serving["training_run_id"] if serving else "rule baseline"
        if served:
            last = served[0]
            served_by = (
                last["training_run_id"] if last["model_kind"] != "baseline" else ("rule baseline")
            )
        else:
            served_by = None
        out.append(
            {
                "model": model_name,
                "champion": champion,
                "served_by_last_build": served_by,
                # what serves now: the last clean production build's choice (None before one)
                "serving": served_by,
                "model_version": serving["model_version"] if serving else None,
                "age_days": (lineage.utc_now() - serving["champion_since"]).days
                if serving
                else None,
                "open_requests": open_requests,
                "recent_failures": failures,
            }
        )
    return out


def check_registry_aliases(con: duckdb.DuckDBPyConnection) -> list[str]:
    """lineage.promotions is the truth about champions; the MLflow registry alias `@champion`
    mirrors it. An alias moved elsewhere (by the MLflow UI or client, past the two-person
    approval) is alerted (`registry_alias_drift`, critical) and put back; returns the models
    whose alias was restored. Run by `customer-ml status` and at the end of every build."""
    from customer_ml.records import alerts, model_registry, registry

    warehouse = lineage.warehouse_file(con)
    restored = []
    for name in catalogue.names():
        champion = registry.champion(con, name, max_age_check=False)
        expected = champion["training_run_id"] if champion else None
        try:
            actual = model_registry.champion_alias(warehouse, name)
            if actual == expected:
                continue
            model_registry.restore_champion_alias(warehouse, name, champion)
        except Exception as e:  # an unreachable store must not fail a build or `status`
            print(f"customer-ml: MLflow alias of {name} not checked ({type(e).__name__}: {e})")
            continue
        alerts.raise_alert(
            con,
            model_name=name,
            kind="registry_alias_drift",
            severity="critical",
            message=f"registry alias customer-ml-{name}@champion pointed at "
            f"{actual or 'nothing'}, but lineage.promotions says {expected or 'nothing'}: "
            "restored (promote through `customer-ml promote` and two approvals)",
        )
        restored.append(name)
    return restored
