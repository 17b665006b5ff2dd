"""The record-checking commands of `customer-ml`: verify-snapshots, verify-lineage, adopt-lineage.

Registered on `customer_ml.cli.main` when that module is imported.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from customer_ml import config
from customer_ml.cli import _fail, main


@main.command("verify-snapshots")
@click.option("--target", type=click.Choice(config.TARGETS), default="dev", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def verify_snapshots(target: str, as_json: bool) -> None:
    """Recompute the hash of every live data snapshot; fail naming any whose history changed."""
    from customer_ml import dbt_runner

    status, lines = dbt_runner.run("run-operation", "verify_data_snapshots", "--target", target)
    altered = [line.split("ALTERED ", 1)[1] for line in lines if "ALTERED snapshot" in line]
    verified = [line for line in lines if line.startswith("verified:")]
    if as_json:
        click.echo(json.dumps({"ok": status == 0, "altered": altered}, indent=2))
    else:
        for line in altered:
            click.echo(f"ALTERED {line}")
        for line in verified:
            click.echo(line)
    if status != 0:
        if not altered:
            errors = [line for line in lines if "rror" in line][-2:]
            _fail(f"verify-snapshots on target {target} failed: {' / '.join(errors) or lines[-1:]}")
        _fail(f"{len(altered)} data snapshot(s) altered on target {target}")


@main.command("verify-lineage")
@click.option("--target", type=click.Choice(config.TARGETS), default="dev", show_default=True)
@click.option("--warehouse", type=click.Path(path_type=Path), help="overrides --target's file")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def verify_lineage(target: str, warehouse: Path | None, as_json: bool) -> None:
    """Check the hash chain over every lineage record: name the first row altered, deleted or
    inserted per table, and rows never sealed (by hand, or by a build that never finished)."""
    from customer_ml import chain, registry, tracking

    wh = warehouse or config.warehouse_path(target)
    if not wh.exists():
        _fail(f"{wh}: no warehouse yet; run `make run` first")
    anchors = tracking.chain_anchors(wh)
    con = config.connect(wh, read_only=True)
    try:
        problems = chain.verify(con) + chain.check_anchors(con, anchors)
        killed = chain.killed_builds(con)
        known = registry.training_run_ids(con)
        [(seals, rows)] = con.execute(
            "select count(*), coalesce(sum(n_rows), 0) from lineage.seals"
        ).fetchall()
    finally:
        con.close()
    orphans = registry.orphan_artifacts(wh, known)
    orphan_runs = tracking.orphan_training_runs(wh, known)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": not problems,
                    "problems": problems,
                    "unfinished_builds": [
                        {"invocation_id": i, "table": t, "rows": n} for i, t, n in killed
                    ],
                    "orphan_artifacts": [str(p) for p in orphans],
                    "orphan_mlflow_runs": orphan_runs,
                },
                indent=2,
            )
        )
    else:
        for invocation, table, n in killed:
            click.echo(
                f"UNFINISHED build {invocation} (killed, or running now): {n} row(s) in {table}, "
                "never served or promotable"
            )
        for folder in orphans:
            click.echo(
                f"ORPHAN artifact folder {folder}: no training run records it (left by a killed "
                "build), never read"
            )
        for run in orphan_runs:
            click.echo(
                f"ORPHAN MLflow run {run}: no training run records it (left by a killed build)"
            )
        for problem in problems:
            click.echo(f"BROKEN {problem}")
    if problems:
        _fail(f"{len(problems)} lineage chain problem(s) in {wh}")
    if not as_json:
        unfinished = len({i for i, _, _ in killed})
        click.echo(
            f"lineage verified: {seals} seals over {rows} rows, nothing unsealed"
            + (f" but the rows of {unfinished} unfinished build(s)" if unfinished else "")
            + (f"; {len(orphans)} orphan artifact folder(s)" if orphans else "")
            + (f"; {len(orphan_runs)} orphan MLflow run(s)" if orphan_runs else "")
        )


@main.command("adopt-lineage")
@click.option("--target", type=click.Choice(config.TARGETS), default="dev", show_default=True)
@click.option("--warehouse", type=click.Path(path_type=Path), help="overrides --target's file")
def adopt_lineage(target: str, warehouse: Path | None) -> None:
    """Seal every lineage row not yet sealed, as vouched for by you: once, for a warehouse made
    before the hash chain existed. Run verify-lineage first and read what it names."""
    from customer_ml import chain, promotion

    wh = warehouse or config.warehouse_path(target)
    if not wh.exists():
        _fail(f"{wh}: no warehouse yet; run `make run` first")
    con = config.connect(wh)
    try:
        n = chain.adopt(con, promotion.identity())
    finally:
        con.close()
    click.echo(f"sealed {n} rows as adopted by {promotion.identity()}")
