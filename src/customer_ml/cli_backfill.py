"""`customer-ml backfill`: what the backfills under <warehouse>/backfills are and how they ended
(customer_ml.backfill; a backfill itself is a plain `dbt build --target backfill`).

Registered on `customer_ml.cli.main` when that module is imported.
"""

from __future__ import annotations

import json

import click

from customer_ml import backfill, backfill_diff, config, records
from customer_ml.cli import _fail, main, steps


@main.group("backfill")
def backfill_group() -> None:
    """Backfills: dbt build --target backfill --selector backfill --vars '{backfill_id: ...}'."""


@backfill_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def list_backfills(as_json: bool) -> None:
    """Every backfill with its latest record: status, watermark, cohort, as_of range, rows."""
    folder = backfill.backfill_file("x").parent
    rows = []
    for path in sorted(folder.glob("*.duckdb")) if folder.is_dir() else []:
        if path.name.endswith(".analyst.duckdb"):
            continue
        con = config.connect(path, read_only=True)
        try:
            found = records.read(
                con,
                "select * from lineage.backfills order by recorded_at desc, "
                "status = 'started' limit 1",
            )
        except Exception:  # a file refused before its first record
            found = []
        finally:
            con.close()
        if found:
            row = found[0]
            rows.append({**row, "file": str(path), "cohort": json.loads(row["cohort_json"])})
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo(f"no backfills in {folder}")
    for row in rows:
        cohort = row["cohort"] or {}
        cohort = cohort.get("cohort") or cohort.get("cohort_file") or "all customers"
        click.echo(
            f"{row['backfill_id']}: {row['status']} at {row['recorded_at']:%Y-%m-%d %H:%M}, "
            f"watermark {row['watermark']}, as_of {row['as_of_start'] or 'default'}.."
            f"{row['as_of_end'] or 'default'}, cohort {cohort}, commit {row['git_commit'][:10]}"
        )


@backfill_group.command("diff")
@click.argument("backfill_id")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def diff_backfill(backfill_id: str, as_json: bool) -> None:
    """What BACKFILL_ID would change in production's features, labels and datasets, per relation
    and as_of, within its slice: rows only in the backfill are new or changed values, rows only
    in production are left out or their old values."""
    if not backfill.ID_PATTERN.fullmatch(backfill_id):
        raise config.OperatorError(f"{backfill_id!r} is not a backfill id")
    path = backfill.backfill_file(backfill_id)
    if not path.exists():
        raise config.OperatorError(f"no backfill {backfill_id} ({path} does not exist)")
    con = config.connect(path, read_only=True)
    try:
        found = backfill_diff.diff(con)
    finally:
        con.close()
    report = backfill_diff.write_report(path, backfill_id, found)
    if as_json:
        click.echo(json.dumps({**found, "report": str(report)}, indent=2, default=str))
        return
    rows = found["relations"]
    changed = [r for r in rows if r["only_backfill"] or r["only_production"]]
    click.echo(f"{'relation':<34} {'as_of':<10} {'backfill':>9} {'production':>10} "
               f"{'only in backfill':>16} {'only in production':>18}")  # fmt: skip
    for r in rows:
        click.echo(
            f"{r['relation']:<34} {str(r['as_of'] or '-'):<10} {r['backfill']:>9} "
            f"{r['production']:>10} {r['only_backfill']:>16} {r['only_production']:>18}"
        )
    click.echo(f"{'model':<9} {'as_of':<10} {'customers':>9} {'changed':>8} "
               f"{'mean change':>12} {'largest':>9}  decisions crossing")  # fmt: skip
    for p in found["predictions"]:
        if p.get("note"):
            click.echo(f"{p['model']:<9} {p['as_of']!s:<10} {p['customers']:>9}  {p['note']}")
            continue
        crossing = f"{p['crossed_up']} up, {p['crossed_down']} down" if "crossed_up" in p else "-"
        click.echo(
            f"{p['model']:<9} {p['as_of']!s:<10} {p['customers']:>9} {p['changed']:>8} "
            f"{p['mean_change'] or 0:>12.4f} {p['largest_change'] or 0:>9.4f}  {crossing}"
        )
    click.echo(f"report: {report}")
    click.echo(
        f"{len(changed)} of {len(rows)} relation/as_of slices differ from production"
        if changed
        else f"no differences from production in {len(rows)} relation/as_of slices"
    )


@backfill_group.command("publish")
@click.argument("backfill_id")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def publish_backfill(backfill_id: str, as_json: bool) -> None:
    """Open the requests that publish BACKFILL_ID's rescored past predictions into production:
    one per model whose predictions it changes, carried out when the model's approver roles
    have approved (customer-ml approve REQUEST --role ROLE), as a promotion is. The originals
    are kept; serving shows the published rows from the next build."""
    from customer_ml import backfill_publish
    from customer_ml.promotion import PromotionError

    try:
        backfill_publish.succeeded(backfill_id)  # refused before any progress is shown
        with steps("rescoring past predictions") as progress:
            progress(f"scoring production's past predictions again on backfill {backfill_id}")
            prepared = backfill_publish.prepare(backfill_id)
            progress(f"{sum(len(r) for r in prepared.rows.values())} predictions change")
        con = config.connect(prepared.production)
        try:
            records.create_all(con)
            opened = backfill_publish.open_requests(con, prepared)
        finally:
            con.close()
    except PromotionError as e:
        _fail(str(e))
    if as_json:
        click.echo(json.dumps({"requests": opened, "report": str(prepared.report)}, indent=2))
        return
    for r in opened:
        click.echo(
            f"{r['model']}: request {r['request_id']} publishes {r['predictions']} rescored "
            f"predictions (as_of {', '.join(r['as_of'])}); approve with: customer-ml approve "
            f"{r['request_id']} --role ROLE ({', '.join(r['roles'])})"
        )
    click.echo(f"report: {prepared.report}")
