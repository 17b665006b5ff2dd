"""The demo's champions (`customer-ml demo-champions`, run by `make run`): each model's newest
production training run promoted by the demo people through the same request and approvals as
anyone's (every gate, signatures by their keys, two people where two roles are needed, never the
requester alone). Refused unless the owners file in force lists the demo keys, which a real
owners file never does."""

from __future__ import annotations

from pathlib import Path

import duckdb

from customer_ml import catalogue, config
from customer_ml.governance import promotion
from customer_ml.governance.approvers import owners_in_force
from customer_ml.governance.errors import PromotionError
from customer_ml.records import store


def _check_demo_owners() -> None:
    signers = owners_in_force().signers
    people = {config.DEMO_REQUESTER, config.DEMO_APPROVERS["ml_owner"],
              *config.DEMO_APPROVERS["business_stakeholder"].values()}  # fmt: skip
    for person in sorted(people):
        public = Path(f"{config.demo_key(person)}.pub")
        listed = signers.get(person, "")
        if not public.is_file() or public.read_text().split()[1:2] != listed.split()[1:2]:
            raise PromotionError(
                f"demo-champions: config/owners.yml does not list {person}'s demo key: this is "
                "not the demo's owners file, and demo keys never act on a real one"
            )


def promote_all(con: duckdb.DuckDBPyConnection, snapshot_check: tuple[bool, str]) -> list[str]:
    """One line per model: promoted (request, approvers), already the champion, or why not."""
    _check_demo_owners()
    lines = []
    for model in catalogue.names():
        found = store.read(
            con,
            "select training_run_id from lineage.training_runs where model_name = ? and status "
            "= 'success' and run_type = 'production' and invocation_id in (select invocation_id"
            " from lineage.builds) order by started_at desc limit 1",
            [model],
        )
        champion = store.read(
            con, "select training_run_id from lineage.promotions where model_name = ? "
            "order by promoted_at desc limit 1", [model],
        )  # fmt: skip
        if not found:
            lines.append(f"{model}: no production training run to promote")
            continue
        run = found[0]["training_run_id"]
        if champion and champion[0]["training_run_id"] == run:
            lines.append(f"{model}: {run} is already the champion")
            continue
        try:
            request, _ = promotion.open_request(
                con, model, run, key=config.demo_key(config.DEMO_REQUESTER),
                snapshot_check=snapshot_check,
            )  # fmt: skip
            for role in catalogue.entry(model).approver_roles:
                who = config.demo_approver(role, model)
                promotion.approve(con, request, role, key=config.demo_key(who),
                                  snapshot_check=snapshot_check)  # fmt: skip
        except PromotionError as e:
            lines.append(f"{model}: {run} not promoted: {e}")
            continue
        lines.append(f"{model}: {run} is the champion (request {request}, signed by the demo's "
                     "people); it serves from the next build")  # fmt: skip
    return lines
