"""Promotion as a controlled action (docs/design.md invariants 6-8): gates, requests, approvals by
listed people, and the champion change, every state change an appended record.

A request is opened only when every gate passes; it is carried out when each required role of
the model (config/owners.yml) has approved, by people listed for that role, two different people
where two roles are required. Carrying it out appends a `lineage.promotions` row (the source of
truth scoring reads) and moves the MLflow registry alias `champion` (the mirror).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

import duckdb

from customer_ml import catalogue
from customer_ml.governance import compare
from customer_ml.governance.approvers import (
    PromotionError,
    identity,
    owners,
    roles_of,
)
from customer_ml.governance.gates import (  # noqa: F401 - cli_promotion uses it
    gates,
    verify_snapshots_gate,
)
from customer_ml.governance.requests import read_request
from customer_ml.records import lineage, store


def _run(con: duckdb.DuckDBPyConnection, training_run_id: str) -> dict:
    try:
        found = store.read(
            con, "select * from lineage.training_runs where training_run_id = ?", [training_run_id]
        )
    except duckdb.CatalogException:
        found = []
    if found:
        return found[0]
    raise PromotionError(
        f"unknown training run {training_run_id!r} in lineage.training_runs (experiment runs "
        "are recorded in schema experiments, or in the experiment target's warehouse, and are "
        "never promoted)"
    )


def _request_id(model_name: str, training_run_id: str, at: datetime) -> str:
    return "req-" + hashlib.sha256(f"{model_name}|{training_run_id}|{at}".encode()).hexdigest()[:12]


def open_request(
    con: duckdb.DuckDBPyConnection,
    model_name: str,
    training_run_id: str,
    *,
    kind: str = "promote",
    snapshot_check: tuple[bool, str] | None,
) -> tuple[str, list[tuple[str, bool, str]]]:
    """Check every gate and open a promotion request; PromotionError names the failing gate."""
    run = _run(con, training_run_id)
    if run["model_name"] != model_name:
        raise PromotionError(
            f"training run {training_run_id} is a {run['model_name']} run, not {model_name}"
        )
    checked = gates(con, run, snapshot_check=snapshot_check)
    failed = [(gate, detail) for gate, ok, detail in checked if not ok]
    if failed:
        gate, detail = failed[0]
        raise PromotionError(f"refused by gate '{gate}': {detail}")
    roles = list(catalogue.entry(model_name).approver_roles)
    at = lineage.utc_now()
    request_id = _request_id(model_name, training_run_id, at)
    comparison = (
        compare.for_request(con, model_name, training_run_id) if kind == "promote" else None
    )
    store.append(
        con,
        "promotion_requests",
        {
            "request_id": request_id,
            "model_name": model_name,
            "training_run_id": training_run_id,
            "model_version": run["model_version"],
            "request_kind": kind,
            "requested_by": identity(),
            "required_roles": json.dumps(roles),
            "gates": json.dumps([{"gate": g, "passed": ok, "detail": d} for g, ok, d in checked]),
            "requested_at": at,
            "comparison_path": comparison[0] if comparison else None,
            "comparison_sha256": comparison[1] if comparison else None,
        },
    )
    return request_id, checked


def _recheck(
    con: duckdb.DuckDBPyConnection,
    request: dict,
    snapshot_check: tuple[bool, str] | None,
    when: str,
) -> dict:
    """Every gate again, on the run the request names, as recorded now: a request row written by
    hand, or one whose run no longer passes, fails naming the gate. A backfill's publish request
    is checked by customer_ml.governance.backfill_publish."""
    if request["request_kind"] == "backfill_publish":
        from customer_ml.governance import backfill_publish

        return backfill_publish.recheck(con, request, snapshot_check, when)
    run = _run(con, request["training_run_id"])
    if run["model_name"] != request["model_name"]:
        raise PromotionError(
            f"request {request['request_id']} refused {when}: training run "
            f"{request['training_run_id']} is a {run['model_name']} run, "
            f"not {request['model_name']}"
        )
    if run["model_version"] != request["model_version"]:
        raise PromotionError(
            f"request {request['request_id']} refused {when}: it names model_version "
            f"{request['model_version']}, the run recorded {run['model_version']}"
        )
    for gate, ok, detail in gates(con, run, snapshot_check=snapshot_check):
        if not ok:
            raise PromotionError(
                f"request {request['request_id']} refused {when} by gate '{gate}': {detail}"
            )
    return run


def approve(
    con: duckdb.DuckDBPyConnection,
    request_id: str,
    role: str,
    *,
    snapshot_check: tuple[bool, str] | None,
) -> str:
    """Record an approval after re-checking every gate; carry the request out when every role the
    catalogue requires has approved (checking the gates once more, as the change is made)."""
    request = read_request(con, request_id)
    if request["state"] != "open":
        raise PromotionError(f"request {request_id} is {request['state']}, not open")
    model_name = request["model_name"]
    required = list(catalogue.entry(model_name).approver_roles)
    who = identity()
    if role not in required:
        raise PromotionError(
            f"role {role!r} is not required for {model_name} (required: {', '.join(required)})"
        )
    if role not in roles_of(model_name, who):
        raise PromotionError(f"{who} is not listed as {role} for {model_name} in config/owners.yml")
    approvals = [d for d in request["decisions"] if d["decision"] == "approve"]
    if any(d["approver_role"] == role for d in approvals):
        raise PromotionError(f"request {request_id} already has a {role} approval")
    if any(d["approver"] == who for d in approvals):
        raise PromotionError(
            f"{who} already approved request {request_id} in another role: "
            "two roles need two different people"
        )
    _recheck(con, request, snapshot_check, "at approval")
    store.append(
        con,
        "approvals",
        {
            "request_id": request_id,
            "decision": "approve",
            "approver_role": role,
            "approver": who,
            "decided_at": lineage.utc_now(),
        },
    )
    approved_roles = {d["approver_role"] for d in approvals} | {role}
    waiting = [r for r in required if r not in approved_roles]
    if waiting:
        return f"approved as {role} by {who}; waiting for {', '.join(waiting)}"
    if request["request_kind"] == "backfill_publish":
        from customer_ml.governance import backfill_publish

        by = {d["approver_role"]: d["approver"] for d in approvals} | {role: who}
        n = backfill_publish.carry_out(con, request, by, snapshot_check)
        return (
            f"approved as {role} by {who}; {n} rescored {model_name} predictions of backfill "
            f"{request['backfill_id']} published (the originals are kept); serving shows them "
            "from the next build (dbt build --selector scoring)"
        )
    _carry_out(con, request_id, who, snapshot_check)
    return (
        f"approved as {role} by {who}; {model_name} champion is now "
        f"{request['training_run_id']}; it serves from the next build "
        "(dbt build --selector scoring)"
    )


def _carry_out(
    con: duckdb.DuckDBPyConnection,
    request_id: str,
    actor: str,
    snapshot_check: tuple[bool, str] | None,
) -> None:
    request = read_request(con, request_id)
    if request["state"] != "open":
        raise PromotionError(f"request {request_id} is {request['state']}, not carried out")
    run = _recheck(con, request, snapshot_check, "when carried out")
    at = lineage.utc_now()
    store.append(
        con,
        "promotions",
        {
            "promotion_id": "prom-" + request["request_id"][4:],
            "model_name": request["model_name"],
            "training_run_id": request["training_run_id"],
            "model_version": request["model_version"],
            "action": request["request_kind"],
            "actor": actor,
            "promoted_at": at,
            "request_id": request["request_id"],
        },
    )
    try:
        from customer_ml.records import tracking

        tracking.set_champion(lineage.warehouse_file(con), request["model_name"], run)
    except Exception as e:  # the lineage record is the truth; the MLflow mirror may lag
        print(f"customer-ml: MLflow alias not moved ({type(e).__name__}: {e})")


def reject(con: duckdb.DuckDBPyConnection, request_id: str, reason: str) -> str:
    """Reject a request: only someone who may approve it (listed in one of its model's roles)."""
    request = read_request(con, request_id)
    if request["state"] != "open":
        raise PromotionError(f"request {request_id} is {request['state']}, not open")
    if not roles_of(request["model_name"], identity()):
        raise PromotionError(
            f"{identity()} may not reject request {request_id}: not listed in any approver role "
            f"of {request['model_name']} in config/owners.yml"
        )
    store.append(
        con,
        "approvals",
        {
            "request_id": request_id,
            "decision": "reject",
            "approver": identity(),
            "reason": reason,
            "decided_at": lineage.utc_now(),
        },
    )
    return f"request {request_id} rejected by {identity()}"


def rollback(
    con: duckdb.DuckDBPyConnection, model_name: str, snapshot_check: tuple[bool, str] | None
) -> str:
    """Open a request to make the previous champion serve again (approved like any other)."""
    history = store.read(
        con,
        "select training_run_id from lineage.promotions where model_name = ? "
        "order by promoted_at desc",
        [model_name],
    )
    current = history[0]["training_run_id"] if history else None
    previous = next(
        (h["training_run_id"] for h in history if h["training_run_id"] != current), None
    )
    if previous is None:
        raise PromotionError(f"{model_name} has no previous champion to roll back to")
    request_id, _ = open_request(
        con, model_name, previous, kind="rollback", snapshot_check=snapshot_check
    )
    return request_id


def rca(con: duckdb.DuckDBPyConnection, model_name: str, note: str) -> str:
    """A root-cause note lifting a training suppression: only by the model's ml_owner."""
    if not note.strip():
        raise PromotionError("rca: the note is empty")
    if identity() not in (owners(model_name).get("ml_owner") or []):
        raise PromotionError(
            f"{identity()} may not file the root-cause note for {model_name}: not listed as its "
            "ml_owner in config/owners.yml"
        )
    store.append(
        con,
        "rca_notes",
        {
            "model_name": model_name,
            "note": note,
            "author": identity(),
            "noted_at": lineage.utc_now(),
        },
    )
    return f"root-cause note recorded for {model_name}; training resumes at the next build"
