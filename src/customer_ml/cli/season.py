"""`customer-ml season`: a simulated year of operation (customer_ml.season), from an empty
warehouse of its own, with the expected-against-observed table on stdout, the report in
`<out>/report`, and exit status 0 only when every check passed.

Registered on `customer_ml.cli.base.main` when this module is imported.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from customer_ml import config
from customer_ml.cli.base import fail, main, steps


@main.command()
@click.option(
    "--weeks",
    type=click.IntRange(2, 52),
    default=52,
    show_default=True,
    help="52: the year and every scenario; fewer: a short season (a stale feed)",
)
@click.option("--scale", type=click.Choice(["tiny", "demo"]), default="tiny", show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("season-out"),
              show_default=True, help="its own folder: data, warehouse, MLflow store, report "
              "(emptied first)")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="the report's facts as JSON on stdout")
def season(weeks: int, scale: str, seed: int, out: Path, as_json: bool) -> None:
    """Operate a simulated year week by week on the project's clock (CUSTOMER_ML_NOW): loads,
    the scheduled builds, promotions through the approvers' signed commands, a cohort backfill,
    the verifications; drift, a concept shift, a stale feed, a bad load and a business event on
    their dates. Checks each scenario's expected reaction and the end-of-year guarantees."""
    from customer_ml.season import checks, report
    from customer_ml.season.operate import Season
    from customer_ml.season.year import year

    out = out.resolve()
    if (config.project_dir() / "warehouse") in (out, *out.parents):
        fail(f"--out {out}: a season has a folder of its own, never the project's warehouse")
    with steps(f"operating {weeks} simulated weeks") as progress:
        s = Season(year(weeks), out, scale, seed, progress)
        try:
            s.operate()
        except config.OperatorError as e:
            fail(str(e))
        progress("checking every scenario's reaction and writing the report")
        results = checks.scenario_checks(s) + checks.end_checks(s)
        facts = report.facts(s, results, checks.scoring_slope(s))
        page = report.write(s, facts)
        (out / "report" / "steps.json").write_text(json.dumps(s.steps_json(), indent=2))
    if as_json:
        click.echo(json.dumps(facts, indent=2, default=str))
    else:
        for c in results:
            mark = "pass" if c["passed"] else "FAIL"
            week = f"week {c['week']:>2}" if c["week"] else "       "
            click.echo(f"{mark}  {week}  {c['check']}: expected {c['expected']}")
            click.echo(f"                observed {c['observed']}")
        click.echo(f"report: {page}")
    if not facts["passed"]:
        fail(f"{sum(not c['passed'] for c in results)} of {len(results)} season checks failed")
