"""The operating views of `customer-ml`: status (what serves, open requests, the last
retraining decision) and decisions (every retraining decision with its reasons).

Registered on `customer_ml.cli.base.main` when this module is imported.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from customer_ml import config
from customer_ml.cli.base import (
    JSON,
    TARGET,
    WAREHOUSE,
    catalogued_model,
    main,
    no_warehouse,
    print_table,
    warehouse_file,
    warehouse_rw,
)


@main.command()
@TARGET
@WAREHOUSE
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status(target: str, warehouse: Path | None, as_json: bool) -> None:
    """Per model: what serves, since when, open requests, recent failures, and the last
    retraining decision (train, skip or suppressed) with its reasons and the next due date."""
    from customer_ml.governance import champions
    from customer_ml.pipeline import retraining_history

    con = warehouse_rw(target, warehouse)
    try:
        champions.check_registry_aliases(con)
        rows = [{**r, **retraining_history.status(con, r["model"])} for r in champions.status(con)]
    finally:
        con.close()
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        age = f", {row['age_days']} days" if row["age_days"] is not None else ""
        if row["serving"] is None:
            click.echo(
                f"{row['model']}: nothing serves yet (no clean production build has scored); "
                f"champion {row['champion']}"
            )
        elif row["serving"] == row["champion"]:
            click.echo(f"{row['model']}: serving {row['champion']}{age}")
        else:
            click.echo(
                f"{row['model']}: champion {row['champion']}{age}; the last build served "
                f"{row['served_by_last_build']}: the next build serves the champion"
            )
        if row["open_requests"]:
            click.echo(f"  open requests: {', '.join(row['open_requests'])}")
        for failure in row["recent_failures"]:
            click.echo(f"  {failure['status']} {failure['failed_at']}: {failure['error'][:120]}")
        decided = f" at {row['decided_at']:%Y-%m-%d %H:%M}" if row["decided_at"] else ""
        click.echo(
            f"  retraining: {row['retraining'] or 'no decision yet'}{decided}; "
            f"next due {row['next_due']}"
        )
        for reason in row["retraining_reasons"]:
            click.echo(f"    - {reason}")


@main.command()
@click.argument("model", required=False, callback=lambda c, p, v: v and catalogued_model(c, p, v))
@click.option(
    "--since", type=click.DateTime(formats=["%Y-%m-%d"]), help="decided on or after (YYYY-MM-DD)"
)
@TARGET
@WAREHOUSE
@JSON
def decisions(model: str | None, since, target: str, warehouse: Path | None, as_json: bool) -> None:
    """List the retraining decisions (train, skip, suppressed) of MODEL, or of every model,
    oldest first, with their reasons (and, with --json, the evidence they were taken on)."""
    from customer_ml.pipeline import retraining_history

    wh = warehouse_file(target, warehouse)
    if not wh.exists():
        no_warehouse(wh)
    con = config.connect(wh, read_only=True)
    try:
        rows = retraining_history.decisions(con, model, since.date() if since else None)
    finally:
        con.close()
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("no retraining decisions" + (f" for {model}" if model else "")
                   + (f" since {since:%Y-%m-%d}" if since else ""))  # fmt: skip
        return
    print_table(
        ["decided (UTC)", "model", "action", "data as_of", "reasons"],
        [
            [f"{r['decided_at']:%Y-%m-%d %H:%M}", r["model_name"],
             r["action"] + ("" if r["build_finished"] else " (build never finished)"),
             str(r["data_as_of"] or ""), "\n".join(r["reasons"])]
            for r in rows
        ],
    )  # fmt: skip
