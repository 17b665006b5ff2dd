"""The `customer-ml` command: generate demo data, load files into the warehouse, show results.

Errors are one line on stderr naming what, where and why, with exit status 1; success is 0.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from customer_ml import config


def _fail(message: str) -> None:
    click.echo(f"customer-ml: {message}", err=True)
    sys.exit(1)


@click.group()
def main() -> None:
    """Reproducible customer ML on a dbt + DuckDB warehouse."""


@main.command()
@click.option("--scale", type=click.Choice(["tiny", "demo", "bench"]), default="demo")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="output folder")
def generate(scale: str, seed: int, out: Path) -> None:
    """Write a synthetic warehouse (Parquet files) for SCALE; same seed, same bytes."""
    from rich.progress import Progress

    from customer_ml.generate import generate as run

    with Progress(transient=True) as progress:
        task = progress.add_task(f"generating {scale}", total=None)

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        counts = run(scale, seed, out, progress=step)
    for table, n in counts.items():
        click.echo(f"{out / (table + '.parquet')}: {n} rows")


@main.command()
@click.option("--orders", type=click.Path(path_type=Path), required=True)
@click.option("--customers", type=click.Path(path_type=Path))
@click.option("--events", type=click.Path(path_type=Path), help="engagement events")
@click.option("--business-events", type=click.Path(path_type=Path))
@click.option("--target", type=click.Choice(config.TARGETS), default="dev", show_default=True)
@click.option("--warehouse", type=click.Path(path_type=Path), help="overrides --target's file")
def load(
    orders: Path,
    customers: Path | None,
    events: Path | None,
    business_events: Path | None,
    target: str,
    warehouse: Path | None,
) -> None:
    """Append CSV or Parquet files to the warehouse's raw schema as one batch each."""
    from customer_ml.load import LoadError
    from customer_ml.load import load as run

    files = {"orders": orders}
    for table, path in (
        ("customers", customers),
        ("engagement_events", events),
        ("business_events", business_events),
    ):
        if path is not None:
            files[table] = path
    wh = warehouse or config.warehouse_path(target)
    try:
        outcome = run(wh, files)
    except LoadError as e:
        _fail(str(e))
    for table, what in outcome.items():
        click.echo(f"raw.{table}: {what}")
    click.echo(f"warehouse: {wh}")


@main.command()
@click.option("--target", type=click.Choice(config.TARGETS), default="dev", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def where(target: str, as_json: bool) -> None:
    """Print where the warehouse, the MLflow store and the served predictions are."""
    import duckdb

    wh = config.warehouse_path(target)
    if not wh.exists():
        _fail(f"{wh}: no warehouse yet; run `make run` first")
    con = duckdb.connect(str(wh), read_only=True)
    try:
        served = con.execute(
            "select model_kind, count(*) from serving.fct_customer_scores group by 1 order by 1"
        ).fetchall()
        builds = con.execute("select count(*) from lineage.builds").fetchall()[0][0]
    except duckdb.Error as e:
        _fail(f"{wh}: not built yet ({str(e).splitlines()[0]}); run `make run`")
    finally:
        con.close()
    info = {
        "warehouse": str(wh),
        "mlflow_tracking_uri": config.tracking_uri(wh),
        "mlflow_artifacts": str(config.artifact_root(wh)),
        "served_predictions": "serving.fct_customer_scores",
        "served_rows": {kind: n for kind, n in served},
        "lineage_tables": "lineage.builds, lineage.data_snapshots, lineage.training_runs, "
        "lineage.predictions",
        "builds_recorded": builds,
    }
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"warehouse           {info['warehouse']}")
    click.echo(f"MLflow store        {info['mlflow_tracking_uri']}  (make ui)")
    click.echo(f"MLflow artifacts    {info['mlflow_artifacts']}")
    rows = ", ".join(f"{n} {kind}" for kind, n in served) or "none"
    click.echo(f"served predictions  {info['served_predictions']} ({rows})")
    click.echo(f"lineage             {info['lineage_tables']} ({builds} builds)")
    click.echo(
        f'query it            .venv/bin/python -c "import duckdb; print(duckdb.connect('
        f"'{wh}', read_only=True).sql('select * from serving.fct_customer_scores limit 5'))\""
    )


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


if __name__ == "__main__":
    main()
