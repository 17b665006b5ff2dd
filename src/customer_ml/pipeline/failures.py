"""Training failure handling (docs/design.md invariant 10): a failed training is recorded in
`lineage.training_failures` and alerted, then re-raised so the build shows it (scoring, which does
not depend on training, still runs). After `max_consecutive_failures` the alert escalates and
training stays suppressed (no run, an alert) until `customer-ml rca` records a note.

An operator error (config.OperatorError: a bad var, a selection that left out an input) fails
the node with its one line but is not a training failure and never counts toward suppression.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pandas as pd

from customer_ml import catalogue, config
from customer_ml.records import alerts, lineage, store, tables


def consecutive_failures(session: duckdb.DuckDBPyConnection, model_name: str) -> int:
    """Failures since the model's last successful training run or root-cause note."""
    successes = (
        "select max(finished_at) from lineage.training_runs "
        "where model_name = $1 and status = 'success'"
    )
    try:
        session.execute("select 1 from lineage.training_runs limit 0").fetchall()
    except duckdb.CatalogException:  # the first build: no training run yet
        successes = "select cast(null as timestamp)"
    rows = session.execute(
        f"""
        with last_reset as (
            select max(reset_at) as reset_at from (
                select max(noted_at) as reset_at from lineage.rca_notes where model_name = $1
                union all
                {successes}
            )
        )
        select count(*) from lineage.training_failures
        where model_name = $1 and status in ('failed', 'terminated')
            and failed_at > coalesce((select reset_at from last_reset), timestamp '1970-01-01')
        """,
        [model_name],
    ).fetchall()
    return int(rows[0][0])


def _record(
    session: duckdb.DuckDBPyConnection, model_name: str, run_type: str, status: str, error: str
) -> str:
    invocation_id = lineage.current_invocation(session)
    store.append(
        session,
        "training_failures",
        {
            "model_name": model_name,
            "invocation_id": invocation_id,
            "run_type": run_type,
            "status": status,
            "error": error[:2000],
            "failed_at": lineage.utc_now(),
        },
    )
    return invocation_id


def guarded(
    model_name: str,
    session: duckdb.DuckDBPyConnection,
    run_type: str,
    train: Callable[[], pd.DataFrame],
) -> pd.DataFrame:
    """Run `train` with failure handling; returns its training-run record, or no row (a
    failure is recorded and alerted, never raised to dbt)."""
    limit = int(catalogue.entry(model_name).policy.get("max_consecutive_failures", 3))
    failures = consecutive_failures(session, model_name)
    if failures >= limit:
        message = (
            f"training suppressed after {failures} consecutive failures; record the root cause "
            f"with `customer-ml rca {model_name} --note ...` to resume"
        )
        invocation_id = _record(session, model_name, run_type, "suppressed", message)
        from customer_ml.pipeline import retraining

        retraining.record(
            session, model_name, run_type or "production",
            retraining.Decision("suppressed", [message]),
        )  # fmt: skip
        alerts.raise_alert(
            session,
            model_name=model_name,
            kind="training_suppressed",
            severity="critical",
            message=message,
            invocation_id=invocation_id,
        )
        return store.frame([], tables.TRAINING_RUN_COLUMNS)
    try:
        return train()
    except config.OperatorError:
        raise
    except Exception as e:
        from customer_ml.pipeline import quotas

        error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        status = "terminated" if isinstance(e, quotas.QuotaExceeded) else "failed"
        invocation_id = _record(session, model_name, run_type, status, error)
        escalated = failures + 1 >= limit
        alerts.raise_alert(
            session,
            model_name=model_name,
            kind=f"training_{status}_escalated" if escalated else f"training_{status}",
            severity="critical" if escalated else "warning",
            message=f"training failed ({failures + 1} in a row): {error}"
            + ("; training is suppressed until a root-cause note" if escalated else ""),
            invocation_id=invocation_id,
        )
        # No row, and no node error: the other models' training, monitoring, the lineage views
        # and the integrity tests downstream still run. The build still fails, at its very end
        # (macros/build_records.sql fail_on_training_failures_and_critical_alerts).
        return store.frame([], tables.TRAINING_RUN_COLUMNS)
