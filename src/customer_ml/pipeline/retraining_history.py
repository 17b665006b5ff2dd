"""What the retraining decisions say afterwards: each model's last decision and when it is next
due (`customer-ml status`), and every decision with its reasons (`customer-ml decisions`). The
decisions are taken and recorded by customer_ml.pipeline.retraining."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import duckdb

from customer_ml.pipeline.retraining_policy import policy
from customer_ml.records import store
from customer_ml.records.chain import columns_of


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> dict | None:
    return (store.read(con, sql, params) or [None])[0]


def status(con: duckdb.DuckDBPyConnection, model_name: str) -> dict[str, Any]:
    """The model's last production decision, its reasons, and when its cadence next makes it
    due (for `customer-ml status`)."""
    decision = _one(
        con,
        "select action, reasons_json, decided_at from lineage.retraining_decisions "
        "where model_name = ? and run_type = 'production' order by decided_at desc limit 1",
        [model_name],
    )
    trained = _one(
        con,
        "select started_at from lineage.training_runs where model_name = ? "
        "and status = 'success' order by started_at desc limit 1",
        [model_name],
    ) if columns_of(con, "lineage.training_runs") else None  # fmt: skip
    cadence = timedelta(days=policy(model_name)["cadence_days"])
    return {
        "retraining": decision["action"] if decision else None,
        "retraining_reasons": json.loads(decision["reasons_json"]) if decision else [],
        "decided_at": decision["decided_at"] if decision else None,
        "next_due": (trained["started_at"] + cadence).date() if trained else "now",
    }


def decisions(
    con: duckdb.DuckDBPyConnection, model_name: str | None = None, since: Any = None
) -> list[dict[str, Any]]:
    """Every retraining decision (train, skip, suppressed), oldest first, of one model or all,
    decided on or after `since` (a date), with its build, reasons and evidence: "why did or
    didn't churn retrain last Tuesday?" (`customer-ml decisions`)."""
    rows = store.read(
        con,
        "select d.decided_at, d.model_name, d.action, d.run_type, d.data_as_of, d.invocation_id, "
        "d.reasons_json, d.evidence_json, b.invocation_id is not null as build_finished "
        "from lineage.retraining_decisions d left join lineage.builds b using (invocation_id) "
        "where (? is null or d.model_name = ?) and (? is null or d.decided_at >= ?) "
        "order by d.decided_at, d.model_name",
        [model_name, model_name, since, since],
    )
    for row in rows:
        row["reasons"] = json.loads(row.pop("reasons_json") or "[]")
        row["evidence"] = json.loads(row.pop("evidence_json") or "{}")
    return rows
