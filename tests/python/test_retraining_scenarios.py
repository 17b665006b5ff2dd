"""Issue 17's scenarios, each driven by the data generator's knobs (customer_ml.data.generate.Knobs)
on tiny data, through real loads and dbt builds.

A warehouse holds what was available by CUT, built with as_of dates through 2025-11-01 (the
`before` fixture). Each scenario copies it, loads the rest of the data as its knobs shape it
(`customer-ml load`, or another pipeline writing raw directly), builds churn's training
selection with as_of dates through 2025-12-01, and asserts the decision the build recorded and
its reasons. Long (a dbt build each): `make test-e2e`.
"""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from conftest import cli, dbt_build, git, load_tiny, promote_by_record, snapshot_project

from customer_ml.data.generate import Knobs, generate

pytestmark = pytest.mark.e2e

CUT = date(2025, 11, 1)  # the rest: November and December, and what arrives late
BEFORE = ("--vars", "{as_of_end: '2025-11-01'}")
CHURN = ("--selector", "churn_training")


@pytest.fixture(scope="module")
def before(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("before-data")
    generate("tiny", 7, data, knobs=Knobs(available_until=CUT))
    wh = tmp_path_factory.mktemp("before")
    load_tiny(wh, data)
    dbt_build(wh, *BEFORE)
    return wh


@pytest.fixture(scope="module")
def sensitive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project with churn's drifted_share at 0.05: one feature drifting significantly (of
    its 16) makes a drift trigger. The amount drift the knobs inject moves the amount features;
    the shipped policy (0.3) asks for a broader shift."""
    project = snapshot_project(tmp_path_factory.mktemp("sensitive"))
    config = project / "config" / "models.yml"
    text = config.read_text()
    assert text.index("    drifted_share: 0.3\n") < text.index("\nclv:")  # churn's comes first
    config.write_text(text.replace("    drifted_share: 0.3\n", "    drifted_share: 0.05\n", 1))
    git(project, "commit", "-qam", "churn: drifted_share 0.05")
    return project


def _load(wh: Path, data: Path, *, business_events: bool = True) -> None:
    if business_events:
        return load_tiny(wh, data)
    tables = {"--orders": "orders", "--customers": "customers", "--events": "engagement_events"}
    args = [a for flag, name in tables.items() for a in (flag, str(data / f"{name}.parquet"))]
    done = cli(wh, "load", "--target", "ci", *args)
    assert done.returncode == 0, done.stderr


def _copy(before: Path, tmp_path: Path) -> Path:
    shutil.copytree(before, tmp_path / "wh")
    return tmp_path / "wh"


def _rest(tmp_path: Path, **knobs) -> Path:
    """The data available from CUT on, shaped by `knobs`."""
    data = tmp_path / "rest"
    generate("tiny", 7, data, knobs=Knobs(available_from=CUT, **knobs))
    return data


def _decision(wh: Path, model: str = "churn") -> tuple[str, list[str], dict]:
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    try:
        [(action, reasons, evidence)] = con.execute(
            "select action, reasons_json, evidence_json from lineage.retraining_decisions "
            "where model_name = ? order by decided_at desc limit 1",
            [model],
        ).fetchall()
    finally:
        con.close()
    return action, json.loads(reasons), json.loads(evidence)


def test_nothing_changed_skips(before: Path, tmp_path: Path) -> None:
    wh = _copy(before, tmp_path)
    dbt_build(wh, *BEFORE, *CHURN)
    action, reasons, _ = _decision(wh)
    assert (action, reasons) == ("skip", ["nothing changed: this model_version trained already"])


def test_new_data_trains_when_due_with_matured_labels_and_a_stale_feed_suppresses(
    before: Path, tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rest of the data brings two more months of matured labels; decided on the rebuilt
    relations at times the scenario names (a build decides at its own time)."""
    from customer_ml import catalogue
    from customer_ml.pipeline import retraining, training

    monkeypatch.setenv("CUSTOMER_ML_HOME", str(project))  # the clean snapshot it was built from
    wh = _copy(before, tmp_path)
    _load(wh, _rest(tmp_path), business_events=False)
    dbt_build(wh, "--selector", "scoring")  # features and labels, no training decision
    con = duckdb.connect(str(wh / "ci.duckdb"))
    try:
        ctx = training.begin(con, catalogue.entry("churn"), this=None, run_type="production",
                             feature_version=1, label_version=1)  # fmt: skip
        # the rest arrived a week after the last run (the loader stamps the time it ran)
        for feed in ("orders", "customers", "engagement_events"):
            con.execute(
                f"update raw.{feed} set _loaded_at = _loaded_at + interval 7 day "
                "where _loaded_at > (select max(started_at) from ml.ml_churn__train)"
            )
        [(last, loaded)] = con.execute(
            "select (select max(started_at) from ml.ml_churn__train), max(_loaded_at) "
            "from raw.orders"
        ).fetchall()

        def decide(now):
            return retraining.decide(con, ctx, this="ml.ml_churn__train", now=now)

        not_due = decide(last + timedelta(days=1))
        due = decide(loaded + timedelta(days=1))
        stale = decide(loaded + timedelta(days=4))
    finally:
        con.close()
    assert not_due.action == "skip" and not_due.reasons[0].startswith("no trigger; next due")
    assert due.action == "train", due.reasons
    assert due.reasons[0].startswith("cadence due (8 days since the last run, cadence 7) and ")
    assert due.evidence["newest_orders_loaded_days_ago"] == 1.0
    assert "labels matured since the last run" in due.reasons[0]
    assert due.evidence["new_matured_labels"] >= 500
    assert stale.action == "suppressed"
    assert stale.reasons[0].startswith(
        "feature freshness SLA (3 days): raw.orders: the newest load was 4 days ago"
    )


def test_injected_drift_trains_naming_the_drifted_features(
    before: Path, tmp_path: Path, sensitive: Path
) -> None:
    wh = _copy(before, tmp_path)
    _load(wh, _rest(tmp_path, drift_from=CUT, amount_factor=10.0), business_events=False)
    dbt_build(wh, *CHURN, project=sensitive)
    action, reasons, evidence = _decision(wh)
    assert action == "train", reasons
    assert reasons[0].startswith("feature drift: ")
    drifted = [f for f, psi in evidence["psi"].items() if psi > 0.25]
    assert "amount_30d" in drifted and all(f in reasons[0] for f in drifted)
    assert not [
        f for f in evidence["psi"] if f.startswith(("sessions", "support")) and f in drifted
    ]
    assert (evidence["reference_as_of"], evidence["data_as_of"]) == ("2025-11-01", "2025-12-01")


def test_the_same_drift_while_stabilizing_is_suppressed(
    before: Path, tmp_path: Path, sensitive: Path
) -> None:
    wh = _copy(before, tmp_path)
    promote_by_record(wh, "churn")
    _load(wh, _rest(tmp_path, drift_from=CUT, amount_factor=10.0), business_events=False)
    dbt_build(wh, *CHURN, project=sensitive)
    action, reasons, _ = _decision(wh)
    assert action == "suppressed", reasons
    assert reasons[0].startswith("stabilizing: promoted ")
    assert reasons[1].startswith("would train: feature drift: ")


def test_a_business_event_naming_the_model_trains(before: Path, tmp_path: Path) -> None:
    wh = _copy(before, tmp_path)
    load_tiny(wh, _rest(tmp_path, forced_retrain=("churn", "new pricing, asked by ana")))
    dbt_build(wh, *CHURN)
    action, reasons, _ = _decision(wh)
    assert action == "train", reasons
    # with the campaign announced in the same weeks (black_friday_2025 names every model)
    assert "business event 10 (forced_retrain: new pricing, asked by ana) names churn" in reasons


def test_a_new_feature_version_pinned_trains(before: Path, tmp_path: Path) -> None:
    wh = _copy(before, tmp_path)
    dbt_build(wh, "--vars", "{as_of_end: '2025-11-01', churn_feature_version: 2}", *CHURN)
    action, reasons, evidence = _decision(wh)
    assert action == "train", reasons
    assert "feature_version" in evidence["logic_changes"]
    assert reasons[0].startswith("logic change since run churn-")


def test_duplicated_orders_are_refused_by_the_loader_and_suppress_training_from_elsewhere(
    before: Path, tmp_path: Path
) -> None:
    wh = _copy(before, tmp_path)
    rest = _rest(tmp_path, duplicate_orders=3)
    done = cli(wh, "load", "--target", "ci", "--orders", str(rest / "orders.parquet"))
    assert done.returncode != 0 and "order_id" in done.stderr  # the loader keeps them out
    con = duckdb.connect(str(wh / "ci.duckdb"))
    try:  # another pipeline writes raw directly
        con.execute(
            "insert into raw.orders by name select *, current_timestamp as _loaded_at, "
            "'other-pipeline' as _load_id from read_parquet(?)",
            [str(rest / "orders.parquet")],
        )
    finally:
        con.close()
    done = dbt_build(wh, *CHURN, check=False)
    assert done.returncode != 0  # the failing test fails the build
    action, reasons, evidence = _decision(wh)
    assert action == "suppressed", reasons
    assert "unique_combination_of_columns_stg_shop__orders" in reasons[0]
    assert evidence["failed_tests"]
