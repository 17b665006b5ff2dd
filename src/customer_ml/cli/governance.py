"""The promotion commands of `customer-ml`: compare, promote, approve, reject, rollback, rca.

Registered on `customer_ml.cli.base.main` when that module is imported; they open the warehouse for
writing (creating missing lineage tables from customer_ml.records.store) and refuse with one line.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from customer_ml import catalogue, config
from customer_ml.cli.base import (
    JSON,
    TARGET,
    WAREHOUSE,
    catalogued_model,
    fail,
    main,
    warehouse_file,
    warehouse_rw,
)
from customer_ml.records import lineage


def _verified(target: str, warehouse: Path | None) -> tuple[bool, str]:
    """verify-snapshots on the very warehouse the command acts on (the slow step: every live
    data snapshot's hash recomputed), shown as progress on stderr."""
    from customer_ml.cli.base import steps
    from customer_ml.governance import promotion

    wh = warehouse_file(target, warehouse)
    with steps("verifying data snapshots") as progress:
        progress(f"verifying every data snapshot of {wh} (verify-snapshots)")
        verified = promotion.verify_snapshots_gate(wh.stem, wh.parent)
        progress("data snapshots " + ("verified" if verified[0] else "NOT verified"))
    return verified


def _checked_first(target: str, warehouse: Path | None, check) -> None:
    """Run the cheap checks `check(con)` (the id exists, the person is listed, the signature
    verifies) before the slow snapshot verification: a refusal is one line, in seconds."""
    from customer_ml.governance.errors import PromotionError

    con = warehouse_rw(target, warehouse)
    try:
        check(con)
    except PromotionError as e:
        fail(str(e))
    finally:
        con.close()


def _promotion_action(target: str, warehouse: Path | None, action, as_json: bool = False) -> None:
    """Run `action(con)` on the warehouse opened for writing; it returns its message, or its
    message and the facts a script needs (printed as JSON with --json). A refusal is one line on
    stderr and exit status 1, with or without --json."""
    from customer_ml.governance.promotion import PromotionError

    con = warehouse_rw(target, warehouse)
    try:
        result = action(con)
    except PromotionError as e:
        fail(str(e))
    finally:
        con.close()
    message, facts = result if isinstance(result, tuple) else (result, {})
    click.echo(
        json.dumps({**facts, "message": message}, indent=2, default=str) if as_json else message
    )


def _request_facts(con, request_id: str) -> dict:
    """A request's state after an action, from the records: promoted or not, and how many
    predictions it published (a backfill's publish request)."""
    promoted = con.execute(
        "select training_run_id from lineage.promotions where request_id = ?", [request_id]
    ).fetchall()
    [(published,)] = con.execute(
        "select count(*) from lineage.published_predictions where request_id = ?", [request_id]
    ).fetchall()
    return {"request_id": request_id, "promoted": bool(promoted),
            "champion": promoted[0][0] if promoted else None,
            "published": published}  # fmt: skip


KEY = click.option(
    "--key",
    type=click.Path(path_type=Path),
    help="the SSH private key you sign with, whose public half config/owners.yml lists for you "
    "(default: $CUSTOMER_ML_SIGNING_KEY, else git config user.signingkey)",
)


def _key(key: Path | None) -> Path:
    from customer_ml.governance import signing
    from customer_ml.governance.errors import PromotionError

    try:
        return signing.key_path(key)
    except PromotionError as e:
        fail(str(e))


@main.command()
@click.argument("model", callback=catalogued_model)
@click.option("--challenger", required=True, help="the training run to compare")
@TARGET
@WAREHOUSE
@JSON
def compare(
    model: str, challenger: str, target: str, warehouse: Path | None, as_json: bool
) -> None:
    """Write the side-by-side report of MODEL's CHALLENGER run against what serves (the
    champion, or the rule baseline without one) on the same holdout (metrics, score
    distributions, decision changes, segment migration)."""
    from customer_ml.governance import compare as comparing

    def action(con):
        try:
            made = comparing.compare(con, lineage.warehouse_file(con), model, challenger)
        except comparing.CompareError as e:
            fail(f"compare: {e}")
        s = made.summary
        against = "rule baseline" if made.champion.startswith("baseline-") else "champion"
        lines = [f"{model}: challenger {made.challenger} vs {against} {made.champion}",
                 f"  verdict: {s['verdict']}", f"  {s['primary']}"]  # fmt: skip
        impact = s["impact"]
        if "moved" in impact:
            lines.append(f"  customers moved: {impact['moved']:,} of {impact['customers']:,}")
        if "flipped_up" in impact:
            lines.append(
                f"  decisions flipped at {impact['decision_threshold']}: "
                f"{impact['flipped_up']:,} up, {impact['flipped_down']:,} down"
            )
        lines.append(f"report: {made.path}")
        return "\n".join(lines), {"challenger": made.challenger, "champion": made.champion,
                                  "report": str(made.path), "summary": s}  # fmt: skip

    _promotion_action(target, warehouse, action, as_json)


@main.command()
@click.argument("model", callback=catalogued_model)
@click.option("--run", "training_run", required=True, help="the training run to promote")
@TARGET
@WAREHOUSE
@KEY
@JSON
def promote(
    model: str,
    training_run: str,
    target: str,
    warehouse: Path | None,
    key: Path | None,
    as_json: bool,
) -> None:
    """Check the gates and open a promotion request for MODEL's training run, signed with your
    key."""
    from customer_ml.governance import promotion

    signing_key = _key(key)
    _checked_first(
        target, warehouse, lambda con: promotion.check_requester(con, model, training_run,
                                                                 signing_key)
    )  # fmt: skip
    verified = _verified(target, warehouse)

    def action(con) -> str:
        request_id, checked = promotion.open_request(
            con, model, training_run, key=signing_key, snapshot_check=verified
        )
        lines = [f"  pass  {gate}: {detail}" for gate, _, detail in checked]
        roles = list(catalogue.entry(model).approver_roles)
        [(compared,)] = con.execute(
            "select comparison_path from lineage.promotion_requests where request_id = ?",
            [request_id],
        ).fetchall()
        comparison = (
            str(config.recorded_file(lineage.warehouse_file(con), compared)) if compared else None
        )
        message = "\n".join(
            [
                f"opened {request_id}: {model} {training_run}",
                *lines,
                f"compared with the champion: {comparison}"
                if comparison
                else "no champion to compare with (or the run was measured against an earlier one)",
                f"needs approval by: {', '.join(roles)}",
                f"next: each approver runs `customer-ml approve {request_id} --role ROLE` "
                "(people per role: config/owners.yml)",
            ]
        )
        return message, {
            "request_id": request_id,
            "model": model,
            "training_run_id": training_run,
            "gates": [{"gate": gate, "detail": detail} for gate, _, detail in checked],
            "comparison": comparison,
            "needs_approval_by": roles,
        }

    _promotion_action(target, warehouse, action, as_json)


@main.command()
@click.argument("request_id")
@click.option("--role", required=True, help="one of the approver_roles in config/models.yml")
@TARGET
@WAREHOUSE
@KEY
@JSON
def approve(
    request_id: str,
    role: str,
    target: str,
    warehouse: Path | None,
    key: Path | None,
    as_json: bool,
) -> None:
    """Approve a promotion request in ROLE, signed with your key (who you are is the signer
    config/owners.yml lists for it). Every gate is checked again, at approval and when the
    promotion is carried out."""
    from customer_ml.governance import promotion

    signing_key = _key(key)
    _checked_first(
        target, warehouse, lambda con: promotion.check_approval(con, request_id, role, signing_key)
    )
    verified = _verified(target, warehouse)

    def action(con):
        message = promotion.approve(con, request_id, role, key=signing_key, snapshot_check=verified)
        return message, {**_request_facts(con, request_id), "role": role}

    _promotion_action(target, warehouse, action, as_json)


@main.command()
@click.argument("request_id")
@click.option("--reason", required=True)
@TARGET
@WAREHOUSE
@KEY
@JSON
def reject(
    request_id: str,
    reason: str,
    target: str,
    warehouse: Path | None,
    key: Path | None,
    as_json: bool,
) -> None:
    """Reject a promotion request, signed with your key."""
    from customer_ml.governance import promotion

    signing_key = _key(key)

    def action(con):
        message = promotion.reject(con, request_id, reason, key=signing_key)
        return message, {"request_id": request_id, "rejected": True}

    _promotion_action(target, warehouse, action, as_json)


@main.command()
@click.argument("model", callback=catalogued_model)
@TARGET
@WAREHOUSE
@KEY
@JSON
def rollback(
    model: str, target: str, warehouse: Path | None, key: Path | None, as_json: bool
) -> None:
    """Open a request, signed with your key, to make MODEL's previous champion serve again
    (needs approvals)."""
    from customer_ml.governance import promotion

    signing_key = _key(key)
    verified = _verified(target, warehouse)

    def action(con):
        request_id = promotion.rollback(con, model, verified, key=signing_key)
        return f"opened {request_id}: rollback of {model}", {
            "request_id": request_id,
            "model": model,
        }

    _promotion_action(target, warehouse, action, as_json)


@main.command()
@click.argument("model", callback=catalogued_model)
@click.option("--note", required=True, help="the root cause of the repeated failures")
@TARGET
@WAREHOUSE
@KEY
@JSON
def rca(
    model: str, note: str, target: str, warehouse: Path | None, key: Path | None, as_json: bool
) -> None:
    """Record a root-cause note, signed with your key: lifts the suppression of MODEL's
    training."""
    from customer_ml.governance import promotion

    signing_key = _key(key)

    def action(con):
        return promotion.rca(con, model, note, key=signing_key), {"model": model, "noted": True}

    _promotion_action(target, warehouse, action, as_json)


if __name__ == "__main__":
    main()


@main.command("demo-champions")
@TARGET
@WAREHOUSE
@JSON
def demo_champions(target: str, warehouse: Path | None, as_json: bool) -> None:
    """The demo only (make run): promote each model's newest production run as the demo's people
    (config/demo_keys), through the same gates, request and signed approvals as anyone's.
    Refused unless config/owners.yml lists the demo keys."""
    from customer_ml.governance import demo

    verified = _verified(target, warehouse)

    def action(con):
        lines = demo.promote_all(con, verified)
        return "\n".join(lines), {"models": lines}

    _promotion_action(target, warehouse, action, as_json)
