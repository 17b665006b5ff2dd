"""The replay commands of `customer-ml`: reproduce a training run or a prediction, the records
behind a prediction (`lineage`), and backfills under <warehouse>/backfills (list, diff, publish;
a backfill itself is a plain `dbt build --target backfill`, customer_ml.replay.backfill)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from customer_ml import config
from customer_ml.cli.base import fail, main, print_table, steps
from customer_ml.records import store
from customer_ml.replay import backfill, backfill_diff


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

    from customer_ml.replay import reproduce as rep

    if bool(prediction_id) == bool(training_run):
        fail("reproduce: give exactly one of --prediction-id and --training-run")
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
        fail(f"reproduce: {e}")
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
    from customer_ml.replay import provenance
    from customer_ml.replay.rebuild import ReproduceError

    wh = warehouse or config.warehouse_path(target)
    try:
        chain = provenance.lineage_chain(wh, prediction_id)
    except ReproduceError as e:
        fail(f"lineage: {e}")
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
            found = store.read(
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
    predictions = found["predictions"]
    moved = sum(p.get("changed") or 0 for p in predictions)
    click.echo(f"predictions: {moved} of production's past predictions would change")
    print_table(
        ["model", "as_of", "customers", "changed", "mean change", "largest", "decisions crossing"],
        [
            [p["model"], str(p["as_of"]), str(p["customers"]), p["note"], "", "", ""]
            if p.get("note")
            else [p["model"], str(p["as_of"]), str(p["customers"]), str(p["changed"]),
                  f"{p['mean_change'] or 0:.4f}", f"{p['largest_change'] or 0:.4f}",
                  f"{p['crossed_up']} up, {p['crossed_down']} down" if "crossed_up" in p
                  else "-"]
            for p in predictions
        ],
    )  # fmt: skip
    rows = found["relations"]
    changed = [r for r in rows if (r["only_backfill"] or r["only_production"])
               and not r["by_construction"]]  # fmt: skip
    click.echo(
        "features, labels and datasets (labels and datasets are computed up to how far "
        "the data reaches: a slice that ends elsewhere differs there by construction)"
    )
    print_table(
        ["relation", "as_of", "backfill", "production", "only in backfill", "only in production"],
        [[r["relation"] + (" (by construction)" if r["by_construction"] else ""),
          str(r["as_of"] or "-"), str(r["backfill"]), str(r["production"]),
          str(r["only_backfill"]), str(r["only_production"])] for r in rows],
    )  # fmt: skip
    click.echo(f"report: {report}")
    features = [r for r in rows if not r["by_construction"]]
    click.echo(
        f"verdict: {moved} past prediction(s) would change; "
        + (f"{len(changed)} of {len(features)} feature slices differ from production"
           if changed else f"no differences in {len(features)} feature slices")
        + " (labels and datasets listed above, not judged)"
    )  # fmt: skip


@backfill_group.command("publish")
@click.argument("backfill_id")
@click.option(
    "--key",
    type=click.Path(path_type=Path),
    help="the SSH private key you sign the requests with (default: $CUSTOMER_ML_SIGNING_KEY, "
    "else git config user.signingkey)",
)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def publish_backfill(backfill_id: str, key: Path | None, as_json: bool) -> None:
    """Open the requests that publish BACKFILL_ID's rescored past predictions into production:
    one per model whose predictions it changes, carried out when the model's approver roles
    have approved (customer-ml approve REQUEST --role ROLE), as a promotion is. The originals
    are kept; serving shows the published rows from the next build."""
    from customer_ml.governance import backfill_publish, signing
    from customer_ml.governance.promotion import PromotionError

    try:
        signing_key = signing.key_path(key)
        backfill_publish.succeeded(backfill_id)  # refused before any progress is shown
        with steps("rescoring past predictions") as progress:
            progress(f"scoring production's past predictions again on backfill {backfill_id}")
            prepared = backfill_publish.prepare(backfill_id)
            progress(f"{sum(len(r) for r in prepared.rows.values())} predictions change")
        con = config.connect(prepared.production)
        try:
            store.create_all(con)
            opened = backfill_publish.open_requests(con, prepared, signing_key)
        finally:
            con.close()
    except PromotionError as e:
        fail(str(e))
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
