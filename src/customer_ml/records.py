"""The append-only lineage records (docs/design.md "Records"), declared once for everything that
writes or reads them from Python: the dbt plugin creates them from this declaration when a build
opens the warehouse, the CLI does the same before it writes, and tests create their schemas
through it.

Writes append by column name (`append`), never by position, so adding a column cannot shift
values into the wrong one; rows are never updated or deleted. Readers return whole records
(dicts keyed by column name). The training-run and prediction tables are dbt models (one
incremental table per model, unioned by `lineage.training_runs` / `lineage.predictions`); their
columns are declared here too, as the frames the dbt Python models return.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import duckdb
import pandas as pd

# table -> column -> DuckDB type. Order is the physical column order of a new table.
TABLES: dict[str, dict[str, str]] = {
    "invocations": {
        "invocation_id": "varchar",
        "target_name": "varchar",
        "dbt_version": "varchar",
        "run_started_at": "timestamp",
        "recorded_at": "timestamp",
        "vars_json": "varchar",
    },
    "builds": {
        "invocation_id": "varchar",
        "target_name": "varchar",
        "git_commit": "varchar",
        "mlflow_run_id": "varchar",
        "snapshot_ids": "varchar",
        "nodes_succeeded": "integer",
        "nodes_failed": "integer",
        "nodes_skipped": "integer",
        "tests_passed": "integer",
        "tests_failed": "integer",
        "is_dirty": "boolean",
        "run_started_at": "timestamp",
        "finished_at": "timestamp",
        "results": "json",
        "run_type": "varchar",
    },
    "data_snapshots": {
        "snapshot_id": "varchar",
        "relation_name": "varchar",
        "snapshot_kind": "varchar",
        "content_hash": "varchar",
        "row_count": "bigint",
        "watermark": "timestamp",
        "registered_at": "timestamp",
        "invocation_id": "varchar",
    },
    "build_snapshots": {
        "invocation_id": "varchar",
        "snapshot_id": "varchar",
        "relation_name": "varchar",
        "registered_at": "timestamp",
    },
    "model_definitions": {
        "invocation_id": "varchar",
        "relation_name": "varchar",
        "code_hash": "varchar",
        "definition_hash": "varchar",
        "recorded_at": "timestamp",
    },
    "incremental_state": {
        "invocation_id": "varchar",
        "relation_name": "varchar",
        "loaded_through": "timestamp",
        "definition": "varchar",
        "recorded_at": "timestamp",
    },
    "partition_hashes": {
        "invocation_id": "varchar",
        "relation_name": "varchar",
        "partition_key": "varchar",
        "row_count": "bigint",
        "content_sum": "varchar",
        "recorded_at": "timestamp",
    },
    "promotion_requests": {
        "request_id": "varchar",
        "model_name": "varchar",
        "training_run_id": "varchar",
        "model_version": "varchar",
        "request_kind": "varchar",
        "requested_by": "varchar",
        "required_roles": "varchar",
        "gates": "json",
        "requested_at": "timestamp",
        # the challenger-vs-champion report (customer_ml.compare), when there is a champion
        "comparison_path": "varchar",
        "comparison_sha256": "varchar",
        # a backfill's rescored past predictions to publish (customer_ml.backfill_publish)
        "backfill_id": "varchar",
        "predictions_path": "varchar",
        "predictions_sha256": "varchar",
    },
    "approvals": {
        "request_id": "varchar",
        "decision": "varchar",
        "approver_role": "varchar",
        "approver": "varchar",
        "reason": "varchar",
        "decided_at": "timestamp",
    },
    "baseline_runs": {
        "training_run_id": "varchar",
        "model_name": "varchar",
        "model_version": "varchar",
        "run_type": "varchar",
        "status": "varchar",
        "code_hash": "varchar",
        "git_commit": "varchar",
        "is_dirty": "boolean",
        "lock_hash": "varchar",
        "invocation_id": "varchar",
        "registered_at": "timestamp",
    },
    "serving_decisions": {
        "invocation_id": "varchar",
        "model_name": "varchar",
        "model_kind": "varchar",
        "model_version": "varchar",
        "training_run_id": "varchar",
        "decided_at": "timestamp",
    },
    "alerts": {
        "alert_id": "varchar",
        "model_name": "varchar",
        "alert_kind": "varchar",
        "severity": "varchar",
        "invocation_id": "varchar",
        "message": "varchar",
        "raised_at": "timestamp",
        # webhook outcome: delivered | failed | not configured; detail names the endpoint
        # redacted (scheme://host:port) and why it failed
        "delivery": "varchar",
        "delivery_detail": "varchar",
    },
    "training_failures": {
        "model_name": "varchar",
        "invocation_id": "varchar",
        "run_type": "varchar",
        "status": "varchar",
        "error": "varchar",
        "failed_at": "timestamp",
    },
    "retraining_decisions": {
        "model_name": "varchar",
        "invocation_id": "varchar",
        "run_type": "varchar",
        "action": "varchar",
        "reasons_json": "varchar",
        "evidence_json": "varchar",
        "data_as_of": "date",
        "decided_at": "timestamp",
    },
    "run_costs": {
        "training_run_id": "varchar",
        "model_name": "varchar",
        "run_type": "varchar",
        "invocation_id": "varchar",
        "status": "varchar",
        "stage": "varchar",
        "wall_seconds": "double",
        "cpu_seconds": "double",
        "peak_rss_mb": "double",
        "rows_read": "bigint",
        "bytes_scanned": "bigint",
        "limit_name": "varchar",
        "limit_value": "double",
        "measured_value": "double",
        "estimated_cost_usd": "double",
        "recorded_at": "timestamp",
    },
    "rca_notes": {
        "model_name": "varchar",
        "note": "varchar",
        "author": "varchar",
        "noted_at": "timestamp",
    },
    "promotions": {
        "promotion_id": "varchar",
        "model_name": "varchar",
        "training_run_id": "varchar",
        "model_version": "varchar",
        "action": "varchar",
        "actor": "varchar",
        "promoted_at": "timestamp",
        "request_id": "varchar",
    },
    # One backfill (customer_ml.backfill), in its own warehouse file: a `started` row when its
    # raw copy is made, a `succeeded` or `failed` row when its build ends.
    "backfills": {
        "backfill_id": "varchar",
        "status": "varchar",
        "invocation_id": "varchar",
        "production_path": "varchar",
        "watermark": "timestamp",
        "as_of_start": "varchar",
        "as_of_end": "varchar",
        "cohort_json": "varchar",
        "cohort_customers": "bigint",
        "vars_json": "varchar",
        "git_commit": "varchar",
        "is_dirty": "boolean",
        "row_counts_json": "varchar",
        "snapshot_ids": "varchar",
        "recorded_at": "timestamp",
    },
    # A backfill's rescored past prediction, published into production by an approved request
    # (customer_ml.backfill_publish); the prediction it replaces stays in lineage.predictions.
    "published_predictions": {
        "published_prediction_id": "varchar",
        "replaces_prediction_id": "varchar",
        "request_id": "varchar",
        "backfill_id": "varchar",
        "model_name": "varchar",
        "model_kind": "varchar",
        "model_version": "varchar",
        "training_run_id": "varchar",
        "feature_version": "bigint",
        "customer_id": "bigint",
        "as_of": "date",
        "score": "double",
        "score_label": "varchar",
        # the backfill's input snapshot (in its own file's lineage.data_snapshots), commit, build
        "snapshot_id": "varchar",
        "git_commit": "varchar",
        "invocation_id": "varchar",
        "published_by": "varchar",
        "published_at": "timestamp",
    },
    # The hash chain over every table above and the ml.* record tables (customer_ml.chain).
    "seals": {
        "seal_seq": "bigint",
        "table_name": "varchar",
        "n_rows": "bigint",
        "rows_hash": "varchar",
        "prev_hash": "varchar",
        "seal_hash": "varchar",
        "invocation_id": "varchar",
        "sealed_at": "timestamp",
    },
    "sealed_rows": {
        "table_name": "varchar",
        "seal_seq": "bigint",
        "row_hash": "varchar",
    },
}

# The frames the dbt Python models return (pandas dtypes): ml.ml_<model>__train and __score.
TRAINING_RUN_COLUMNS: dict[str, str] = {
    "training_run_id": "string",
    "model_name": "string",
    "model_version": "string",
    "run_type": "string",
    "status": "string",
    "invocation_id": "string",
    "git_commit": "string",
    "lock_hash": "string",
    "code_hash": "string",
    "snapshot_ids": "string",
    "config_json": "string",
    "hyperparameters_json": "string",
    "metrics_json": "string",
    "baseline_metrics_json": "string",
    "artifact_path": "string",
    "artifact_sha256": "string",
    "feature_importance_json": "string",
    "definition_hashes": "string",
    "feature_definition_hash": "string",
    "label_definition_hash": "string",
    "report_path": "string",
    "report_sha256": "string",
    "fitted_params_json": "string",
    "mlflow_run_id": "string",
    "champion_training_run_id": "string",
    "feature_version": "Int64",
    "label_version": "Int64",
    "seed": "Int64",
    "train_rows": "Int64",
    "validation_rows": "Int64",
    "best_iteration": "Int64",
    "validation_roc_auc": "float64",
    "baseline_roc_auc": "float64",
    "is_dirty": "bool",
    "no_regression": "boolean",
    "no_regression_json": "string",
    "train_as_of_min": "datetime64[us]",
    "train_as_of_max": "datetime64[us]",
    "validation_as_of_min": "datetime64[us]",
    "validation_as_of_max": "datetime64[us]",
    "started_at": "datetime64[us]",
    "finished_at": "datetime64[us]",
    "training_rows_used": "Int64",
    "training_rows_hash": "string",
}

PREDICTION_COLUMNS: dict[str, str] = {
    "prediction_id": "string",
    "score_label": "string",
    "model_name": "string",
    "model_kind": "string",
    "model_version": "string",
    "training_run_id": "string",
    "snapshot_id": "string",
    "git_commit": "string",
    "invocation_id": "string",
    "customer_id": "int64",
    "feature_version": "int64",
    "score": "float64",
    "as_of": "datetime64[us]",
    "scored_at": "datetime64[us]",
}


def ddl(table: str) -> str:
    columns = ", ".join(f"{name} {kind}" for name, kind in TABLES[table].items())
    return f"create table if not exists lineage.{table} ({columns})"


def create_all(con: duckdb.DuckDBPyConnection) -> None:
    """Create every lineage table that is missing, and every declared column a table lacks
    (a warehouse made by an earlier version gains new columns; nothing is dropped or retyped)."""
    con.execute("create schema if not exists lineage")
    for table, columns in TABLES.items():
        con.execute(ddl(table))
        for name, kind in columns.items():
            con.execute(f"alter table lineage.{table} add column if not exists {name} {kind}")


def append(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: Mapping[str, Any] | Iterable[Mapping] | pd.DataFrame,
) -> int:
    """Append one record (a mapping), several, or a frame of them to lineage.`table`, by column
    name. Undeclared names fail; declared columns left out are null. Returns the number of rows
    appended."""
    if table in ("seals", "sealed_rows"):
        raise KeyError(f"lineage.{table} is written by customer_ml.chain only")
    declared = TABLES[table]
    if isinstance(rows, pd.DataFrame):
        frame_, present = rows, list(rows.columns)
    else:
        rows = [rows] if isinstance(rows, Mapping) else list(rows)
        present = sorted({n for row in rows for n in row})
        frame_ = None
    unknown = sorted(set(present) - set(declared))
    if unknown:
        raise KeyError(f"lineage.{table} has no column(s) {', '.join(unknown)}")
    if (frame_ is not None and frame_.empty) or (frame_ is None and not rows):
        return 0
    names = [n for n in declared if n in present]
    # Through a staging table, so that exactly the appended rows are sealed (customer_ml.chain).
    con.execute(f"create or replace temp table _appending as select * from lineage.{table} limit 0")
    if frame_ is not None:
        con.register("_appending_frame", frame_)
        con.execute(
            f"insert into _appending ({', '.join(names)}) select {', '.join(names)} "
            "from _appending_frame"
        )
        con.unregister("_appending_frame")
    else:
        con.executemany(
            f"insert into _appending ({', '.join(names)}) values ({', '.join('?' for _ in names)})",
            [[row.get(n) for n in names] for row in rows],
        )
    con.execute(f"insert into lineage.{table} select * from _appending")
    from customer_ml import chain

    chain.seal_rows(con, f"lineage.{table}", "select * from _appending", None)
    con.execute("drop table _appending")
    return len(frame_) if frame_ is not None else len(rows)


def read(
    con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None
) -> list[dict[str, Any]]:
    """A query's rows as whole records (column name -> value), fetched in full."""
    result = con.execute(sql, params or [])
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def snapshots(con: duckdb.DuckDBPyConnection, ids: Mapping[str, str]) -> dict[str, dict | None]:
    """Relation -> its data snapshot record (None when the id is not registered)."""
    out: dict[str, dict | None] = {}
    for relation, snapshot_id in ids.items():
        found = read(
            con, "select * from lineage.data_snapshots where snapshot_id = ?", [snapshot_id]
        )
        out[relation] = found[0] if found else None
    return out


def training_run(con: duckdb.DuckDBPyConnection, training_run_id: str) -> dict[str, Any] | None:
    """A training run as a whole record: its row of lineage.training_runs, with `snapshots`
    (relation -> data snapshot record of every input). None when unknown."""
    found = read(
        con, "select * from lineage.training_runs where training_run_id = ?", [training_run_id]
    )
    if not found:
        return None
    run = found[0]
    run["snapshots"] = snapshots(con, json.loads(run.get("snapshot_ids") or "{}"))
    return run


def prediction(con: duckdb.DuckDBPyConnection, prediction_id: str) -> dict[str, Any] | None:
    """A prediction as a whole record: its row of lineage.predictions, with `input` (the data
    snapshot record of the relation it scored) and `build` (the scoring build's record, without
    its node results; None when the build was not recorded). None when unknown."""
    found = read(con, "select * from lineage.predictions where prediction_id = ?", [prediction_id])
    if not found:
        return None
    row = found[0]
    row["input"] = snapshots(con, {"input": row["snapshot_id"]})["input"]
    builds = read(
        con,
        "select * exclude (results) from lineage.builds where invocation_id = ?",
        [row["invocation_id"]],
    )
    row["build"] = builds[0] if builds else None
    return row


def frame(rows: list[dict[str, Any]] | pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Rows (records or a frame) as a frame with exactly `columns`, in order and typed
    (TRAINING_RUN_COLUMNS or PREDICTION_COLUMNS)."""
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows, columns=list(columns))
    return df[list(columns)].astype(columns).reset_index(drop=True)
