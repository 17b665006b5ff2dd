"""`customer-ml backfill`: what the backfills under <warehouse>/backfills are and how they ended
(customer_ml.backfill; a backfill itself is a plain `dbt build --target backfill`).

Registered on `customer_ml.cli.main` when that module is imported.
"""

from __future__ import annotations

import json

import click

from customer_ml import backfill, config, records
from customer_ml.cli import main


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
