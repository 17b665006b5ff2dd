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


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path) -> dict:
    tmp = tmp_path_factory.mktemp("history")
    project = snapshot_project(tmp / "project")
    wh = tmp / "wh"
    first, later = _split(tiny_data, tmp / "batches")

    _load(wh, first)
    dbt_build(wh, "--vars", '{as_of_end: "2025-10-01"}', project=project)
    [(old_run, old_commit)] = _one(
        wh,
        "select training_run_id, git_commit from lineage.training_runs where model_name = 'churn'",
    )
    [(old_prediction,)] = _one(
        wh,
        "select prediction_id from lineage.predictions where model_name = 'churn' "
        "order by customer_id limit 1",
    )

    _load(wh, later)  # two more months of data
    dbt_build(wh, project=project)

    git(project, "checkout", "-q", "-b", "throwaway")
    models = project / "config" / "models.yml"
    models.write_text(models.read_text().replace("learning_rate: 0.05", "learning_rate: 0.1"))
    settings = project / "dbt_project.yml"
    settings.write_text(
        settings.read_text().replace("churn_feature_version: 1", "churn_feature_version: 2")
    )
    git(project, "commit", "-qam", "new hyperparameters and feature version")
    dbt_build(wh, project=project)
    return {
        "project": project,
        "wh": wh,
        "old_run": old_run,
        "old_commit": old_commit,
        "old_prediction": old_prediction,
    }


def _reproduce(history: dict, *args: str):
    return cli(
        history["wh"], "reproduce", "--target", "ci", "--json", *args, project=history["project"]
    )


def test_code_and_data_moved_on(history: dict) -> None:
    runs = _one(
        history["wh"],
        "select feature_version, git_commit, hyperparameters_json from lineage.training_runs "
        "where model_name = 'churn' order by started_at",
    )
    assert len(runs) == 3
    assert runs[-1][0] == 2 and runs[-1][1] != history["old_commit"]
    assert json.loads(runs[-1][2])["learning_rate"] == 0.1


def test_old_training_run_is_recreated_exactly(history: dict) -> None:
    done = _reproduce(history, "--training-run", history["old_run"])
    report = json.loads(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert report["verdict"] == "match"
    names = {c["check"] for c in report["checks"]}
    assert {
        "snapshot raw.orders",
        "training dataset hash (datasets.churn_training_dataset)",
        "feature definition hash",
        "model artifact sha256",
    } <= names
    assert all(c["status"] == "match" for c in report["checks"])


def test_old_prediction_is_recreated_bit_for_bit(history: dict) -> None:
    done = _reproduce(history, "--prediction-id", history["old_prediction"])
    report = json.loads(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    [score] = [c for c in report["checks"] if c["check"] == "prediction (float64, hex)"]
    assert score["status"] == "match" and score["recorded"] == score["reproduced"]


def test_lineage_prints_the_chain(history: dict) -> None:
    args = (history["wh"], "lineage", history["old_prediction"], "--target", "ci")
    text = cli(*args, project=history["project"])
    as_json = cli(*args, "--json", project=history["project"])
    assert text.returncode == 0, text.stderr
    assert "scoring build" in text.stdout and history["old_commit"] in text.stdout
    chain = json.loads(as_json.stdout)
    assert chain["prediction"]["prediction_id"] == history["old_prediction"]


def test_unknown_ids_fail_clearly(history: dict) -> None:
    done = _reproduce(history, "--training-run", "no-such-run")
    assert done.returncode == 1
    assert "unknown training run 'no-such-run'" in done.stderr


def test_champion_prediction_is_recreated(history: dict) -> None:
    """Promote the newest churn run (v2 features, new hyperparameters), score with it, and
    recreate one of its predictions: the training run is reproduced first, then the scoring."""
    [(run,)] = _one(
        history["wh"],
        "select training_run_id from lineage.training_runs where model_name = 'churn' "
        "order by started_at desc limit 1",
    )
    project = history["project"]
    opened = cli(history["wh"], "promote", "churn", "--run", run, "--target", "ci", project=project)
    assert opened.returncode == 0, opened.stderr
    request = opened.stdout.split()[1].rstrip(":")
    for user, role in (("ana@example.com", "ml_owner"), ("carla@example.com",
                                                          "business_stakeholder")):  # fmt: skip
        done = cli(history["wh"], "approve", request, "--role", role, "--target", "ci",
                   project=project, user=user)  # fmt: skip
        assert done.returncode == 0, done.stderr
    dbt_build(history["wh"], project=history["project"])
    [(prediction,)] = _one(
        history["wh"],
        "select prediction_id from serving.fct_customer_scores "
        "where model_name = 'churn' and model_kind = 'champion' order by customer_id limit 1",
    )
    done = _reproduce(history, "--prediction-id", prediction)
    assert done.stdout, done.stderr
    report = json.loads(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    names = {c["check"] for c in report["checks"]}
    assert {"model artifact sha256", "prediction (float64, hex)"} <= names


def test_altered_history_is_a_mismatch(history: dict) -> None:
    con = duckdb.connect(str(history["wh"] / "ci.duckdb"))
    con.execute(
        "update raw.orders set amount = amount * 2 where order_id = "
        "(select min(order_id) from raw.orders)"
    )
    con.close()
    done = _reproduce(history, "--training-run", history["old_run"])
    assert done.returncode == 1
    report = json.loads(done.stdout)
    bad = {c["check"] for c in report["checks"] if c["status"] == "mismatch"}
    assert "snapshot raw.orders" in bad


def test_missing_commit_is_named(history: dict, tmp_path: Path) -> None:
    from customer_ml.reproduce import ReproduceError, checkout

    with pytest.raises(ReproduceError, match="commit 0{40} is not in the repository"):
        checkout(history["project"], "0" * 40, tmp_path / "code")


def test_incomplete_records_are_refused(tmp_path: Path) -> None:
    from customer_ml.reproduce import ReproduceError, load_training_run

    con = duckdb.connect()
    con.execute("create schema lineage")
    con.execute(
        "create table lineage.training_runs as select 'r1' as training_run_id, "
        "'unknown' as git_commit, '{}' as snapshot_ids, 'i' as invocation_id, "
        "'s' as artifact_sha256, '{}' as config_json"
    )
    with pytest.raises(ReproduceError, match="records incomplete \\(git_commit"):
        load_training_run(con, "r1")
