"""`customer-ml reproduce` and `customer-ml lineage` end to end: after more data, a code change
on a throwaway branch and a new build, an old training run and an old prediction are recreated
exactly; after a historical source row is altered, the mismatch is reported and the exit status
is not 0."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from conftest import cli, dbt_build, git, snapshot_project

CUTOFF = "2025-11-01"
EVENT_TIME = {
    "orders": "ordered_at",
    "customers": "updated_at",
    "engagement_events": "occurred_at",
    "business_events": "starts_at",
}


def _split(data: Path, out: Path) -> tuple[Path, Path]:
    """The tiny data as two batches: known before CUTOFF, and the two months after."""
    first, later = out / "first", out / "later"
    first.mkdir(parents=True)
    later.mkdir(parents=True)
    con = duckdb.connect()
    for table, event_time in EVENT_TIME.items():
        source = data / f"{table}.parquet"
        known = f"{event_time} < '{CUTOFF}' and _available_at < '{CUTOFF}'"
        con.execute(f"copy (select * from '{source}' where {known}) to '{first / source.name}'")
        con.execute(
            f"copy (select * from '{source}' where not ({known})) to '{later / source.name}'"
        )
    return first, later


def _load(wh: Path, batch: Path) -> None:
    done = cli(
        wh, "load", "--target", "ci",
        "--orders", str(batch / "orders.parquet"),
        "--customers", str(batch / "customers.parquet"),
        "--events", str(batch / "engagement_events.parquet"),
        "--business-events", str(batch / "business_events.parquet"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def _one(wh: Path, sql: str):
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


APPROVERS = {
    "ml_owner": "ana@example.com",
    "business_stakeholder": {"churn": "carla@example.com", "clv": "dev@example.com"},
}


def _promote(wh: Path, project: Path, model: str, run: str) -> None:
    from customer_ml import catalogue

    opened = cli(wh, "promote", model, "--run", run, "--target", "ci", project=project)
    assert opened.returncode == 0, opened.stderr
    request = opened.stdout.split()[1].rstrip(":")
    for role in catalogue.entry(model).approver_roles:
        user = APPROVERS[role] if role == "ml_owner" else APPROVERS[role][model]
        done = cli(wh, "approve", request, "--role", role, "--target", "ci",
                   project=project, user=user)  # fmt: skip
        assert done.returncode == 0, done.stderr


def _reproduce(wh: Path, project: Path, *args: str) -> tuple[int, dict]:
    done = cli(wh, "reproduce", "--target", "ci", "--json", *args, project=project)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def _mismatches(report: dict) -> list[str]:
    return [c["check"] for c in report["checks"] if c["status"] == "mismatch"]


@pytest.mark.e2e
def test_every_model_is_reproduced_months_later(tmp_path: Path, tiny_data: Path) -> None:
    """For each of churn, CLV and segments: a champion-served prediction (and the training run
    behind it) is recreated bit for bit after two more months of data and a committed code
    change; a training run that aligned to a champion is recreated; after a historical row is
    altered, reproduction reports the mismatch for each. One story, in its order."""
    from customer_ml import catalogue

    project = snapshot_project(tmp_path / "project")
    models = project / "config" / "models.yml"  # churn's row cap below the data: a sample
    models.write_text(
        models.read_text().replace("max_training_rows: 2000000", "max_training_rows: 4000")
    )
    git(project, "commit", "-qam", "churn trains on a seeded sample of 4000 rows")
    wh = tmp_path / "wh"
    first, later = _split(tiny_data, tmp_path / "batches")
    _load(wh, first)
    dbt_build(wh, "--vars", '{as_of_end: "2025-10-01"}', project=project)
    old_runs = dict(_one(wh, "select model_name, training_run_id from lineage.training_runs"))
    assert _one(wh, "select training_rows_used from lineage.training_runs "
                "where model_name = 'churn'") == [(4000,)]  # fmt: skip
    assert set(old_runs) == set(catalogue.names())
    for model, run in old_runs.items():
        _promote(wh, project, model, run)

    _load(wh, later)  # two more months of data, and a committed code change
    models = project / "config" / "models.yml"
    models.write_text(models.read_text().replace("learning_rate: 0.05", "learning_rate: 0.1"))
    git(project, "commit", "-qam", "new hyperparameters")
    # every model trains again (segments' cadence is not due: it would skip), so that a
    # segments run aligned to its champion is recreated below
    dbt_build(wh, "--vars", "{retrain: force}", project=project)
    served = dict(
        _one(
            wh,
            "select model_name, min(prediction_id) from serving.fct_customer_scores "
            "where model_kind = 'champion' group by model_name",
        )
    )
    assert set(served) == set(catalogue.names())

    for model, prediction in sorted(served.items()):
        status, report = _reproduce(wh, project, "--prediction-id", prediction)
        assert status == 0 and not _mismatches(report), (model, report)
        checks = {c["check"] for c in report["checks"]}
        assert {
            "model artifact sha256",
            "prediction (float64, hex)",
            "scoring input snapshot",
            "training rows hash (the sample the row cap kept)",
        } <= checks
        assert (
            f"snapshot {catalogue.entry(model).features(1 if model != 'segments' else 2)}" in checks
        )

    # the segments run of the second build aligned its ids to the champion: recreated exactly
    [(aligned, champion)] = _one(
        wh,
        "select training_run_id, champion_training_run_id from lineage.training_runs "
        "where model_name = 'segments' order by started_at desc limit 1",
    )
    assert champion == old_runs["segments"]
    status, report = _reproduce(wh, project, "--training-run", aligned)
    assert status == 0 and not _mismatches(report), report

    # a historical source row altered behind the pipeline: every model's reproduction says so
    con = duckdb.connect(str(wh / "ci.duckdb"))
    con.execute(
        "update raw.orders set amount = amount + 1 where order_id = "
        "(select min(order_id) from raw.orders)"
    )
    con.close()
    for model, run in sorted(old_runs.items()):
        status, report = _reproduce(wh, project, "--training-run", run)
        assert status == 1, (model, report)
        assert any(m.startswith("snapshot ") for m in _mismatches(report)), (model, report)


def test_lineage_prints_the_chain(built: Path, project: Path) -> None:
    [(prediction, commit)] = _one(
        built,
        "select prediction_id, git_commit from lineage.predictions where model_name = 'churn' "
        "order by customer_id limit 1",
    )
    args = (built, "lineage", prediction, "--target", "ci")
    text = cli(*args, project=project)
    as_json = cli(*args, "--json", project=project)
    assert text.returncode == 0, text.stderr
    assert "scoring build" in text.stdout and commit in text.stdout
    chain = json.loads(as_json.stdout)
    assert chain["prediction"]["prediction_id"] == prediction


def test_unknown_ids_fail_clearly(built: Path, project: Path) -> None:
    done = cli(built, "reproduce", "--target", "ci", "--training-run", "no-such-run",
               project=project)  # fmt: skip
    assert done.returncode == 1
    assert "unknown training run 'no-such-run'" in done.stderr


def test_missing_commit_is_named(project: Path, tmp_path: Path) -> None:
    from customer_ml.replay.rebuild import ReproduceError, checkout

    with pytest.raises(ReproduceError, match="commit 0{40} is not in the repository"):
        checkout(project, "0" * 40, tmp_path / "code")


def test_incomplete_records_are_refused(tmp_path: Path) -> None:
    from customer_ml.replay.reproduce import ReproduceError, load_training_run

    con = duckdb.connect()
    con.execute("create schema lineage")
    con.execute(
        "create table lineage.training_runs as select 'r1' as training_run_id, "
        "'unknown' as git_commit, '{}' as snapshot_ids, 'i' as invocation_id, "
        "'s' as artifact_sha256, '{}' as config_json"
    )
    with pytest.raises(ReproduceError, match="records incomplete \\(git_commit"):
        load_training_run(con, "r1")


def test_a_seeded_champion_reads_its_artifact_beside_production(tmp_path: Path) -> None:
    """Records name artifacts relative to their warehouse's folder; the champion seeded into a
    throwaway warehouse must still read the production artifact (else the replay would score
    with the baseline, and every champion prediction would mismatch)."""
    import hashlib

    from customer_ml.pipeline import scoring
    from customer_ml.records import registry
    from customer_ml.replay.rebuild import seed_champion

    production = tmp_path / "prod" / "ci.duckdb"
    artifact = production.parent / "ci.artifacts" / "models" / "churn" / "r1" / "model.json"
    artifact.parent.mkdir(parents=True)
    artifact.write_bytes(b"a model")
    run = {
        "training_run_id": "r1", "model_name": "churn", "model_version": "v1",
        "status": "success", "run_type": "production",
        "artifact_path": "ci.artifacts/models/churn/r1/model.json",
        "artifact_sha256": hashlib.sha256(b"a model").hexdigest(),
    }  # fmt: skip
    throwaway = tmp_path / "replay" / "ci.duckdb"
    throwaway.parent.mkdir()
    seed_champion(throwaway, run, production)
    con = duckdb.connect(str(throwaway))
    try:
        champion = registry.champion(con, "churn", max_age_check=False)
        serving = scoring.serving_champion(con, "churn")
    finally:
        con.close()
    assert champion["artifact_path"] == str(artifact)
    assert (serving.kind, serving.artifact) == ("champion", b"a model")


V3_SQL = """{#- v3 (test): v2 and whether the customer has five orders or more -#}
select
    *,
    cast(orders_lifetime >= 5 as boolean) as is_loyal
from {{ ref('customer_features', v=2) }}
"""


def _add_feature_version_3(project: Path) -> None:
    """A feature version 3 beside v1 and v2: a new column, excluded from the older versions."""
    (project / "models" / "features" / "customer_features_v3.sql").write_text(V3_SQL)
    spec = project / "models" / "features" / "customer_features.yml"
    text = spec.read_text()
    text = text.replace(
        "    versions:\n      - v: 1\n        columns:\n          - include: all\n"
        "            exclude:\n",
        '      - name: is_loyal\n        description: "v3: five orders or more up to as_of."\n'
        "        data_type: boolean\n"
        "    versions:\n      - v: 1\n        columns:\n          - include: all\n"
        "            exclude:\n              - is_loyal\n",
    )
    text = text.replace(
        "      - v: 2\n",
        "      - v: 2\n        columns:\n          - include: all\n"
        "            exclude: [is_loyal]\n      - v: 3\n",
    )
    spec.write_text(text)


@pytest.mark.e2e
def test_a_feature_version_3_backfilled_beside_v1_and_v2_leaves_their_models_reproducible(
    tmp_path: Path, tiny_data: Path
) -> None:
    """A new feature version lands beside the old ones (§8.3.4): the production build computes
    v3 over every as_of while v1 and v2 stay byte-identical and nothing retrains; a backfill of
    history computes the same v3; the churn run (v1) and the segments run (v2) trained before v3
    existed still reproduce exactly."""
    project = snapshot_project(tmp_path / "project")
    wh = tmp_path / "wh"
    _load(wh, tiny_data)
    dbt_build(wh, project=project)
    runs = dict(_one(wh, "select model_name, training_run_id from lineage.training_runs"))
    digest = ("select count(*) || md5(string_agg(cast(t as varchar), '|' order by customer_id, "
              "as_of)) from features.customer_features_v{} t")  # fmt: skip
    before = [_one(wh, digest.format(v)) for v in (1, 2)]

    _add_feature_version_3(project)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "customer_features v3")
    dbt_build(wh, project=project)
    assert [_one(wh, digest.format(v)) for v in (1, 2)] == before
    assert dict(_one(wh, "select model_name, training_run_id from lineage.training_runs")) == runs
    [(as_of_dates, loyal)] = _one(
        wh, "select count(distinct as_of), count(*) filter (where is_loyal) "
        "from features.customer_features_v3"
    )  # fmt: skip
    assert as_of_dates == 12 and loyal > 0

    vars_ = json.dumps({"backfill_id": "v3-history", "backfill_of": "ci"})
    done = dbt_build(wh, "--target", "backfill", "--selector", "backfill", "--vars", vars_,
                     project=project)  # fmt: skip
    assert "ERROR=0" in done.stdout
    con = duckdb.connect(str(wh / "backfills" / "v3-history.duckdb"), read_only=True)
    backfilled = con.execute(digest.format(3)).fetchall()
    con.close()
    assert backfilled == _one(wh, digest.format(3))

    for model in ("churn", "segments"):
        status, report = _reproduce(wh, project, "--training-run", runs[model])
        assert status == 0 and not _mismatches(report), (model, report)


@pytest.mark.e2e  # a replayed build
def test_a_moved_input_shows_every_check_and_names_the_input(
    built: Path, project: Path, tmp_path: Path
) -> None:
    """Issue 35: after one order amount was altered, `reproduce` said "mismatch" and showed None
    for every other check. Each check is computed against what the replay trained: the
    definitions still match, the moved input is named, the model differs."""
    import shutil

    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    [(run,)] = _one(wh, "select training_run_id from ml.ml_churn__train")
    con = duckdb.connect(str(wh / "ci.duckdb"))
    con.execute("update raw.orders set amount = amount + 1 where order_id = "
                "(select min(order_id) from raw.orders)")  # fmt: skip
    con.close()
    done = cli(wh, "reproduce", "--target", "ci", "--training-run", run, "--json",
               project=project)  # fmt: skip
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    status = {c["check"]: c["status"] for c in report["checks"]}
    assert all(c["reproduced"] is not None for c in report["checks"]), report["checks"]
    assert status["feature definition hash"] == "match"
    assert status["snapshot raw.orders"] == "mismatch"
    assert status["model version"] == "mismatch"
    assert any("the inputs that moved: snapshot raw.orders" in n for n in report["notes"])


@pytest.mark.e2e
def test_a_rule_baseline_prediction_is_recreated_with_the_rule_fitted_earlier(
    tiny_data: Path, tmp_path: Path
) -> None:
    """The segment rules the first build fitted (on its whole population) score the second
    build's customers; a prediction of the second build is recreated with that recorded rule,
    where a replay refitting on the second build's population would take other medians. An
    altered rule artifact is a mismatch."""
    import pandas as pd

    from customer_ml.models import baselines

    project = snapshot_project(tmp_path / "project")
    wh = tmp_path / "wh"
    first, later = _split(tiny_data, tmp_path / "batches")
    _load(wh, first)
    dbt_build(wh, "--vars", '{as_of_end: "2025-10-01"}', project=project)
    _load(wh, later)
    dbt_build(wh, project=project)
    [(fitted_by, version, path, fitted_on)] = _one(
        wh, "select invocation_id, model_version, artifact_path, fitted_on "
        "from lineage.baseline_runs where model_name = 'segments'",
    )  # fmt: skip
    [(prediction, as_of)] = _one(
        wh, "select prediction_id, as_of from ml.ml_segments__score where model_version = "
        f"'{version}' and invocation_id != '{fitted_by}' order by as_of desc, prediction_id "
        "limit 1",
    )  # fmt: skip
    # not vacuous: refitted on the second build's population, the rules would be others
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    try:
        population = con.execute(f"select * from {fitted_on} where as_of = ?", [as_of]).df()
    finally:
        con.close()
    refitted = baselines.SegmentRules().fitted(population[population["orders_lifetime"] > 0])
    recorded = json.loads((wh / path).read_text())["params"]
    assert refitted.params != recorded, pd.Timestamp(as_of)

    status, report = _reproduce(wh, project, "--prediction-id", prediction)
    assert status == 0 and not _mismatches(report), report
    checks = {c["check"] for c in report["checks"]}
    assert {
        "rule baseline artifact (sha256)",
        "model version",
        "prediction (float64, hex)",
    } <= checks

    artifact = wh / path
    artifact.chmod(0o644)
    artifact.write_text(artifact.read_text().replace('"params": {', '"params": {"x": 1, ', 1))
    status, report = _reproduce(wh, project, "--prediction-id", prediction)
    assert status != 0
    assert "rule baseline artifact (sha256)" in _mismatches(report), report
