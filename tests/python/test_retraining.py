"""Issue 17: retraining decisions (customer_ml.pipeline.retraining) and their drift statistic."""

from __future__ import annotations

import math

import pytest


def test_psi_matches_hand_computed_values() -> None:
    from customer_ml.pipeline import drift

    reference = list(range(1, 11))  # two bins at the median 5.5: shares 0.5, 0.5
    assert drift.psi(reference, reference, bins=2) == 0.0
    # current 8 below and 2 above the median: 0.3 ln(0.8/0.5) + (-0.3) ln(0.2/0.5)
    expected = 0.3 * math.log(0.8 / 0.5) - 0.3 * math.log(0.2 / 0.5)
    assert drift.psi(reference, [1, 1, 1, 1, 1, 1, 1, 1, 6, 7], bins=2) == pytest.approx(expected)
    assert round(expected, 6) == 0.415888
    # an empty bin counts at EPS = 1e-4, not infinitely: q = (1, 0) against p = (0.5, 0.5)
    empty = 0.5 * math.log(1 / 0.5) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    assert drift.psi(reference, [1, 2], bins=2) == pytest.approx(empty)


def test_categorical_psi_by_category_shares() -> None:
    from customer_ml.pipeline import drift

    # reference DE 0.5, FR 0.5; current DE 0.25, FR 0.25, NL 0.5 (unseen before: p = EPS)
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) * 2 + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    got = drift.psi_categorical(["DE", "FR"], ["DE", "FR", "NL", "NL"])
    assert got == pytest.approx(expected)
    assert drift.psi_categorical(["DE", None], ["DE", None]) == 0.0


# --- decisions, scenario by scenario, on copies of the built warehouse ---

import dataclasses  # noqa: E402
import shutil  # noqa: E402
from datetime import timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

import duckdb  # noqa: E402

from customer_ml.pipeline import monitoring, performance  # noqa: E402


@pytest.fixture
def world(built: Path, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """(connection to a copy of `built`, churn's would-be run, the time of its last run)."""
    from customer_ml import catalogue
    from customer_ml.pipeline import training

    monkeypatch.setenv("CUSTOMER_ML_HOME", str(project))  # the clean snapshot it was built from
    shutil.copytree(built, tmp_path / "wh")
    con = duckdb.connect(str(tmp_path / "wh" / "ci.duckdb"))
    ctx = training.begin(con, catalogue.entry("churn"), this=None, run_type="production",
                         feature_version=1, label_version=1)  # fmt: skip
    [(last,)] = con.execute("select max(started_at) from ml.ml_churn__train").fetchall()
    yield con, ctx, last
    con.close()


def _decide(con, ctx, now, **kw):
    from customer_ml.pipeline import retraining

    return retraining.decide(con, ctx, this="ml.ml_churn__train", now=now, **kw)


def _fresh_feed(con, last, days: int) -> None:
    """Every feed keeps arriving: the newest load is `days` after the last run."""
    for feed in ("orders", "customers", "engagement_events"):
        con.execute(f"update raw.{feed} set _loaded_at = timestamp '{last}' + interval {days} day")


def _new_as_of(con, scale: float) -> None:
    """A new month of features, with order and amount features multiplied by `scale`."""
    scaled = ", ".join(
        f"{c} * {scale} as {c}"
        for c in ("orders_30d", "orders_90d", "orders_365d", "orders_lifetime",
                  "amount_30d", "amount_90d", "amount_365d", "amount_lifetime")
    )  # fmt: skip
    con.execute(
        f"insert into features.customer_features_v1 select * replace ({scaled}, "
        "cast(as_of + interval 1 month as date) as as_of) from features.customer_features_v1 "
        "where as_of = (select max(as_of) from features.customer_features_v1)"
    )


def test_nothing_changed_skips(world) -> None:
    con, ctx, last = world
    d = _decide(con, ctx, last + timedelta(days=1))
    assert d.action == "skip" and d.reasons[0].startswith("no trigger; next due")


def test_due_without_evolution_skips_and_with_matured_labels_trains(world) -> None:
    con, ctx, last = world
    _fresh_feed(con, last, 8)
    d = _decide(con, ctx, last + timedelta(days=8))
    assert (d.action, d.reasons) == (
        "skip", ["cadence due (8 days since the last run) but the data did not evolve"]
    )  # fmt: skip
    con.execute(
        "insert into labels.churn_labels_v1 select customer_id, "
        "cast(as_of + interval 1 month as date), horizon_days, is_churned "
        "from labels.churn_labels_v1 where as_of = (select max(as_of) from labels.churn_labels_v1)"
    )
    d = _decide(con, ctx, last + timedelta(days=8))
    assert d.action == "train" and "labels matured since the last run" in d.reasons[0]
    assert d.evidence["new_matured_labels"] >= 500


def test_injected_drift_trains_naming_the_drifted_features(world) -> None:
    con, ctx, last = world
    _new_as_of(con, 10.0)
    d = _decide(con, ctx, last + timedelta(days=1))
    assert d.action == "train", d.reasons
    [reason] = d.reasons
    assert reason.startswith("feature drift: ") and "amount_30d" in reason
    assert d.evidence["psi"]["amount_lifetime"] > 0.25 and d.evidence["psi"]["country"] < 0.1


def test_drift_below_the_trigger_is_named_in_the_skip(world) -> None:
    """One feature past the significant PSI, too few for the drifted share: a skip whose reason
    names the feature, its PSI and the thresholds (issue 34), not only "no trigger"."""
    con, ctx, last = world
    con.execute(
        "insert into features.customer_features_v1 select * replace (amount_30d * 10 as "
        "amount_30d, cast(as_of + interval 1 month as date) as as_of) from "
        "features.customer_features_v1 where as_of = (select max(as_of) from "
        "features.customer_features_v1)"
    )
    d = _decide(con, ctx, last + timedelta(days=1))
    assert d.action == "skip" and d.reasons[0].startswith("no trigger; next due")
    [seen] = d.reasons[1:]
    assert seen.startswith("seen, acted on when the cadence is due: moderate drift (PSI >= 0.1)")
    assert f"amount_30d {d.evidence['psi']['amount_30d']:.3f}" in seen
    assert "above PSI 0.25, under the" in seen


def test_a_business_event_naming_the_model_trains(world) -> None:
    con, ctx, last = world
    con.execute(
        "insert into raw.business_events (event_id, event_type, name, starts_at, "
        "affected_models, _available_at, _loaded_at, _load_id) values (999, 'forced_retrain', "
        "'pricing change: retrain (ana@example.com)', now(), 'clv, churn', now(), "
        f"timestamp '{last}' + interval 1 hour, 'l-999')"
    )
    d = _decide(con, ctx, last + timedelta(days=1))
    assert d.action == "train"
    assert d.reasons == [
        "business event 999 (forced_retrain: pricing change: retrain (ana@example.com)) names churn"
    ]


def test_a_logic_change_trains_even_while_stabilizing(world) -> None:
    from customer_ml.records import store

    con, ctx, last = world
    changed = dataclasses.replace(ctx, hyperparameters={**ctx.hyperparameters, "num_leaves": 15})
    store.append(con, "promotions", {"model_name": "churn", "training_run_id": "x",
                   "action": "promote", "promoted_at": last + timedelta(hours=1)})  # fmt: skip
    d = _decide(con, changed, last + timedelta(days=1))
    assert d.action == "train"
    assert d.reasons[0].endswith(": hyperparameters_json differ")
    # drift is a data trigger: suppressed while the promotion stabilizes
    _new_as_of(con, 10.0)
    d = _decide(con, ctx, last + timedelta(days=1))
    assert d.action == "suppressed" and d.reasons[0].startswith("stabilizing: promoted ")
    assert d.reasons[1].startswith("would train: feature drift")


def test_a_stale_feed_suppresses(world) -> None:
    con, ctx, last = world
    changed = dataclasses.replace(ctx, code="another code hash")
    d = _decide(con, changed, last + timedelta(days=10))
    assert d.action == "suppressed"
    assert d.reasons[0].startswith("feature freshness SLA (3 days): raw.orders: the newest load")
    assert d.reasons[1].startswith("would train: logic change")


def test_experiments_and_forced_runs_always_train(world) -> None:
    con, ctx, last = world
    late = last + timedelta(days=30)  # stale feed: suppressed under the policy
    assert _decide(con, ctx, late).action == "suppressed"
    assert _decide(con, ctx, late, retrain="force").action == "train"
    experiment = dataclasses.replace(ctx, run_type="experiment")
    assert _decide(con, experiment, late).action == "train"


def test_every_build_records_one_decision_per_model(built: Path) -> None:
    con = duckdb.connect(str(built / "ci.duckdb"), read_only=True)
    rows = con.execute(
        "select model_name, action, reasons_json from lineage.retraining_decisions order by 1"
    ).fetchall()
    con.close()
    assert rows == [
        (m, "train", f'["first training run of {m}"]') for m in ("churn", "clv", "segments")
    ]


def test_status_shows_each_models_last_decision_and_next_due(built: Path, tmp_path: Path) -> None:
    import json

    from conftest import cli

    wh = tmp_path / "wh"
    shutil.copytree(built, wh)  # status opens the warehouse for writing (store.create_all)
    done = cli(wh, "status", "--target", "ci", "--json")
    assert done.returncode == 0, done.stderr
    rows = {r["model"]: r for r in json.loads(done.stdout)}
    assert sorted(rows) == ["churn", "clv", "segments"]
    assert {r["retraining"] for r in rows.values()} == {"train"}
    assert rows["churn"]["retraining_reasons"] == ["first training run of churn"]
    assert rows["churn"]["next_due"] > rows["churn"]["decided_at"][:10]
    text = cli(wh, "status", "--target", "ci").stdout
    assert "  retraining: train at " in text and "    - first training run of churn" in text


@pytest.mark.e2e  # a build of its own; the retraining scenarios play the same case from the loader
def test_an_input_data_quality_failure_suppresses_training_naming_the_test(
    built: Path, tmp_path: Path
) -> None:
    """A duplicated order that reached raw some other way (not through the loader), loaded now,
    fails the staging uniqueness test (a build checks the rows loaded since the test last
    passed against all history: macros/tests_scope.sql); dbt skips everything downstream, and
    the build records segments' training as suppressed, naming the test."""
    import json

    from conftest import dbt_build

    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    con = duckdb.connect(str(wh / "ci.duckdb"))
    con.execute(
        "insert into raw.orders select * replace (now() as _loaded_at) from raw.orders "
        "order by order_id limit 1"
    )
    con.close()
    done = dbt_build(wh, "--select", "+ml_segments__train", check=False)
    assert done.returncode != 0
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    [(action, reasons, evidence)] = con.execute(
        "select action, reasons_json, evidence_json from lineage.retraining_decisions "
        "where model_name = 'segments' order by decided_at desc limit 1"
    ).fetchall()
    con.close()
    assert action == "suppressed"
    [reason] = json.loads(reasons)
    assert reason.startswith("upstream failures in this build: failed tests ")
    assert "unique_combination_of_columns_stg_shop__orders" in reason
    assert json.loads(evidence)["failed_tests"]


def _matured_predictions(con, run: str, degraded: list[bool]) -> None:
    """Churn predictions of the champion at the last len(degraded) labelled as_of dates, scored
    as good as the labels (AUC 1) or as bad as their opposite (AUC 0)."""
    as_ofs = [r[0] for r in con.execute(
        "select distinct as_of from labels.churn_labels_v1 order by as_of desc "
        f"limit {len(degraded)}"
    ).fetchall()][::-1]  # fmt: skip
    for as_of, bad in zip(as_ofs, degraded, strict=True):
        score = "1 - cast(is_churned as int)" if bad else "cast(is_churned as int)"
        con.execute(
            "insert into ml.ml_churn__score (prediction_id, model_name, model_kind, "
            "model_version, training_run_id, customer_id, as_of, score) "
            f"select 'm-' || customer_id || '-' || as_of, 'churn', 'champion', t.model_version, "
            f"t.training_run_id, customer_id, as_of, cast({score} as double) "
            "from labels.churn_labels_v1, ml.ml_churn__train t "
            f"where as_of = ? and t.training_run_id = '{run}'",
            [as_of],
        )


@pytest.mark.parametrize(("degraded", "action"), [
    ([False, True, True, True], "train"),  # K = 3 windows below the holdout: sustained
    ([True, True, False, True], "skip"),  # K - 1 of the last 3
])  # fmt: skip
def test_sustained_degradation_trains_and_k_minus_1_windows_skip(
    world, degraded: list[bool], action: str
) -> None:
    from conftest import promote_by_record

    con, ctx, last = world
    wh = Path(con.execute("select path from duckdb_databases() where database_name = "
                          "current_database()").fetchall()[0][0]).parent  # fmt: skip
    con.close()
    run = promote_by_record(wh, "churn")
    con = duckdb.connect(str(wh / "ci.duckdb"))
    try:
        _matured_predictions(con, run, degraded)
        _fresh_feed(con, last, 8)
        d = _decide(con, ctx, last + timedelta(days=8))
    finally:
        con.close()
    assert d.action == action, d.reasons
    assert [auc for _, auc in d.evidence["performance"]["windows"]][-4:] == [
        0.0 if bad else 1.0 for bad in degraded
    ]
    # the analysts' table is the same computation: the same windows, judged the same way
    con = duckdb.connect(str(wh / "ci.duckdb"))
    try:
        windows = performance.performance(con, "churn")
    finally:
        con.close()
    assert [(str(w["window_as_of"]), round(w["value"], 4)) for w in windows] == [
        tuple(w) for w in d.evidence["performance"]["windows"]
    ]
    assert [w["is_degraded"] for w in windows][-4:] == degraded
    assert windows[-1]["is_sustained_degradation"] == (action == "train")
    assert windows[-1]["consecutive_degraded"] == (3 if action == "train" else 1)
    if action == "train":
        assert d.reasons[0].startswith("sustained degradation: roc_auc below ")


# --- the monitoring tables (customer_ml.pipeline.monitoring; models/monitoring/) ---


def test_every_build_refreshes_the_monitoring_tables(built: Path) -> None:
    con = duckdb.connect(str(built / "ci.duckdb"), read_only=True)
    try:
        drifts = con.execute(
            "select model_name, reference_role, count(*), max(psi), bool_or(is_drifted), "
            "min(reference_as_of = current_as_of) from monitoring.feature_drift group by all "
            "order by 1"
        ).fetchall()
        served = con.execute(
            "select model_name, model_kind, score_kind, psi, reference_rows = current_rows "
            "from monitoring.prediction_drift order by 1"
        ).fetchall()
        changed = con.execute(
            "select count(*), count(*) filter (where is_changed) from monitoring.definition_changes"
        ).fetchall()
        types = dict(con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'monitoring' and table_name = 'model_performance'"
        ).fetchall())  # fmt: skip
    finally:
        con.close()
    # just trained on the latest as_of: nothing has drifted from itself
    assert [d[:2] for d in drifts] == [(m, "latest_run") for m in ("churn", "clv", "segments")]
    assert all(
        n > 5 and psi == 0.0 and not drifted and same for _, _, n, psi, drifted, same in drifts
    )
    assert served == [
        ("churn", "baseline", "numeric", 0.0, True),
        ("clv", "baseline", "numeric", 0.0, True),
        ("segments", "baseline", "categorical", 0.0, True),
    ]
    assert changed == [(5, 0)]  # churn and clv: features and labels; segments: features
    assert types["window_as_of"] == "DATE" and types["is_sustained_degradation"] == "BOOLEAN"


def test_feature_drift_table_and_the_decision_agree(world) -> None:
    con, ctx, last = world
    _new_as_of(con, 10.0)
    d = _decide(con, ctx, last + timedelta(days=1))
    rows = [r for r in monitoring.feature_drift(con) if r["model_name"] == "churn"]
    assert {r["feature"]: round(r["psi"], 4) for r in rows if r["psi"] == r["psi"]} == d.evidence[
        "psi"
    ]
    drifted = sorted(r["feature"] for r in rows if r["is_drifted"])
    assert drifted and all(f in d.reasons[0] for f in drifted)
    assert {r["drifted_share"] for r in rows} == {len(drifted) / len(rows)}
    assert {r["drift_band"] for r in rows if r["feature"] in ("country", "plan")} == {"stable"}


def _insert_scores(con, model: str, version: str, rows: list[tuple]) -> None:
    """(customer_id, as_of, score, score_label) rows as predictions of `version`."""
    for customer_id, as_of, score, label in rows:
        con.execute(
            f"insert into ml.ml_{model}__score (prediction_id, model_name, model_kind, "
            "model_version, customer_id, as_of, score, score_label) "
            "values (?, ?, 'champion', ?, ?, ?, ?, ?)",
            [f"t-{customer_id}-{as_of}", model, version, customer_id, as_of, score, label],
        )


def test_segment_stability_and_clv_error_match_hand_computed_values(world) -> None:
    con, _, _ = world
    [(segments_version,)] = con.execute(
        "select model_version from ml.ml_segments__train"
    ).fetchall()
    before, after = "2025-01-01", "2025-02-01"
    _insert_scores(con, "segments", segments_version, [
        (1, before, 0, "a"), (2, before, 0, "a"), (3, before, 1, "b"), (4, before, 1, "b"),
        (1, after, 0, "a"), (2, after, 1, "b"), (3, after, 1, "b"), (4, after, 1, "b"),
    ])  # fmt: skip
    [window] = performance.performance(con, "segments")
    assert (window["metric"], window["value"], window["customers"]) == (
        "segment_stability",
        0.75,
        4,
    )
    assert window["is_degraded"] is None  # no holdout reference: not judged

    [(clv_version,)] = con.execute("select model_version from ml.ml_clv__train").fetchall()
    buyers = [r[0] for r in con.execute(
        "select customer_id from staging.stg_shop__orders where ordered_at >= '2024-06-01' "
        "group by 1 order by count(*) desc, 1 limit 2"
    ).fetchall()]  # fmt: skip
    _insert_scores(
        con,
        "clv",
        clv_version,
        [(buyers[0], "2024-06-01", 100.0, None), (buyers[1], "2024-06-01", 50.0, None)],
    )
    orders = con.execute(
        "select order_id, customer_id, ordered_at, amount, _available_at, _loaded_at "
        f"from staging.stg_shop__orders where customer_id in ({buyers[0]}, {buyers[1]})"
    ).df()
    latest = orders.sort_values(["_available_at", "_loaded_at"]).groupby("order_id").tail(1)
    window = latest[(latest.ordered_at >= "2024-06-01") & (latest.ordered_at < "2025-06-01")]
    realized = float(window["amount"].astype(float).sum())
    [got] = performance.performance(con, "clv")
    assert got["metric"] == "realized_value_abs_relative_error"
    assert got["value"] == pytest.approx(abs(150.0 - realized) / realized)


def test_definition_changes_and_business_events_since_training(world) -> None:
    con, _, last = world
    assert not monitoring.business_events(con)
    con.execute(
        "insert into lineage.model_definitions values ('test', 'features.customer_features_v1', "
        "'c', 'a-new-definition', current_timestamp)"
    )
    changed = {
        (r["model_name"], r["relation_kind"])
        for r in monitoring.definition_changes(con)
        if r["is_changed"]
    }
    assert changed == {("churn", "features")}  # clv reads clv_transactions, segments v2
    con.execute(
        "insert into raw.business_events (event_id, event_type, name, affected_models, _loaded_at) "
        "values (99, 'forced_retrain', 'new pricing (ana)', 'clv, segments', ?)",
        [last + timedelta(hours=1)],
    )
    events = monitoring.business_events(con)
    assert sorted((e["model_name"], e["event_id"], e["event_name"]) for e in events) == [
        ("clv", 99, "new pricing (ana)"),
        ("segments", 99, "new pricing (ana)"),
    ]


def test_a_training_run_over_its_sla_is_alerted(world) -> None:
    from customer_ml.pipeline import retraining, retraining_policy

    con, _, _ = world
    sla = retraining_policy.policy("churn")["training_sla_minutes"]
    assert not retraining.check_training_sla(con, "churn", sla * 60)
    assert retraining.check_training_sla(con, "churn", sla * 60 + 1)
    [(kind, message)] = con.execute(
        "select alert_kind, message from lineage.alerts where alert_kind = 'training_sla_exceeded'"
    ).fetchall()
    assert message.startswith(f"training took {(sla * 60 + 1) / 60:.1f} min, over its SLA")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"cadence_days": -7}, "cadence_days: Input should be greater than or equal to 0"),
        ({"psi_moderate": "high"}, "psi_moderate: Input should be a valid number (given: 'high')"),
        ({"training_sla_minutes": None}, "training_sla_minutes: Input should be a valid number"),
        ({"cadense_days": 7}, "cadense_days: unknown key (a typo?) (given: 7)"),
    ],
)
def test_a_bad_policy_is_one_line(given: dict, message: str) -> None:
    from customer_ml import catalogue, config
    from customer_ml.pipeline import retraining_policy

    shipped = catalogue.entry("churn").policy["retraining"]
    assert retraining_policy.policy("churn", shipped)["cadence_days"] == 7
    with pytest.raises(config.OperatorError) as caught:
        retraining_policy.policy("churn", {**shipped, **given})
    assert f"config/models.yml: churn.retraining.{message}" in str(caught.value)
    assert "\n" not in str(caught.value)
