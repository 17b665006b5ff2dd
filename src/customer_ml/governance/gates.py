"""The promotion gates: what a training run must show before anyone may approve it, checked when a
request opens, at each approval and when the promotion is carried out
(customer_ml.governance.promotion).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from customer_ml import catalogue
from customer_ml.models import evaluation
from customer_ml.records import store

LINEAGE_FIELDS = (
    "git_commit",
    "snapshot_ids",
    "lock_hash",
    "code_hash",
    "artifact_path",
    "artifact_sha256",
    "invocation_id",
    "model_version",
)


def recorded_run(con: duckdb.DuckDBPyConnection, training_run_id: str) -> dict | None:
    """A production training run as lineage.training_runs recorded it, or None."""
    try:
        found = store.read(
            con, "select * from lineage.training_runs where training_run_id = ?", [training_run_id]
        )
    except duckdb.CatalogException:
        found = []
    return found[0] if found else None


def verify_snapshots_gate(target: str, warehouse_dir: Path) -> tuple[bool, str]:
    """Run `verify-snapshots` on <warehouse_dir>/<target>.duckdb (needs no open connection)."""
    from customer_ml import dbt_runner

    status, lines = dbt_runner.run(
        "run-operation", "verify_data_snapshots", "--target", target, warehouse_dir=warehouse_dir
    )
    altered = [line for line in lines if "ALTERED snapshot" in line]
    detail = "; ".join(altered[:3]) or ("ok" if status == 0 else " ".join(lines[-2:]))
    return status == 0, detail


def gates(
    con: duckdb.DuckDBPyConnection,
    run: dict,
    *,
    snapshot_check: tuple[bool | None, str] | None,
) -> list[tuple[str, bool | None, str]]:
    """(gate, passed, detail) for each promotion gate, in order. `snapshot_check` is the result
    of verify_snapshots_gate, taken before the warehouse was opened for writing ((None, why)
    shows that gate as not checked)."""
    entry = catalogue.entry(run["model_name"])
    out: list[tuple[str, bool | None, str]] = []
    out.append(("training run succeeded", run["status"] == "success", f"status {run['status']}"))
    out.append(
        (
            "production run type",
            run["run_type"] == "production",
            f"run type {run['run_type']} (experiment runs can never be promoted)",
        )
    )
    out.append(
        (
            "clean tree",
            not run["is_dirty"],
            "trained on a dirty tree" if run["is_dirty"] else "committed code",
        )
    )
    finished = con.execute(
        "select count(*) from lineage.builds where invocation_id = ?", [run.get("invocation_id")]
    ).fetchall()[0][0]
    out.append(
        (
            "build finished",
            finished > 0,
            f"build {run.get('invocation_id')} "
            + ("finished" if finished else "never finished (killed?); its runs are not promotable"),
        )
    )
    missing = [f for f in LINEAGE_FIELDS if not run.get(f) or run.get(f) == "unknown"]
    out.append(("complete lineage", not missing, f"missing: {', '.join(missing) or 'none'}"))
    if snapshot_check is not None:
        out.append(("snapshot hashes verify", *snapshot_check))
    metrics = json.loads(run.get("metrics_json") or "{}")
    complete = entry.primary_metric in metrics.get("candidate", {}) and "baseline" in metrics
    out.append(
        (
            "evaluation complete",
            complete,
            f"{entry.primary_metric} for the candidate; metrics groups: {sorted(metrics)}",
        )
    )
    out.extend(evaluation.no_regression(entry, metrics))
    return out
