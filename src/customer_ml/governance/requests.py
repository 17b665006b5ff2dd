"""A promotion request as the records say it stands: its row in `lineage.promotion_requests`,
the approvals and rejections decided on it, and its state (open, rejected, carried out, or stale
because a later promotion or rollback of the model came after it). Read by promotion, by a
backfill's publication and by `customer-ml status`. Requests are opened here too, signed by their
requester (`append_request`)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from customer_ml.governance import signing
from customer_ml.governance.approvers import Owners, owners_in_force
from customer_ml.governance.errors import PromotionError
from customer_ml.records import store


def read_request(con: duckdb.DuckDBPyConnection, request_id: str) -> dict:
    found = store.read(
        con, "select * from lineage.promotion_requests where request_id = ?", [request_id]
    )
    if not found:
        raise PromotionError(f"unknown promotion request {request_id!r}")
    request = found[0]
    decisions = store.read(
        con,
        "select * from lineage.approvals where request_id = ? order by decided_at",
        [request_id],
    )
    done = store.read(con, "select * from lineage.promotions where request_id = ?", [request_id])
    later = store.read(
        con,
        "select action, promoted_at from lineage.promotions where model_name = ? "
        "and promoted_at > ? and ? <> 'backfill_publish' order by promoted_at limit 1",
        [request["model_name"], request["requested_at"], request["request_kind"]],
    )
    request["decisions"] = decisions
    request["state"] = (
        "carried out"
        if done
        else "rejected"
        if any(d["decision"] == "reject" for d in decisions)
        else f"stale ({later[0]['action']} of {request['model_name']} at "
        f"{later[0]['promoted_at']:%Y-%m-%d %H:%M:%S} after it was opened; open a new request)"
        if later
        else "open"
    )
    return request


SIGNED_REQUEST_FIELDS = (
    "request_id", "model_name", "training_run_id", "model_version", "request_kind",
    "requested_at", "comparison_sha256", "backfill_id", "predictions_sha256",
)  # fmt: skip


def request_text(request: dict) -> str:
    return signing.statement("request", {f: request.get(f) for f in SIGNED_REQUEST_FIELDS})


def signed_by(owners: Owners, text: str, signature: str | None, what: str) -> str:
    """Who signed `text` among the owners file's signers; PromotionError naming `what`."""
    try:
        return signing.signer(text, signature, owners.signers)
    except PromotionError as e:
        raise PromotionError(f"{what}: {e}") from None


def append_request(con: duckdb.DuckDBPyConnection, row: dict, key: Path) -> str:
    """Append a request row signed with `key` by a signer config/owners.yml lists; returns who."""
    text = request_text(row)
    signature = signing.sign(text, key)
    who = signed_by(owners_in_force(), text, signature, f"request {row['request_id']}")
    store.append(con, "promotion_requests", {**row, "requested_by": who, "signature": signature})
    return who
