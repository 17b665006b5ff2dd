"""The MLflow mirror writes each warehouse's runs into that warehouse's own store, whatever else
the process touched before (customer_ml.records.tracking binds a client to the store; the fluent
`mlflow.set_tracking_uri` would set MLFLOW_TRACKING_URI for the whole process and its children)."""

from __future__ import annotations

import json
import os
from datetime import UTC
from pathlib import Path

import pytest
from mlflow import MlflowClient

from customer_ml.records import tracking


def _runs(warehouse_dir: Path) -> list[str]:
    uri = f"sqlite:///{warehouse_dir / 'ci.mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return sorted(r.data.tags["training_run_id"] for r in client.search_runs(experiments))


def test_each_warehouse_logs_into_its_own_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "model.json").write_text("{}")
    for name in ("a", "b", "a"):
        (tmp_path / name).mkdir(exist_ok=True)
        tracking.log_training(
            tmp_path / name / "ci.duckdb", model_name="churn", run_type="production",
            tags={"training_run_id": f"run-in-{name}", "git.commit": "abc"}, params={"p": 1},
            metrics={"m": 0.5}, artifact_dir=artifacts,
        )  # fmt: skip
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert _runs(tmp_path / "a") == ["run-in-a", "run-in-a"]
    assert _runs(tmp_path / "b") == ["run-in-b"]
    assert tracking.orphan_training_runs(tmp_path / "b" / "ci.duckdb", {"run-in-b"}) == []


def test_a_moved_champion_alias_is_alerted_and_restored(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """lineage.promotions is the truth; the registry alias `@champion` is its mirror. Moved in
    the MLflow UI or client (past the two-person approval), `status` alerts and puts it back."""
    import shutil

    import duckdb
    from conftest import cli, promote_by_record

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    run = promote_by_record(wh, "churn", mirror=False)  # a record whose alias was never set
    assert cli(wh, "status", "--target", "ci").returncode == 0
    client = tracking.client_for(wh / "ci.duckdb")
    kept = client.get_model_version_by_alias("customer-ml-churn", "champion")
    assert kept.tags["training_run_id"] == run

    same_files = client.get_model_version_download_uri("customer-ml-churn", kept.version)
    forged = client.create_model_version(
        "customer-ml-churn", source=same_files, tags={"training_run_id": "forged"}
    )
    client.set_registered_model_alias("customer-ml-churn", "champion", forged.version)
    done = cli(wh, "status", "--target", "ci")
    assert done.returncode == 0 and "registry_alias_drift" in done.stderr
    now = client.get_model_version_by_alias("customer-ml-churn", "champion")
    assert (now.version, now.tags["training_run_id"]) == (kept.version, run)

    assert cli(wh, "status", "--target", "ci").returncode == 0  # in step: nothing to do
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    messages = [m for (m,) in con.execute(
        "select message from lineage.alerts where alert_kind = 'registry_alias_drift' "
        "order by raised_at"
    ).fetchall()]  # fmt: skip
    con.close()
    assert len(messages) == 2
    assert messages[0].startswith("registry alias customer-ml-churn@champion pointed at nothing")
    assert messages[1].startswith(
        f"registry alias customer-ml-churn@champion pointed at forged, but lineage.promotions "
        f"says {run}: restored"
    )


def _served_inputs(con, model_name: str, feature_version: int):
    """What the model's scoring node read at its latest as_of (python_models/ml_<model>__score)."""
    from customer_ml.models import btyd

    if model_name == "clv":
        summaries = btyd.summaries(con.table("datasets.clv_transactions_v1"))
        return summaries.filter("period = 'scoring'").df()
    relation = f"features.customer_features_v{feature_version}"
    return con.execute(
        f"select * from {relation} where as_of = (select max(as_of) from {relation})"
    ).df()


def test_the_registered_champion_loads_and_predicts_what_was_served(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`models:/customer-ml-<model>@champion` is an MLflow model: it loads with pyfunc and
    predicts, for the rows the scoring build read, exactly the scores it served (every model);
    a copy of the artifact altered inside the MLflow model refuses to load."""
    import shutil

    import duckdb
    import mlflow
    import numpy as np
    from conftest import dbt_build, promote_by_record

    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    models = ("churn", "clv", "segments")
    runs = {m: promote_by_record(wh, m) for m in models}
    dbt_build(wh, "--select", *(f"ml_{m}__score" for m in models))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{wh / 'ci.mlflow.db'}")
    client = MlflowClient()
    # the registry says what each model is and reads; its runs say who and what ran them
    assert "Input: BTYD summaries" in client.get_registered_model("customer-ml-clv").description
    assert (
        "Input: rows of features." in client.get_registered_model("customer-ml-churn").description
    )
    version = client.get_model_version_by_alias("customer-ml-churn", "champion")
    tags = client.get_run(version.run_id).data.tags
    # MLflow 3: the version is the training run's LoggedModel, which carries the run's metrics;
    # the model is not also a run artifact
    assert version.source.startswith("models:/m-")
    logged = client.get_logged_model(version.source.removeprefix("models:/"))
    assert logged.source_run_id == version.run_id and str(logged.status) == "READY"
    assert logged.tags["training_run_id"] == runs["churn"]
    assert json.loads(logged.tags["mlflow.modelVersions"]) == [
        {"name": "customer-ml-churn", "version": version.version}
    ]
    assert {m.key for m in logged.metrics} == set(client.get_run(version.run_id).data.metrics)
    run_artifacts = {a.path for a in client.list_artifacts(version.run_id)}
    assert "validation_report.html" in run_artifacts and "mlflow_model" not in run_artifacts
    assert tags["mlflow.source.type"] == "JOB" and tags["mlflow.user"]
    assert tags["mlflow.source.git.commit"] == tags["git.commit"]
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    try:
        for model_name in models:
            served = con.execute(
                f"select customer_id, score, score_label, feature_version "
                f"from ml.ml_{model_name}__score where training_run_id = ? order by customer_id",
                [runs[model_name]],
            ).df()
            assert len(served) > 0, model_name
            loaded = mlflow.pyfunc.load_model(f"models:/customer-ml-{model_name}@champion")
            inputs = _served_inputs(con, model_name, int(served["feature_version"].iloc[0]))
            predicted = loaded.predict(inputs).sort_values("customer_id", ignore_index=True)
            assert predicted["customer_id"].tolist() == served["customer_id"].tolist()
            np.testing.assert_array_equal(predicted["score"], served["score"], err_msg=model_name)
            if model_name == "segments":
                assert predicted["score_label"].tolist() == served["score_label"].tolist()
            assert loaded.metadata.signature is not None, model_name
    finally:
        con.close()

    version = tracking.client_for(wh / "ci.duckdb").get_model_version_by_alias(
        "customer-ml-churn", "champion"
    )
    location = client.get_logged_model(version.source.removeprefix("models:/")).artifact_location
    copied = Path(location.removeprefix("file://")) / "artifacts" / "model.json"
    copied.write_bytes(copied.read_bytes().replace(b'"feature_version"', b'"feature_version" '))
    with pytest.raises(ValueError, match="the MLflow model's copy was altered"):
        mlflow.pyfunc.load_model("models:/customer-ml-churn@champion")


def test_a_training_run_spans_its_training_reads_its_snapshots_and_nests_in_its_build(
    built: Path, tmp_path: Path
) -> None:
    """Each training run's MLflow run starts when the training started (not when it was
    logged), lists the data snapshots it read as MLflow datasets (digest = content hash), and is
    a child of its build's run."""
    import shutil

    import duckdb

    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    runs = con.execute(
        "select mlflow_run_id, started_at, snapshot_ids, invocation_id "
        "from lineage.training_runs order by training_run_id"
    ).fetchall()
    hashes = dict(
        con.execute("select snapshot_id, content_hash from lineage.data_snapshots").fetchall()
    )
    builds = dict(con.execute("select invocation_id, mlflow_run_id from lineage.builds").fetchall())
    con.close()
    assert runs
    client = tracking.client_for(wh / "ci.duckdb")
    for mlflow_run_id, started_at, snapshot_ids, invocation_id in runs:
        run = client.get_run(mlflow_run_id)
        assert run.info.start_time == int(started_at.replace(tzinfo=UTC).timestamp() * 1000)
        build = builds[invocation_id]
        assert run.data.tags["mlflow.parentRunId"] == build
        # each links the other in its description (the UI nests no runs across experiments)
        build_run = client.get_run(build)
        link = f"(#/experiments/{build_run.info.experiment_id}/runs/{build})"
        assert link in run.data.tags["mlflow.note.content"]
        link = f"(#/experiments/{run.info.experiment_id}/runs/{mlflow_run_id})"
        assert link in build_run.data.tags["mlflow.note.content"]
        logged = {d.dataset.name: d.dataset.digest for d in run.inputs.dataset_inputs}
        read = json.loads(snapshot_ids)
        assert logged == {relation: hashes[snap][:36] for relation, snap in read.items()}
        assert client.get_experiment(run.info.experiment_id).tags["mlflow.experimentKind"] == (
            "custom_model_development"
        )


LOAD_OUTSIDE = """
import importlib.util, json, sys
sys.path = [p for p in sys.path if not p.rstrip("/").endswith("/src")]  # no checkout
assert importlib.util.find_spec("customer_ml") is None, "customer_ml importable"
import mlflow.pyfunc
from mlflow.models import Model
path = sys.argv[1]
example = Model.load(path).load_input_example(path)
print(json.dumps(mlflow.pyfunc.load_model(path).predict(example)["score"].tolist()))
"""


@pytest.mark.parametrize("model_name", ["churn", "clv", "segments"])
def test_the_mlflow_model_loads_where_customer_ml_is_not_installed(
    built: Path, tmp_path: Path, model_name: str
) -> None:
    """The saved MLflow model carries the package it unpickles (code_paths): a Python that
    cannot import customer_ml loads it and predicts what it predicts here."""
    import subprocess
    import sys

    import duckdb
    import mlflow.pyfunc
    from mlflow.models import Model

    from customer_ml import config
    from customer_ml.records import served_model

    con = duckdb.connect(str(built / "ci.duckdb"), read_only=True)
    try:
        [(artifact,)] = con.execute(
            f"select artifact_path from ml.ml_{model_name}__train where status = 'success' "
            "order by started_at desc limit 1"
        ).fetchall()
    finally:
        con.close()
    path = config.recorded_file(built / "ci.duckdb", artifact).parent / served_model.DIRECTORY
    assert (path / "code" / "customer_ml" / "records" / "served_model.py").is_file()
    example = Model.load(str(path)).load_input_example(str(path))
    here = mlflow.pyfunc.load_model(str(path)).predict(example)["score"].tolist()
    done = subprocess.run(
        [sys.executable, "-c", LOAD_OUTSIDE, str(path)],
        cwd=tmp_path, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MLFLOW_DISABLE_TELEMETRY": "true"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == here
