"""The record commands of `customer-ml`: verify-snapshots, verify-lineage, adopt-lineage, and
the ones that list training runs and find their reports (runs, report).

Registered on `customer_ml.cli.base.main` when that module is imported.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from customer_ml import config
from customer_ml.cli.base import fail, main, no_warehouse, print_table


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
            fail(f"verify-snapshots on target {target} failed: {' / '.join(errors) or lines[-1:]}")
        fail(f"{len(altered)} data snapshot(s) altered on target {target}")


@main.command("verify-lineage")
@click.option("--target", type=click.Choice(config.TARGETS), default="dev", show_default=True)
@click.option("--warehouse", type=click.Path(path_type=Path), help="overrides --target's file")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def verify_lineage(target: str, warehouse: Path | None, as_json: bool) -> None:
    """Check the hash chain over every lineage record: name the first row altered, deleted or
    inserted per table, and rows never sealed (by hand, or by a build that never finished)."""
    from customer_ml.records import chain, registry, tracking

    wh = warehouse or config.warehouse_path(target)
    if not wh.exists():
        no_warehouse(wh)
    anchors = tracking.chain_anchors(wh)
    con = config.connect(wh, read_only=True)
    try:
        interrupted = chain.interrupted_seals(con, {i for i, _ in anchors})
        problems = chain.verify(con, interrupted=interrupted) + chain.check_anchors(con, anchors)
        killed = chain.killed_builds(con)
        unsealed = chain.killed_builds(con, interrupted) if interrupted else []
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
                    "interrupted_seals": [
                        {"invocation_id": i, "table": t, "rows": n} for i, t, n in unsealed
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
        for invocation, table, n in unsealed:
            click.echo(
                f"UNSEALED build {invocation} finished but was stopped while sealing: {n} row(s) "
                f"in {table}; the next build seals them"
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
        fail(f"{len(problems)} lineage chain problem(s) in {wh}")
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
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def adopt_lineage(target: str, warehouse: Path | None, as_json: bool) -> None:
    """Seal every lineage row not yet sealed, as vouched for by you: once, for a warehouse made
    before the hash chain existed. Run verify-lineage first and read what it names."""
    from customer_ml.governance import promotion
    from customer_ml.records import chain

    wh = warehouse or config.warehouse_path(target)
    if not wh.exists():
        no_warehouse(wh)
    con = config.connect(wh)
    try:
        n = chain.adopt(con, promotion.identity())
    finally:
        con.close()
    if as_json:
        click.echo(json.dumps({"sealed_rows": n, "adopted_by": promotion.identity()}))
        return
    click.echo(f"sealed {n} rows as adopted by {promotion.identity()}")


def _training_runs(target: str, warehouse: Path | None, where: str = "true", params=()):
    """Training runs (lineage.training_runs), newest first, read-only (waits for a build's
    lock like every command)."""
    from customer_ml.records import store

    wh = warehouse or config.warehouse_path(target)
    if not wh.exists():
        no_warehouse(wh)
    from customer_ml.records.chain import columns_of

    con = config.connect(wh, read_only=True)
    try:
        if not columns_of(con, "lineage.training_runs"):  # the view a build creates: none yet
            return wh, []
        return wh, store.read(
            con,
            "select training_run_id, model_name, model_version, run_type, status, started_at, "
            "metrics_json, no_regression, no_regression_json, report_path, report_sha256 "
            f"from lineage.training_runs where {where} order by started_at desc",
            list(params),
        )
    finally:
        con.close()


@main.command("runs")
@click.option("--model", help="only this model's runs")
@click.option("--status", help="only runs with this status (success, ...)")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--target", type=click.Choice(config.TARGETS), default="dev", show_default=True)
@click.option("--warehouse", type=click.Path(path_type=Path), help="overrides --target's file")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def runs(
    model: str | None,
    status: str | None,
    limit: int,
    target: str,
    warehouse: Path | None,
    as_json: bool,
) -> None:
    """Training runs, newest first: status, the primary metric of candidate and baseline, and
    whether the promotion gates would pass (no regression)."""
    from customer_ml import catalogue

    if model is not None and model not in catalogue.names():
        fail(f"runs: unknown model {model!r}; the catalogue lists {', '.join(catalogue.names())}")
    where, params = ["true"], []
    for column, value in (("model_name", model), ("status", status)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    _, found = _training_runs(target, warehouse, " and ".join(where), params)
    rows = []
    for run in found[:limit]:
        metric = catalogue.entry(run["model_name"]).primary_metric
        metrics = json.loads(run["metrics_json"] or "{}")
        rows.append(
            {
                "training_run_id": run["training_run_id"],
                "model": run["model_name"],
                "status": run["status"],
                "run_type": run["run_type"],
                "started_at": str(run["started_at"]),
                "primary_metric": metric,
                "candidate": (metrics.get("candidate") or {}).get(metric),
                "baseline": (metrics.get("baseline") or {}).get(metric),
                "gates_pass": run["no_regression"],
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("no training runs recorded" + (" that match" if model or status else ""))
        return
    lines = []
    for r in rows:
        measured = isinstance(r["candidate"], float) and isinstance(r["baseline"], float)
        lines.append([
            r["training_run_id"], r["model"], r["status"], r["started_at"][:19],
            r["primary_metric"],
            f"{r['candidate']:.4f}" if measured else "not measured",
            f"{r['baseline']:.4f}" if measured else "",
            {True: "pass", False: "fail", None: "not run"}[r["gates_pass"]],
        ])  # fmt: skip
    print_table(["training run", "model", "status", "started (UTC)", "primary metric",
                 "candidate", "rule baseline", "gates"], lines)  # fmt: skip


@main.command("report")
@click.argument("training_run_id")
@click.option("--open", "open_it", is_flag=True, help="open it in the default browser")
@click.option("--target", type=click.Choice(config.TARGETS), default="dev", show_default=True)
@click.option("--warehouse", type=click.Path(path_type=Path), help="overrides --target's file")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def report(
    training_run_id: str, open_it: bool, target: str, warehouse: Path | None, as_json: bool
) -> None:
    """The validation report of a training run: its path (sha256 checked), or --open."""
    import hashlib

    wh, found = _training_runs(target, warehouse, "training_run_id = ?", [training_run_id])
    if not found:
        fail(f"report: no training run {training_run_id!r} (customer-ml runs lists them)")
    run = found[0]
    if not run["report_path"]:
        fail(f"report: training run {training_run_id} has no report (status {run['status']})")
    path = config.recorded_file(wh, run["report_path"])
    if not path.is_file():
        fail(f"report: {path} is missing")
    if hashlib.sha256(path.read_bytes()).hexdigest() != run["report_sha256"]:
        fail(f"report: {path} differs from what training run {training_run_id} recorded")
    if as_json:
        click.echo(json.dumps({"training_run_id": training_run_id, "path": str(path)}))
    else:
        click.echo(str(path))
    if open_it:
        import webbrowser

        webbrowser.open(path.as_uri())


FIGURES_BEGIN = "<!-- figures: customer-ml figures -->"
FIGURES_END = "<!-- /figures -->"


def _figures_table(found: list[dict]) -> str:
    """The latest successful production run of each model: its primary metric for candidate
    and rule baseline on the same holdout, and the promotion gates' verdict, as Markdown."""
    from customer_ml import catalogue

    lines = [
        "| model | primary metric | candidate | rule baseline | gates |",
        "|---|---|---|---|---|",
    ]
    for name in catalogue.names():
        entry = catalogue.entry(name)
        runs_of = [r for r in found if r["model_name"] == name]
        if not runs_of:
            lines.append(f"| {name} | {entry.primary_metric} | not trained | | |")
            continue
        metrics = json.loads(runs_of[0]["metrics_json"] or "{}")
        values = [
            (metrics.get(g) or {}).get(entry.primary_metric) for g in ("candidate", "baseline")
        ]
        shown = [f"{v:.3f}" if isinstance(v, float) else "not measured" for v in values]
        better = "higher" if entry.greater_is_better else "lower"
        gates = "pass" if runs_of[0]["no_regression"] else "fail"
        lines.append(
            f"| {name} | {entry.primary_metric} ({better} is better) | {shown[0]} | {shown[1]} "
            f"| {gates} |"
        )
    return "\n".join(lines)


@main.command("figures")
@click.option("--check", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="fail when this file's figures block differs (the README's)")  # fmt: skip
@click.option("--target", type=click.Choice(config.TARGETS), default="dev", show_default=True)
@click.option("--warehouse", type=click.Path(path_type=Path), help="overrides --target's file")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def figures(check: Path | None, target: str, warehouse: Path | None, as_json: bool) -> None:
    """The model figures the README quotes, from this warehouse's latest successful production
    training run of each model; --check FILE compares them with FILE's figures block."""
    _, found = _training_runs(
        target, warehouse, "status = 'success' and run_type = 'production'", []
    )
    table = _figures_table(found)
    if check is not None:
        text = check.read_text()
        if FIGURES_BEGIN not in text or FIGURES_END not in text:
            fail(f"figures: {check} has no block between {FIGURES_BEGIN} and {FIGURES_END}")
        quoted = text.split(FIGURES_BEGIN, 1)[1].split(FIGURES_END, 1)[0].strip()
        if quoted != table:
            fail(f"figures: {check} quotes\n{quoted}\nbut this warehouse gives\n{table}")
    click.echo(json.dumps({"table": table, "matches": check is not None}) if as_json else table)
