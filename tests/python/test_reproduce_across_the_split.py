"""A training run and a prediction recorded by a build at a commit from before the package was
split into parts (issue 32) are reproduced exactly by today's `customer-ml reproduce`: the replay
runs the recorded commit's own code, in its own layout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import dbt_build, git, run_env, snapshot_project

# The last commit with the flat package (src/customer_ml/churn.py, cli.py, ...).
PRE_SPLIT = "0d575c5401d44c4b194e52eafc26eeb89ec93175"


def _old_cli(wh: Path, old: Path, *args: str) -> None:
    """The pre-split `customer-ml` (its entry point was customer_ml.cli:main), from its own src."""
    done = subprocess.run(
        [sys.executable, "-c", "from customer_ml.cli import main; main()", *args],
        env=run_env(wh, old),
        cwd=old,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def _one(wh: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.e2e
def test_a_run_and_a_prediction_recorded_before_the_split_are_reproduced(
    tmp_path: Path, tiny_data: Path
) -> None:
    project = snapshot_project(tmp_path / "project", history=True)
    old = tmp_path / "old"
    git(tmp_path, "clone", "-q", str(project), str(old))
    git(old, "-c", "advice.detachedHead=false", "checkout", "-q", PRE_SPLIT)
    assert (old / "src/customer_ml/churn.py").exists()
    assert not (project / "src/customer_ml/churn.py").exists()

    wh = tmp_path / "wh"
    _old_cli(
        wh, old, "load", "--target", "ci",
        "--orders", str(tiny_data / "orders.parquet"),
        "--customers", str(tiny_data / "customers.parquet"),
        "--events", str(tiny_data / "engagement_events.parquet"),
        "--business-events", str(tiny_data / "business_events.parquet"),
    )  # fmt: skip
    dbt_build(wh, project=old)
    [(run, commit)] = _one(
        wh,
        "select training_run_id, git_commit from lineage.training_runs where model_name = 'churn'",
    )
    assert commit == PRE_SPLIT
    [(prediction,)] = _one(
        wh,
        "select min(prediction_id) from serving.fct_customer_scores where model_name = 'churn'",
    )

    for args in (["--training-run", run], ["--prediction-id", prediction]):
        done = subprocess.run(
            [str(Path(sys.executable).parent / "customer-ml"), "reproduce", "--target", "ci",
             "--json", *args],
            env=run_env(wh, project), cwd=project, capture_output=True, text=True,
        )  # fmt: skip
        report = json.loads(done.stdout or "{}")
        mismatches = [c["check"] for c in report.get("checks", []) if c["status"] == "mismatch"]
        assert done.returncode == 0 and report.get("checks") and not mismatches, (
            args,
            done.stderr,
            report,
        )
