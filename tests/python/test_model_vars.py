"""dbt vars reach the Python models and are validated; a training node can be built alone and
retried; an operator's mistake is not a training failure (issue 14). Each test works on its own
copy of the built warehouse."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import dbt_build


def _q(wh: Path, sql: str) -> list:
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


CLV_RUNS = (
    "select model_version, config_json, fitted_params_json from lineage.training_runs "
    "where model_name = 'clv' order by started_at"
)


def test_clv_time_unit_arrives_alone_and_changes_the_model(built: Path, tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    [(weeks_version, weeks_config, weeks_params)] = _q(wh, CLV_RUNS)
    assert json.loads(weeks_config)["clv_time_unit"] == "weeks"
    # the training node alone (it registers its own inputs), with another time unit
    dbt_build(wh, "--select", "ml_clv__train", "--vars", "{clv_time_unit: days}")
    runs = _q(wh, CLV_RUNS)
    assert len(runs) == 2
    days_version, days_config, days_params = runs[1]
    assert json.loads(days_config)["clv_time_unit"] == "days"
    assert days_version != weeks_version
    # alpha is a rate per time unit: per day it is about a seventh of per week
    alpha_weeks = json.loads(weeks_params)["scoring"]["alpha"]
    alpha_days = json.loads(days_params)["scoring"]["alpha"]
    assert 5 < alpha_days / alpha_weeks < 9
    # and the same var again trains nothing new
    dbt_build(wh, "--select", "ml_clv__train", "--vars", "{clv_time_unit: days}")
    assert len(_q(wh, CLV_RUNS)) == 2


@pytest.mark.e2e  # four builds (~2 min): `make test-e2e`; keeps `make test` within CI's 30 min
def test_a_bad_var_fails_naming_it_and_retries_do_not_suppress_training(
    built: Path, tmp_path: Path
) -> None:
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    failures = "select count(*) from lineage.training_failures where model_name = 'clv'"
    for bad, message in (
        ("{clv_time_unit: months}", "var clv_time_unit: months is not allowed; expected one of "
                                    "days, weeks"),
        ("{clv_penalizer: nan}", "var clv_penalizer: nan is not a number in [0, 100]"),
        ("{clv_penalizer: -1}", "var clv_penalizer: -1 is not a number in [0, 100]"),
        ("{clv_penalizer_: 1}", "var clv_penalizer_: not a var of this project; did you mean "
                                "clv_penalizer?"),
        ("{run_type: prod}", "var run_type: prod is not allowed; expected one of production, "
                             "experiment"),
    ):  # fmt: skip
        done = dbt_build(wh, "--select", "ml_clv__train", "--vars", bad, check=False)
        assert done.returncode != 0 and message in done.stdout, done.stdout[-3000:]
        # checked when the build starts: no node ran, nothing was recorded
        assert "START" not in done.stdout, done.stdout[-3000:]
    # a scheduler retrying the failed command: the same one line, never a training failure, so
    # repeated retries never end in suppression
    for _ in range(3):
        again = dbt_build(wh, "--vars", "{clv_penalizer: -1}", check=False)
        assert again.returncode != 0 and "var clv_penalizer" in again.stdout, again.stdout[-3000:]
    assert _q(wh, failures) == [(0,)]
    assert _q(wh, "select count(*) from lineage.training_runs where model_name = 'clv'") == [(1,)]


def test_retrain_force_trains_an_unchanged_model_and_a_skip_says_why(
    built: Path, tmp_path: Path
) -> None:
    """Issue 34: `--vars '{retrain: force}'` was silently ignored (dbt never passed the key to
    the Python model, and an unchanged model_version was skipped before the policy was asked).
    Unchanged, a build skips with the run that trained the version as evidence; forced, it
    trains the same model_version again, saying so."""
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    decisions = (
        "select action, reasons_json, evidence_json from lineage.retraining_decisions "
        "where model_name = 'segments' order by decided_at desc limit 1"
    )
    dbt_build(wh, "--select", "ml_segments__train")
    [(action, reasons, evidence)] = _q(wh, decisions)
    [(first_run, version)] = _q(wh, "select training_run_id, model_version from "
                                    "ml.ml_segments__train")  # fmt: skip
    assert action == "skip" and "trained already in run " + first_run in reasons
    assert json.loads(evidence) == {
        "model_version": version, "trained_by": first_run,
        "trained_at": json.loads(evidence)["trained_at"],
    }  # fmt: skip
    dbt_build(wh, "--select", "ml_segments__train", "--vars", "{retrain: force}")
    [(action, reasons, _)] = _q(wh, decisions)
    assert action == "train" and "forced with --vars" in reasons
    runs = _q(wh, "select model_version from ml.ml_segments__train order by started_at")
    assert runs == [(version,), (version,)]


@pytest.mark.e2e  # a build from an empty warehouse
def test_any_node_with_its_parents_builds_on_a_fresh_warehouse(
    tiny_data: Path, tmp_path: Path
) -> None:
    """Issue 35: `dbt build --select +ml_clv__train` on a fresh warehouse failed on a
    relationships test of customer_features_v1, which the selection never built (dbt's eager
    indirect selection); the project runs a test only when all it reads is selected."""
    from conftest import load_tiny

    wh = tmp_path / "wh"
    load_tiny(wh, tiny_data)
    done = dbt_build(wh, "--select", "+ml_clv__train", check=False)
    assert done.returncode == 0, done.stdout[-3000:]
    assert _q(wh, "select count(*) from ml.ml_clv__train where status = 'success'") == [(1,)]
