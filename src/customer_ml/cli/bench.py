"""`customer-ml bench`: the benchmark harness (customer_ml.bench.harness) from the command line.

Registered on `customer_ml.cli.base.main` when that module is imported.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from customer_ml import config
from customer_ml.cli.base import fail, main


@main.command()
@click.option("--scale", type=click.Choice(list(config.SCALES)), default="tiny")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="work folder")
@click.option(
    "--pandas-customers",
    type=int,
    default=100_000,
    show_default=True,
    help="customers the pandas baseline runs on (its time is scaled linearly to all)",
)
@click.option("--exclude", multiple=True, help="dbt nodes the builds leave out (repeatable)")
@click.option(
    "--feast-python",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Python of Feast's own environment (make bench-feast-env): measures Feast too",
)
@click.option(
    "--only",
    type=click.Choice(["features", "backfills", "daily", "loader"]),
    help="only that step, on the warehouse a bench run built in OUT (writes OUT/<step>.md); "
    "loader: the loader's peak memory against file size, in warehouses of its own",
)
@click.option("--skip-backfills", is_flag=True, help="leave out the two backfills")
@click.option(
    "--curve",
    help="comma-separated scales (e.g. bench-200k,bench,bench-3m): the bench at each in "
    "OUT/<scale> (kept when measured already), then OUT/curve.md and OUT/curve.png",
)
@click.option("--json", "as_json", is_flag=True, help="print the files written as JSON")
def bench(
    scale: str,
    out: Path,
    pandas_customers: int,
    exclude: tuple[str, ...],
    feast_python: Path | None,
    only: str | None,
    skip_backfills: bool,
    curve: str | None,
    as_json: bool,
) -> None:
    """Measure generate, load, full and incremental dbt builds, the fixed cost of an
    invocation, one reproduction, point-in-time features three ways and backfills at SCALE;
    writes OUT/results.md and OUT/results.png (with --curve: the scaling curve)."""
    from customer_ml.bench import harness as harness

    try:
        if curve:
            from customer_ml.bench import curve as scaling

            scales = [s.strip() for s in curve.split(",") if s.strip()]
            unknown = [s for s in scales if s not in config.SCALES]
            if unknown or len(scales) < 2:
                fail(
                    f"--curve {curve!r}: give two or more of {', '.join(config.SCALES)}"
                    + (f" (unknown: {', '.join(unknown)})" if unknown else "")
                )
            written = scaling.run(
                scales, out, config.project_dir(), pandas_customers=pandas_customers,
                exclude=exclude, feast_python=feast_python, skip_backfills=skip_backfills,
            )  # fmt: skip
            click.echo(json.dumps({"results": str(written)}) if as_json else written.read_text())
            return
        if only:
            project = config.project_dir()
            if only != "loader" and not (out / "warehouse" / "dev.duckdb").is_file():
                fail(f"{out}/warehouse/dev.duckdb: no warehouse built by a bench run there")
            if only == "loader":
                from customer_ml.bench import loader as bench_loader

                lines = bench_loader.memory(out, project)
            elif only == "features":
                lines = harness.features_only(out, project, scale, pandas_customers, feast_python)
            elif only == "daily":
                from customer_ml.bench import daily as bench_daily

                lines = bench_daily.daily(out, project)
            else:
                lines = harness.backfill_lines(harness.backfills(out, project))
            results = out / f"{only}.md"
            results.write_text("\n".join(lines))
            click.echo(json.dumps({"results": str(results)}) if as_json else results.read_text())
            return
        results = harness.run(
            scale,
            out,
            config.project_dir(),
            pandas_customers=pandas_customers,
            exclude=exclude,
            feast_python=feast_python,
            skip_backfills=skip_backfills,
        )
    except RuntimeError as e:
        fail(str(e))
    if as_json:
        chart = results.with_suffix(".png")
        click.echo(json.dumps({"results": str(results), "chart": str(chart)}))
        return
    click.echo(results.read_text())
    click.echo(f"written: {results} and {results.with_suffix('.png')}")
