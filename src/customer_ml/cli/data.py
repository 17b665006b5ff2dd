"""The data commands of `customer-ml`: generate demo data, load a user's files into the
warehouse's raw schema, and say where a target's warehouse, records and MLflow store are."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import click

from customer_ml import config
from customer_ml.cli.base import fail, main, no_warehouse, quiet


@main.command()
@click.option("--scale", type=click.Choice(list(config.SCALES)), default="demo")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="output folder")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def generate(scale: str, seed: int, out: Path, as_json: bool) -> None:
    """Write a synthetic warehouse (Parquet files) for SCALE; same seed, same bytes."""
    from rich.progress import Progress

    from customer_ml.data.generate import generate as run

    with Progress(transient=True, disable=as_json) as progress:
        task = progress.add_task(f"generating {scale}", total=None)

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        counts = run(scale, seed, out, progress=step)
    files = {
        table: {"path": str(out / f"{table}.parquet"), "rows": n} for table, n in counts.items()
    }
    if as_json:
        click.echo(json.dumps({"scale": scale, "seed": seed, "files": files}, indent=2))
        return
    for file in files.values():
        click.echo(f"{file['path']}: {file['rows']} rows")


@main.command()
@click.option("--orders", type=click.Path(path_type=Path))
@click.option("--customers", type=click.Path(path_type=Path))
@click.option("--events", type=click.Path(path_type=Path), help="engagement events")
@click.option("--business-events", type=click.Path(path_type=Path))
@click.option("--target", type=click.Choice(config.TARGETS), default="dev", show_default=True)
@click.option("--warehouse", type=click.Path(path_type=Path), help="overrides --target's file")
@click.option(
    "--max-amount",
    type=click.FloatRange(min=0),
    help="an order amount above this is refused as absurd [default: var max_amount]",
)
@click.option(
    "--future-tolerance-hours",
    type=click.FloatRange(min=0),
    help="a time later than the load by more than this is refused [default: var "
    "future_tolerance_hours]",
)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def load(
    orders: Path | None,
    customers: Path | None,
    events: Path | None,
    business_events: Path | None,
    target: str,
    warehouse: Path | None,
    max_amount: float | None,
    future_tolerance_hours: float | None,
    as_json: bool,
) -> None:
    """Append CSV or Parquet files to the warehouse's raw schema as one batch each (any of
    them: a feed may deliver customers or events in a week without orders).

    Times are UTC: an offset is honoured, a time without one is taken as UTC."""
    from customer_ml.data.load import Limits, LoadError
    from customer_ml.data.load import load as run

    files = {}
    for table, path in (
        ("orders", orders),
        ("customers", customers),
        ("engagement_events", events),
        ("business_events", business_events),
    ):
        if path is not None:
            files[table] = path
    wh = warehouse or config.warehouse_path(target)
    try:
        limits = Limits.from_project()
        limits = dataclasses.replace(
            limits,
            max_amount=limits.max_amount if max_amount is None else max_amount,
            future_tolerance=limits.future_tolerance
            if future_tolerance_hours is None
            else timedelta(hours=future_tolerance_hours),
        )
        from contextlib import nullcontext

        from rich.console import Console

        shown = nullcontext() if as_json else Console(stderr=True, quiet=quiet()).status("loading")
        with shown as status:
            outcome = run(wh, files, limits=limits, progress=status and status.update)
    except LoadError as e:
        fail(str(e))
    if as_json:
        tables = {f"raw.{table}": what for table, what in outcome.items()}
        click.echo(json.dumps({"warehouse": str(wh), "tables": tables}, indent=2))
        return
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
    copy = config.analyst_copy_path(wh)
    if not wh.exists():
        no_warehouse(wh)
    if not copy.exists():
        fail(f"{copy}: no analyst copy yet (each successful build publishes it); run `make run`")
    # The analyst copy, never the warehouse: reading it cannot block a build.
    con = config.connect(copy, read_only=True)
    try:
        served = con.execute(
            "select model_kind, count(*) from serving.fct_customer_scores group by 1 order by 1"
        ).fetchall()
        builds = con.execute("select count(*) from lineage.builds").fetchall()[0][0]
    except duckdb.Error as e:
        fail(f"{copy}: not readable ({str(e).splitlines()[0]}); run `make run`")
    finally:
        con.close()
    info = {
        "warehouse": str(wh),
        "analyst_copy": str(copy),
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
    click.echo(f"warehouse           {info['warehouse']}  (builds and loads write here)")
    click.echo(f"analyst copy        {copy}  (read this: published after each successful build)")
    click.echo(f"MLflow store        {info['mlflow_tracking_uri']}  (make ui)")
    click.echo(f"MLflow artifacts    {info['mlflow_artifacts']}")
    rows = ", ".join(f"{n} {kind}" for kind, n in served) or "none"
    click.echo(f"served predictions  {info['served_predictions']} ({rows})")
    click.echo(f"lineage             {info['lineage_tables']} ({builds} builds)")
    click.echo(
        f'query it            .venv/bin/python -c "import duckdb; print(duckdb.connect('
        f"'{copy}', read_only=True).sql('select * from serving.fct_customer_scores limit 5'))\""
    )
