"""Promotion as a controlled action (docs/design.md invariants 6-8): gates, requests, approvals by
listed people, and the champion change, every state change an appended record.

A request is opened only when every gate passes; it is carried out when each required role of
the model (config/owners.yml) has approved, by people listed for that role, two different people
where two roles are required, and never by the requester alone. Every request, approval,
rejection and root-cause note is signed with its author's SSH key (customer_ml.governance.signing):
the key says who acted. An approval counts only the records the chain sealed whose signatures
verify. The cheap checks (the request exists and is open, the role, the signature, the person)
come first: `check_approval`, which the CLI runs before the slow snapshot verification.
Carrying a request out appends a `lineage.promotions` row (the source of truth scoring reads) and
moves the MLflow registry alias `champion` (the mirror).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import duckdb

from customer_ml import catalogue
from customer_ml.governance import compare, signing
from customer_ml.governance.approvers import Owners, owners_in_force
from customer_ml.governance.errors import PromotionError
from customer_ml.governance.gates import (  # noqa: F401 - cli_promotion uses it
    gates,
    recorded_run,
    verify_snapshots_gate,
)
from customer_ml.governance.requests import append_request, read_request, request_text, signed_by
from customer_ml.records import chain, lineage, store


def _run(con: duckdb.DuckDBPyConnection, training_run_id: str) -> dict:
    run = recorded_run(con, training_run_id)
    if run is not None:
        return run
    raise PromotionError(
        f"unknown training run {training_run_id!r} in lineage.training_runs (experiment runs "
        "are recorded in schema experiments, or in the experiment target's warehouse, and are "
        "never promoted)"
    )


def _run_of(con: duckdb.DuckDBPyConnection, model_name: str, training_run_id: str) -> dict:
    run = _run(con, training_run_id)
    if run["model_name"] != model_name:
        raise PromotionError(
            f"training run {training_run_id} is a {run['model_name']} run, not {model_name}"
        )
    return run


def check_requester(
    con: duckdb.DuckDBPyConnection, model_name: str, training_run_id: str, key: Path
) -> str:
    """The cheap checks of a request, before any gate: the run is MODEL's, and `key` signs as a
    signer config/owners.yml lists. Returns who."""
    _run_of(con, model_name, training_run_id)
    text = signing.statement("whoami", {"model_name": model_name, "run": training_run_id})
    return signed_by(owners_in_force(), text, signing.sign(text, key), "your signing key")


def _request_id(model_name: str, training_run_id: str, at: datetime) -> str:
    return "req-" + hashlib.sha256(f"{model_name}|{training_run_id}|{at}".encode()).hexdigest()[:12]


def open_request(
    con: duckdb.DuckDBPyConnection,
    model_name: str,
    training_run_id: str,
    *,
    kind: str = "promote",
    key: Path,
    snapshot_check: tuple[bool, str] | None,
) -> tuple[str, list[tuple[str, bool, str]]]:
    """Check every gate and open a promotion request signed with `key` (its signer must be
    listed in config/owners.yml); PromotionError names the failing gate."""
    run = _run_of(con, model_name, training_run_id)
    checked = gates(con, run, snapshot_check=snapshot_check)
    failed = [(gate, detail) for gate, ok, detail in checked if not ok]
    if failed:
        gate, detail = failed[0]
        raise PromotionError(f"refused by gate '{gate}': {detail}")
    roles = list(catalogue.entry(model_name).approver_roles)
    at = lineage.utc_now()
    request_id = _request_id(model_name, training_run_id, at)
    comparison = (
        compare.for_request(con, model_name, training_run_id, request_id, checked)
        if kind == "promote"
        else None
    )
    append_request(
        con,
        {
            "request_id": request_id,
            "model_name": model_name,
            "training_run_id": training_run_id,
            "model_version": run["model_version"],
            "request_kind": kind,
            "required_roles": json.dumps(roles),
            "gates": json.dumps([{"gate": g, "passed": ok, "detail": d} for g, ok, d in checked]),
            "requested_at": at,
            "comparison_path": comparison[0] if comparison else None,
            "comparison_sha256": comparison[1] if comparison else None,
        },
        key,
    )
    return request_id, checked


def _sealed(con: duckdb.DuckDBPyConnection, table: str, where: str, params: list, what: str):
    if chain.unsealed(con, f"lineage.{table}", where, params):
        raise PromotionError(
            f"{what} is not sealed in the lineage chain (written by hand, or by a build that "
            "never finished): not honoured"
        )


def _approval_text(request: dict, role: str) -> str:
    return signing.statement("approve", {"request": request_text(request), "role": role})


def check_approval(
    con: duckdb.DuckDBPyConnection, request_id: str, role: str, key: Path
) -> tuple[dict, str, str, Owners]:
    """The cheap checks of an approval, before any gate: the request exists, is open, sealed and
    signed by its requester; ROLE is required; the signature of `key` says who approves, listed
    in ROLE; every approval already counted is sealed and signed by its approver; two roles need
    two people; the requester is never the only approver. Returns (request, who, signature,
    owners); PromotionError, one line, otherwise."""
    request = read_request(con, request_id)
    if request["state"] != "open":
        raise PromotionError(f"request {request_id} is {request['state']}, not open")
    model_name = request["model_name"]
    required = list(catalogue.entry(model_name).approver_roles)
    if role not in required:
        raise PromotionError(
            f"role {role!r} is not required for {model_name} (required: {', '.join(required)})"
        )
    owners = owners_in_force()
    text = _approval_text(request, role)
    signature = signing.sign(text, key)
    who = signed_by(owners, text, signature, f"approval of {request_id}")
    listed = owners.models.get(model_name, {})
    if who not in (listed.get(role) or []):
        raise PromotionError(f"{who} is not listed as {role} for {model_name} in config/owners.yml")
    _sealed(con, "promotion_requests", "request_id = ?", [request_id], f"request {request_id}")
    if signed_by(owners, request_text(request), request.get("signature"),
               f"request {request_id}") != request["requested_by"]:  # fmt: skip
        raise PromotionError(f"request {request_id}: signed by someone else than its requester")
    approvals = [d for d in request["decisions"] if d["decision"] == "approve"]
    for d in approvals:
        what = f"the {d['approver_role']} approval of {request_id} by {d['approver']}"
        _sealed(con, "approvals", "request_id = ? and approver = ? and decision = 'approve'",
                [request_id, d["approver"]], what)  # fmt: skip
        text = _approval_text(request, d["approver_role"])
        by = signed_by(owners, text, d.get("signature"), what)
        if by != d["approver"]:
            raise PromotionError(f"{what}: signed by {by}, not by its approver")
        if by not in (listed.get(d["approver_role"]) or []):
            raise PromotionError(f"{what}: {by} is no longer listed as {d['approver_role']}")
    if any(d["approver_role"] == role for d in approvals):
        raise PromotionError(f"request {request_id} already has a {role} approval")
    if any(d["approver"] == who for d in approvals):
        raise PromotionError(
            f"{who} already approved request {request_id} in another role: "
            "two roles need two different people"
        )
    waiting = [r for r in required if r not in {d["approver_role"] for d in approvals} | {role}]
    if not waiting and {d["approver"] for d in approvals} | {who} == {request["requested_by"]}:
        raise PromotionError(
            f"{who} opened request {request_id} and may not be its only approver: another "
            f"{role} approves it"
        )
    return request, who, signature, owners


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
    key: Path,
    snapshot_check: tuple[bool, str] | None,
) -> str:
    """Record an approval signed with `key` after the cheap checks (check_approval) and every
    gate again; carry the request out when every role the catalogue requires has approved
    (checking the gates once more, as the change is made)."""
    request, who, signature, owners = check_approval(con, request_id, role, key)
    model_name = request["model_name"]
    required = list(catalogue.entry(model_name).approver_roles)
    approvals = [d for d in request["decisions"] if d["decision"] == "approve"]
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
            "signature": signature,
            "owners_commit": owners.commit,
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
        from customer_ml.records import model_registry

        model_registry.set_champion(lineage.warehouse_file(con), request["model_name"], run)
    except Exception as e:  # the lineage record is the truth; the MLflow mirror may lag
        print(f"customer-ml: MLflow alias not moved ({type(e).__name__}: {e})")


def _listed_in_any_role(owners: Owners, model_name: str, who: str) -> bool:
    required = catalogue.entry(model_name).approver_roles
    return any(who in (owners.models.get(model_name, {}).get(r) or []) for r in required)


def reject(con: duckdb.DuckDBPyConnection, request_id: str, reason: str, *, key: Path) -> str:
    """Reject a request, signed with `key`: only someone who may approve it (listed in one of its
    model's roles)."""
    request = read_request(con, request_id)
    if request["state"] != "open":
        raise PromotionError(f"request {request_id} is {request['state']}, not open")
    owners = owners_in_force()
    text = signing.statement("reject", {"request": request_text(request), "reason": reason})
    signature = signing.sign(text, key)
    who = signed_by(owners, text, signature, f"rejection of {request_id}")
    if not _listed_in_any_role(owners, request["model_name"], who):
        raise PromotionError(
            f"{who} may not reject request {request_id}: not listed in any approver role "
            f"of {request['model_name']} in config/owners.yml"
        )
    store.append(
        con,
        "approvals",
        {
            "request_id": request_id,
            "decision": "reject",
            "approver": who,
            "reason": reason,
            "decided_at": lineage.utc_now(),
            "signature": signature,
            "owners_commit": owners.commit,
        },
    )
    return f"request {request_id} rejected by {who}"


def rollback(
    con: duckdb.DuckDBPyConnection,
    model_name: str,
    snapshot_check: tuple[bool, str] | None,
    *,
    key: Path,
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
        con, model_name, previous, kind="rollback", key=key, snapshot_check=snapshot_check
    )
    return request_id


def rca(con: duckdb.DuckDBPyConnection, model_name: str, note: str, *, key: Path) -> str:
    """A root-cause note lifting a training suppression, signed with `key`: only by the model's
    ml_owner."""
    if not note.strip():
        raise PromotionError("rca: the note is empty")
    owners = owners_in_force()
    at = lineage.utc_now()
    text = signing.statement("rca", {"model_name": model_name, "note": note, "noted_at": at})
    signature = signing.sign(text, key)
    who = signed_by(owners, text, signature, f"root-cause note for {model_name}")
    if who not in (owners.models.get(model_name, {}).get("ml_owner") or []):
        raise PromotionError(
            f"{who} may not file the root-cause note for {model_name}: not listed as its "
            "ml_owner in config/owners.yml"
        )
    store.append(
        con,
        "rca_notes",
        {
            "model_name": model_name,
            "note": note,
            "author": who,
            "noted_at": at,
            "signature": signature,
        },
    )
    return f"root-cause note recorded for {model_name}; training resumes at the next build"
