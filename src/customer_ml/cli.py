"""The `customer-ml` command: generate demo data, load files into the warehouse, show results.

Errors are one line on stderr naming what, where and why, with exit status 1; success is 0.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import click

from customer_ml import config


def _fail(message: str) -> None:
    """One line on stderr and exit status 1; with --json, also {"error": ...} on stdout, so a
    script reading stdout gets JSON whatever happened."""
    click.echo(f"customer-ml: {message}", err=True)
    if _wants_json():
        click.echo(json.dumps({"error": message}))
    sys.exit(1)


def _wants_json() -> bool:
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if ctx.params.get("as_json"):
            return True
        ctx = ctx.parent
    return "--json" in sys.argv[1:]


@contextmanager
def steps(label: str) -> Iterator[Callable[[str], None]]:
    """Progress of a long operation on stderr (stdout stays for results and --json): each step
    as a timestamped line, and a spinner on a terminal; yields `progress(step)`."""
    from rich.console import Console

    console = Console(stderr=True, log_path=False)
    with console.status(label) as status:

        def progress(step: str) -> None:
            console.log(step)
            status.update(step)

        yield progress


class OneLineErrors(click.Group):
    """Every error is one line on stderr, never a traceback (CUSTOMER_ML_DEBUG=1 shows it)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except config.OperatorError as e:
            _fail(str(e))
        except Exception as e:
            if os.environ.get("CUSTOMER_ML_DEBUG"):
                raise
            first = (str(e).strip().splitlines() or [""])[0]
            _fail(f"{type(e).__name__}: {first} (CUSTOMER_ML_DEBUG=1 shows the traceback)")


@click.group(cls=OneLineErrors)
@click.version_option(
    package_name="customer-ml", prog_name="customer-ml", message="%(prog)s %(version)s"
)
def main() -> None:
    """Reproducible customer ML on a dbt + DuckDB warehouse."""


@main.command()
@click.option("--scale", type=click.Choice(["tiny", "demo", "bench"]), default="demo")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="output folder")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def generate(scale: str, seed: int, out: Path, as_json: bool) -> None:
    """Write a synthetic warehouse (Parquet files) for SCALE; same seed, same bytes."""
    from rich.progress import Progress

    from customer_ml.generate import generate as run

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
@click.option("--orders", type=click.Path(path_type=Path), required=True)
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
    orders: Path,
    customers: Path | None,
    events: Path | None,
    business_events: Path | None,
    target: str,
    warehouse: Path | None,
    max_amount: float | None,
    future_tolerance_hours: float | None,
    as_json: bool,
) -> None:
    """Append CSV or Parquet files to the warehouse's raw schema as one batch each.

    Times are UTC: an offset is honoured, a time without one is taken as UTC."""
    from customer_ml.load import Limits, LoadError
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
        limits = Limits.from_project()
        limits = Limits(
            limits.max_amount if max_amount is None else max_amount,
            limits.future_tolerance
            if future_tolerance_hours is None
            else timedelta(hours=future_tolerance_hours),
        )
        from contextlib import nullcontext

        from rich.console import Console

        shown = nullcontext() if as_json else Console(stderr=True).status("loading")
        with shown as status:
            outcome = run(wh, files, limits=limits, progress=status and status.update)
    except LoadError as e:
        _fail(str(e))
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
        _fail(f"{wh}: no warehouse yet; run `make run` first")
    if not copy.exists():
        _fail(f"{copy}: no analyst copy yet (each successful build publishes it); run `make run`")
    # The analyst copy, never the warehouse: reading it cannot block a build.
    con = config.connect(copy, read_only=True)
    try:
        served = con.execute(
            "select model_kind, count(*) from serving.fct_customer_scores group by 1 order by 1"
        ).fetchall()
        builds = con.execute("select count(*) from lineage.builds").fetchall()[0][0]
    except duckdb.Error as e:
        _fail(f"{copy}: not readable ({str(e).splitlines()[0]}); run `make run`")
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


@main.command()
@click.option("--prediction-id", help="a prediction in lineage.predictions")
@click.option("--training-run", help="a training run in lineage.training_runs")
@click.option("--target", type=click.Choice(config.TARGETS), default="dev", show_default=True)
@click.option("--warehouse", type=click.Path(path_type=Path), help="overrides --target's file")
@click.option("--json", "as_json", is_flag=True, help="machine-readable report")
@click.option("--keep", is_flag=True, help="keep the working copy and rebuilt warehouse")
def reproduce(
    prediction_id: str | None,
    training_run: str | None,
    target: str,
    warehouse: Path | None,
    as_json: bool,
    keep: bool,
) -> None:
    """Recreate a prediction or a training run from its records and compare, bit for bit.

    Exit status 0 only when everything matches exactly.
    """
    import tempfile

    from customer_ml import reproduce as rep

    if bool(prediction_id) == bool(training_run):
        _fail("reproduce: give exactly one of --prediction-id and --training-run")
    wh = warehouse or config.warehouse_path(target)
    workdir = Path(tempfile.mkdtemp(prefix="customer-ml-reproduce-"))
    try:
        with steps("reproducing") as progress:
            if training_run:
                report, _ = rep.reproduce_training_run(
                    wh, training_run, progress=progress, workdir=workdir
                )
            else:
                report = rep.reproduce_prediction(
                    wh, prediction_id, progress=progress, workdir=workdir
                )
    except rep.ReproduceError as e:
        _fail(f"reproduce: {e}")
    finally:
        if keep:
            click.echo(f"kept {workdir}", err=True)
        else:
            rep.cleanup(workdir)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        click.echo(f"{report.subject}")
        for check in report.checks:
            mark = "match   " if check.matches else "MISMATCH"
            click.echo(f"  {mark} {check.name}")
            click.echo(f"           recorded:   {check.recorded}")
            if not check.matches:
                click.echo(f"           reproduced: {check.reproduced}")
        for note in report.notes:
            click.echo(f"  note: {note}")
        click.echo(f"verdict: {'match' if report.matches else 'MISMATCH'}")
    sys.exit(0 if report.matches else 1)


@main.command("lineage")
@click.argument("prediction_id")
@click.option("--target", type=click.Choice(config.TARGETS), default="dev", show_default=True)
@click.option("--warehouse", type=click.Path(path_type=Path), help="overrides --target's file")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def lineage_command(prediction_id: str, target: str, warehouse: Path | None, as_json: bool) -> None:
    """The full chain of a prediction: build, model, training run, data, versions, commit."""
    from customer_ml import provenance
    from customer_ml.replay import ReproduceError

    wh = warehouse or config.warehouse_path(target)
    try:
        chain = provenance.lineage_chain(wh, prediction_id)
    except ReproduceError as e:
        _fail(f"lineage: {e}")
    if as_json:
        click.echo(json.dumps(chain, indent=2, default=str))
        return
    from rich.console import Console
    from rich.tree import Tree

    p = chain["prediction"]
    tree = Tree(
        f"prediction {p['prediction_id']}: {p['model_name']} score {p['score']} for customer "
        f"{p['customer_id']} at {p['as_of']} ({p['model_kind']})"
    )
    b = chain["scoring_build"]
    if b.get("target_name") is None:  # no lineage.builds row: the build never finished
        build = tree.add(
            f"scoring build {p['invocation_id']} NEVER FINISHED (killed?): this prediction was "
            "never served and cannot be promoted or reproduced as a served one"
        )
    else:
        build = tree.add(
            f"scoring build {b.get('invocation_id')} on target {b.get('target_name')} at "
            f"commit {b.get('git_commit')}{' (dirty)' if b.get('is_dirty') else ''}"
        )
    build.add(f"scoring input: snapshot {p['snapshot_id']} ({chain['scoring_input']})")
    model = build.add(f"model version {p['model_version']}")
    t = chain.get("training_run")
    if t:
        run = model.add(
            f"training run {t['training_run_id']} ({t['run_type']}) at commit {t['git_commit']}"
            f"{' (dirty)' if t['is_dirty'] else ''}, artifact sha256 {t['artifact_sha256']}"
        )
        run.add(
            f"features v{t['feature_version']} (definition {t['feature_definition_hash']}), "
            f"labels v{t['label_version']} (definition {t['label_definition_hash']})"
        )
        data = run.add("data snapshots")
        for s in chain["training_snapshots"]:
            data.add(
                f"{s['relation_name']}: {s['snapshot_id']}, {s['row_count']} rows, "
                f"watermark {s['watermark']}"
            )
    else:
        model.add(f"rule baseline {p['training_run_id']} (no training; version = code hash)")
    Console().print(tree)


# The promotion commands (promote, approve, reject, rollback, rca, status) live in their own
# module; importing it registers them on `main`.
from customer_ml import cli_backfill, cli_bench, cli_promotion, cli_records  # noqa: E402, F401
