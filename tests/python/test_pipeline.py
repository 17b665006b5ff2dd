"""End to end on tiny data through plain `dbt build`: lineage on every served row, one recorded
build per invocation, no leakage across time (invariant 1), determinism and idempotency."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import cli, dbt_build, load_tiny

LINEAGE = [
    "snapshot_id",
    "feature_version",
    "model_version",
    "training_run_id",
    "git_commit",
    "invocation_id",
]


def _q(wh: Path, sql: str) -> list:
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _df(wh: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def test_served_rows_carry_complete_lineage(built: Path) -> None:
    served = _df(built, "select * from serving.fct_customer_scores")
    assert (served["model_name"] == "churn").sum() == 1000
    assert set(served["model_name"]) == {"churn", "clv", "segments"}
    assert set(served["model_kind"]) == {"baseline"}  # nothing promoted yet
    known = {r[0] for r in _q(built, "select snapshot_id from lineage.data_snapshots")}
    assert set(served["snapshot_id"]) <= known


def test_a_prediction_lacking_lineage_is_excluded_from_serving_and_counted(
    built: Path, tmp_path: Path
) -> None:
    """Invariant 8, broken on purpose: a newer prediction row without a git commit (a forged or
    half-written row) for a served customer must not serve, and must be counted."""
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    con = duckdb.connect(str(wh / "ci.duckdb"))
    try:
        con.execute(
            "insert into ml.ml_churn__score by name "
            "select * replace ('forged' as prediction_id, null as git_commit, 0.123 as score, "
            "scored_at + interval 1 day as scored_at) "
            "from ml.ml_churn__score where customer_id = 7"
        )
    finally:
        con.close()
    done = dbt_build(wh, "--select", "fct_customer_scores", "predictions_lacking_lineage")
    assert "WARN 1 is_empty_predictions_lacking_lineage" in done.stdout
    served = _df(wh, "select * from serving.fct_customer_scores where model_name = 'churn'")
    assert len(served) == 1000 and "forged" not in set(served["prediction_id"])
    assert served[LINEAGE].notna().all().all()
    assert _q(wh, "select * from monitoring.predictions_lacking_lineage") == [("churn", 1)]
    assert _q(built, "select count(*) from monitoring.predictions_lacking_lineage") == [(0,)]


def test_build_is_recorded_in_lineage_and_mlflow(built: Path) -> None:
    [(invocation, commit, mlflow_run, snapshot_ids, failed, tests_passed)] = _q(
        built,
        "select invocation_id, git_commit, mlflow_run_id, snapshot_ids, nodes_failed, "
        "tests_passed from lineage.builds",
    )
    assert failed == 0 and tests_passed > 20
    assert len(json.loads(snapshot_ids)) >= 7
    # a client bound to this store: mlflow.set_tracking_uri would set MLFLOW_TRACKING_URI for
    # the whole test process (and every warehouse it touches after)
    mlflow = _mlflow_client(built)
    run = mlflow.get_run(mlflow_run)
    assert run.data.tags["dbt.invocation_id"] == invocation
    assert run.data.tags["git.commit"] == commit
    assert run.data.tags["mlflow.source.git.commit"] == commit
    assert run.data.metrics["nodes_failed"] == 0
    assert {k: v for k, v in run.data.tags.items() if k.startswith("retraining.")} == {
        "retraining.churn": "train", "retraining.clv": "train", "retraining.segments": "train"
    }  # fmt: skip
    assert training_cost_metrics_present(mlflow, built)
    [(training_mlflow, training_invocation)] = _q(
        built,
        "select mlflow_run_id, invocation_id from lineage.training_runs where model_name = 'churn'",
    )
    training = mlflow.get_run(training_mlflow)
    assert training.data.tags["dbt.invocation_id"] == training_invocation == invocation
    assert "hp.learning_rate" in training.data.params


def _mlflow_client(warehouse_dir: Path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{warehouse_dir / 'ci.mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def training_cost_metrics_present(mlflow, built: Path) -> bool:
    """Every training run's MLflow run carries its cost (issue 18)."""
    runs = [r[0] for r in _q(built, "select mlflow_run_id from lineage.training_runs")]
    wanted = {"cost_wall_seconds", "cost_cpu_seconds", "cost_peak_rss_mb", "cost_estimated_usd",
              "cost_bytes_scanned"}  # fmt: skip
    return len(runs) == 3 and all(wanted <= set(mlflow.get_run(r).data.metrics) for r in runs)


def test_training_run_record_is_complete(built: Path) -> None:
    run = _df(built, "select * from lineage.training_runs where model_name = 'churn'").iloc[0]
    snapshots = json.loads(run["snapshot_ids"])
    assert set(snapshots) == {
        "raw.orders",
        "raw.customers",
        "raw.engagement_events",
        "features.customer_features_v1",
        "labels.churn_labels_v1",
        "datasets.churn_training_dataset",
    }
    registered = {r[0] for r in _q(built, "select snapshot_id from lineage.data_snapshots")}
    assert set(snapshots.values()) <= registered
    assert run["run_type"] == "production" and not run["is_dirty"]
    assert run["git_commit"] == _q(built, "select git_commit from lineage.builds")[0][0]
    assert (run["feature_version"], run["label_version"]) == (1, 1)
    assert len(run["feature_definition_hash"]) == 32
    assert run["feature_definition_hash"] != run["label_definition_hash"]
    assert len(run["lock_hash"]) == 64 and run["seed"] == 42
    assert len(run["training_rows_hash"]) == 64 and run["training_rows_used"] > 0
    assert json.loads(run["hyperparameters_json"])["objective"] == "binary"
    assert run["train_as_of_max"] < run["validation_as_of_min"]
    assert run["validation_roc_auc"] > run["baseline_roc_auc"]
    verdicts = json.loads(run["no_regression_json"])
    assert run["no_regression"] and [v["check"] for v in verdicts] == [
        "no regression vs baseline",
        "no regression vs champion",
    ]
    for path, sha in (
        (run["artifact_path"], run["artifact_sha256"]),
        (run["report_path"], run["report_sha256"]),
    ):
        from customer_ml.records.lineage import sha256_file

        # relative to the warehouse's folder: a copied warehouse reads its own artifacts
        assert path.startswith("ci.artifacts/models/churn/") and not Path(path).is_absolute()
        assert sha256_file(built / path) == sha
    report = (built / run["report_path"]).read_text()
    assert report.count("data:image/png;base64") == 6 and "roc_auc" in report
    mlflow = _mlflow_client(built)
    mlflow_run = mlflow.get_run(run["mlflow_run_id"])
    assert mlflow_run.data.params["feature_definition_hash"] == run["feature_definition_hash"]
    assert mlflow_run.data.tags["artifact_sha256"] == run["artifact_sha256"]
    assert json.loads(mlflow_run.data.tags["snapshot_ids"]) == snapshots
    artifacts = {a.path for a in mlflow.list_artifacts(run["mlflow_run_id"])}
    assert {"model.json", "validation_report.html", "feature_importance.csv"} <= artifacts


def test_every_model_records_its_pinned_versions_and_definitions(built: Path) -> None:
    """Invariants 3 and 4 for every model in the catalogue, not just churn: each training run
    names the feature (and, for supervised models, label) version it read and their definition
    hashes, equal to what the build recorded for those relations."""
    from customer_ml import catalogue

    runs = _df(built, "select * from lineage.training_runs")
    assert set(runs["model_name"]) == set(catalogue.names())
    for _, run in runs.iterrows():
        entry = catalogue.entry(run["model_name"])
        definitions = json.loads(run["definition_hashes"])
        feature = entry.features(int(run["feature_version"]))
        assert run["feature_definition_hash"] == definitions[feature], run["model_name"]
        recorded = _q(
            built,
            "select distinct definition_hash from lineage.model_definitions "
            f"where relation_name = '{feature}'",
        )
        assert [(run["feature_definition_hash"],)] == recorded
        if entry.label_relation is None:
            assert pd.isna(run["label_version"]) and pd.isna(run["label_definition_hash"])
        else:
            label = entry.labels(int(run["label_version"]))
            assert run["label_definition_hash"] == definitions[label], run["model_name"]
            assert label in json.loads(run["snapshot_ids"])


def test_feature_importance_is_queryable(built: Path) -> None:
    """The analyst's view holds the same numbers as the run's feature_importance.csv artifact,
    for every feature the model learned (its feature names are stored with the model)."""
    [(run_id, artifact, fitted)] = _q(
        built,
        "select training_run_id, artifact_path, fitted_params_json from lineage.training_runs "
        "where model_name = 'churn'",
    )
    view = _df(
        built,
        f"select feature, gain from lineage.feature_importance where training_run_id = '{run_id}'",
    )
    csv = pd.read_csv((built / artifact).parent / "feature_importance.csv")
    merged = view.merge(csv, on="feature", suffixes=("_view", "_artifact"), validate="one_to_one")
    assert len(merged) == len(csv) == len(json.loads(fitted)["feature_names"])
    assert (merged["gain_view"] == merged["gain_artifact"]).all() and merged["gain_view"].max() > 0


def test_both_feature_and_label_versions_are_built(built: Path) -> None:
    v1 = _q(built, "select count(*) from features.customer_features_v1")[0][0]
    v2 = _q(built, "select count(*), count(avg_basket_lifetime) from features.customer_features_v2")
    assert v2[0][0] == v1 and v2[0][1] > 0
    [(l1, h1)] = _q(built, "select count(*), max(horizon_days) from labels.churn_labels_v1")
    [(l2, h2)] = _q(built, "select count(*), max(horizon_days) from labels.churn_labels_v2")
    assert (h1, h2) == (90, 60) and l1 > 0 and l2 > 0


@pytest.mark.e2e  # a whole load and build; `make test-e2e` also reproduces every model's run
def test_same_data_same_artifact_and_predictions(built: Path, tmp_path: Path, tiny_data) -> None:
    load_tiny(tmp_path, tiny_data)
    dbt_build(tmp_path)
    sql = "select model_name, artifact_sha256 from lineage.training_runs order by model_name"
    a, b = _q(built, sql), _q(tmp_path, sql)
    assert [m for m, _ in a] == ["churn", "clv", "segments"]
    assert a == b
    sql = (
        "select model_name, customer_id, as_of, score, score_label from lineage.predictions "
        "order by model_name, customer_id"
    )
    pd.testing.assert_frame_equal(_df(built, sql), _df(tmp_path, sql))


def test_rebuild_is_idempotent_and_features_do_not_leak(
    built: Path, tmp_path: Path, tiny_data
) -> None:
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    counts = (
        "select (select count(*) from lineage.training_runs), (select count(*) from "
        "lineage.predictions), (select count(*) from lineage.data_snapshots)"
    )
    before_counts = _q(wh, counts)
    features_sql = "select * from features.customer_features_v1 order by customer_id, as_of"
    before = _df(wh, features_sql)

    dbt_build(wh)  # same data again: nothing new but the build record
    assert _q(wh, counts) == before_counts
    assert _q(wh, "select count(*) from lineage.builds") == [(2,)]

    # Customer 1 gets an order after the last as_of, and an order dated in March that only
    # became available on 20 November.
    late = tmp_path / "late.csv"
    late.write_text(
        "order_id,customer_id,ordered_at,amount,_available_at\n"
        "990000001,1,2025-12-15 10:00:00,25.00,2025-12-15 10:00:00\n"
        "990000002,1,2025-03-10 10:00:00,40.00,2025-11-20 08:00:00\n"
    )
    done = cli(wh, "load", "--target", "ci", "--orders", str(late))
    assert done.returncode == 0, done.stderr
    dbt_build(wh)
    after = _df(wh, features_sql)
    before["as_of"] = pd.to_datetime(before["as_of"])
    after["as_of"] = pd.to_datetime(after["as_of"])

    last_as_of = pd.Timestamp("2025-12-01")
    assert (before["as_of"] < last_as_of).sum() > 5000
    pd.testing.assert_frame_equal(
        before[before["as_of"] < last_as_of].reset_index(drop=True),
        after[after["as_of"] < last_as_of].reset_index(drop=True),
    )
    # Not vacuous: at 1 December the late March order is known and counts.
    row = lambda df: df[(df.customer_id == 1) & (df.as_of == last_as_of)].iloc[0]  # noqa: E731
    assert row(after)["orders_lifetime"] == row(before)["orders_lifetime"] + 1
    assert row(after)["amount_365d"] == row(before)["amount_365d"] + 40.0


def test_baselines_are_registered_like_training_runs(built: Path) -> None:
    served = _q(
        built,
        "select distinct s.model_name, s.training_run_id, b.training_run_id "
        "from serving.fct_customer_scores s left join lineage.baseline_runs b "
        "on s.training_run_id = b.training_run_id and s.model_name = b.model_name",
    )
    assert len(served) == 3
    assert all(registered == run for _, run, registered in served)
    [(n, commits)] = _q(built, "select count(*), count(git_commit) from lineage.baseline_runs")
    assert n == commits == 3


def test_a_rule_baseline_is_fitted_on_the_whole_population_and_recorded(built: Path) -> None:
    """The segment rules' recorded medians are those of every customer with an order at the
    as_of they were fitted on, computed here in SQL; their artifact is intact."""
    [record] = _df(
        built, "select * from lineage.baseline_runs where model_name = 'segments'"
    ).to_dict(orient="records")
    path = built / record["artifact_path"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == record["artifact_sha256"]
    params = json.loads(path.read_text())["params"]
    [(since, amount, rows)] = _q(
        built,
        "select median(days_since_last_order), median(amount_365d), count(*) "
        f"from {record['fitted_on']} where as_of = '{record['fitted_as_of']}' "
        "and orders_lifetime > 0",
    )
    assert rows > 500
    # (DuckDB interpolates the middle pair as a + (b - a) / 2, numpy as (a + b) / 2)
    assert params == pytest.approx(
        {"median_days_since_last_order": since, "median_amount_365d": amount}, rel=1e-12
    )


def test_the_serving_interface_has_one_typed_column_per_meaning(built: Path) -> None:
    """Version 2: churn's probability, CLV's value, the segment's id and name, each in its own
    typed column and null on the other models' rows; version 1 stays as it was."""
    served = _df(
        built,
        "select s.*, p.score_label from serving.fct_customer_scores s "
        "join lineage.predictions p using (prediction_id)",
    )
    typed = {"churn": "churn_probability", "clv": "clv_value", "segments": "segment_id"}
    null_on = {
        "churn": ["clv_value", "segment_id", "segment_name"],
        "clv": ["churn_probability", "segment_id", "segment_name"],
        "segments": ["churn_probability", "clv_value"],
    }
    for model, column in typed.items():
        rows = served[served["model_name"] == model]
        assert len(rows) > 100
        assert (rows[column] == rows["score"]).all(), model
        assert rows[null_on[model]].isna().all().all(), model
    churn = served[served["model_name"] == "churn"]["churn_probability"]
    assert churn.between(0, 1).all()
    segments = served[served["model_name"] == "segments"]
    assert (segments["segment_name"] == segments["score_label"]).all()
    [(kind,)] = _q(
        built,
        "select data_type from information_schema.columns where table_schema = 'serving' "
        "and table_name = 'fct_customer_scores' and column_name = 'segment_id'",
    )
    assert kind == "INTEGER"
    v1 = {r[0] for r in _q(built, "select column_name from information_schema.columns where "
                           "table_name = 'fct_customer_scores_v1'")}  # fmt: skip
    assert "score" in v1 and not v1 & {"churn_probability", "segment_name"}
