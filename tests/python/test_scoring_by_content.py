"""Invariant 11: a prediction is recomputed only when what it is computed from changed.

The unit tests drive `scoring.changed_rows` on a warehouse of hand-made prediction rows: each
case breaks one part of the identity (model version, input row, finished build, what stands) and
shows that the customer is scored again. The end-to-end tests build on tiny data: a day of new
orders for one customer rescores that customer only, and serving shows the new prediction.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import cli, dbt_build

from customer_ml import catalogue
from customer_ml.models import baselines
from customer_ml.pipeline import scoring
from customer_ml.records import store

THIS = "ml_scores"


def _warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    store.create_all(con)
    con.execute(
        f"create table {THIS} (prediction_id varchar, customer_id bigint, model_version varchar, "
        "input_hash varchar, invocation_id varchar, scored_at timestamp, snapshot_id varchar, "
        "feature_version bigint, training_run_id varchar, git_commit varchar)"
    )
    return con


def _finished(con: duckdb.DuckDBPyConnection, invocation_id: str) -> None:
    con.execute(
        "insert into lineage.builds (invocation_id, is_dirty, run_type) values (?, false, ?)",
        [invocation_id, "production"],
    )


def _scored(con, invocation_id: str, version: str, hashes: dict[int, str], day: int) -> None:
    for customer, h in hashes.items():
        con.execute(
            f"insert into {THIS} values (?, ?, ?, ?, ?, ?, 's', 1, 'run', 'abc')",
            [f"{invocation_id}-{customer}", customer, version, h, invocation_id,
             pd.Timestamp("2026-01-01") + pd.Timedelta(days=day)],
        )  # fmt: skip


def _changed(con, version: str, hashes: dict[int, str]) -> set[int]:
    customers = pd.Series(list(hashes), dtype="int64")
    flags = scoring.changed_rows(con, THIS, version, customers, pd.Series(list(hashes.values())))
    return set(customers[flags.to_numpy()])


def test_unchanged_model_and_input_score_nobody_and_a_new_model_scores_everyone() -> None:
    con = _warehouse()
    inputs = {1: "a", 2: "b", 3: "c"}
    _scored(con, "b1", "v1", inputs, day=0)
    _finished(con, "b1")
    assert _changed(con, "v1", inputs) == set()
    assert _changed(con, "v2", inputs) == {1, 2, 3}  # a new champion (or baseline) version


def test_a_changed_input_row_scores_that_customer_only() -> None:
    con = _warehouse()
    _scored(con, "b1", "v1", {1: "a", 2: "b", 3: "c"}, day=0)
    _finished(con, "b1")
    assert _changed(con, "v1", {1: "a", 2: "B", 3: "c", 4: "d"}) == {2, 4}  # 4: a new customer


def test_rows_of_a_build_that_never_finished_stand_for_nothing() -> None:
    """A build killed after scoring left rows with no lineage.builds record: the next build
    scores those customers again instead of trusting them."""
    con = _warehouse()
    _scored(con, "b1", "v1", {1: "a", 2: "b"}, day=0)
    _finished(con, "b1")
    _scored(con, "killed", "v1", {1: "a2"}, day=1)  # scored, then killed: no build record
    assert _changed(con, "v1", {1: "a2", 2: "b"}) == {1}
    _finished(con, "killed")  # had it finished, its row would stand
    assert _changed(con, "v1", {1: "a2", 2: "b"}) == set()


def test_only_the_latest_prediction_stands() -> None:
    """Input a, then b, then a again: the standing prediction is b's, so a is scored again;
    likewise a model served again after another one served."""
    con = _warehouse()
    _scored(con, "b1", "v1", {1: "a"}, day=0)
    _scored(con, "b2", "v1", {1: "b"}, day=1)
    _scored(con, "b3", "baseline", {1: "b"}, day=2)
    for b in ("b1", "b2", "b3"):
        _finished(con, b)
    assert _changed(con, "baseline", {1: "b"}) == set()
    assert _changed(con, "v1", {1: "b"}) == {1}  # v1 served before, the baseline since
    assert _changed(con, "baseline", {1: "a"}) == {1}


def test_a_row_serving_would_not_count_does_not_stand() -> None:
    con = _warehouse()
    _scored(con, "b1", "v1", {1: "a"}, day=0)
    _finished(con, "b1")
    con.execute(f"update {THIS} set git_commit = null")  # lacks lineage: never served
    assert _changed(con, "v1", {1: "a"}) == {1}


def test_a_first_build_or_a_table_from_before_input_hashes_scores_everyone() -> None:
    con = _warehouse()
    _scored(con, "b1", "v1", {1: "a"}, day=0)
    _finished(con, "b1")
    assert _changed(con, "v1", {1: "a"}) == set()
    con.execute(f"alter table {THIS} drop column input_hash")  # a table of an older build
    assert _changed(con, "v1", {1: "a"}) == {1}
    customers = pd.Series([1, 2])
    assert scoring.changed_rows(con, None, "v1", customers, pd.Series(["a", "b"])).all()


def test_the_input_hash_is_the_row_content() -> None:
    frame = pd.DataFrame(
        {"customer_id": [1, 2], "as_of": pd.to_datetime(["2026-01-01"] * 2), "x": [0.5, np.nan]}
    )
    h = scoring.input_hashes(frame)
    assert h.str.fullmatch(r"[0-9a-f]{16}").all() and h[0] != h[1]
    assert scoring.input_hashes(frame[["x", "as_of", "customer_id"]]).tolist() == h.tolist()
    assert scoring.input_hashes(frame.iloc[::-1]).tolist() == h.tolist()[::-1]  # per row
    moved = frame.assign(x=[0.5, 0.25])
    assert scoring.input_hashes(moved).tolist() == [h[0], scoring.input_hashes(moved)[1]]
    assert scoring.input_hashes(moved)[1] != h[1]
    later = frame.assign(as_of=pd.to_datetime(["2026-02-01"] * 2))
    assert not set(scoring.input_hashes(later)) & set(h)  # a new as_of is a new input
    assert not set(scoring.input_hashes(frame.rename(columns={"x": "y"}))) & set(h)


def _features(n: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    orders = rng.integers(0, 6, n)
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1),
            "as_of": pd.Timestamp("2026-01-01"),
            "orders_lifetime": orders,
            "tenure_days": rng.integers(1, 900, n).astype(float),
            "days_since_last_order": np.where(orders > 0, rng.integers(0, 400, n), np.nan),
            "amount_365d": np.where(orders > 0, rng.gamma(2.0, 40.0, n), 0.0),
        }
    )


@pytest.mark.parametrize("model_name", ["churn", "segments", "clv"])
def test_each_model_scores_a_subset_as_it_scores_it_in_the_whole(model_name: str) -> None:
    """What scoring only changed rows relies on (protocol.py). The segment rules' medians are
    the population's: fitted on it (and recorded), a subset's own medians never move them."""
    entry = catalogue.entry(model_name)
    module = entry.module
    if model_name == "clv":
        feats = _features()
        frame = pd.DataFrame(
            {
                "customer_id": feats["customer_id"],
                "period": "scoring",
                "period_end": pd.Timestamp("2026-01-01"),
                "spend_365d": feats["amount_365d"],
            }
        )
    else:
        frame = _features()
    model = module.baseline(entry.policy, frame)
    whole = module.score(model, frame, entry.policy)
    subset = frame[frame["customer_id"] % 7 == 0]
    part = module.score(model, subset, entry.policy)
    by_customer = dict(zip(whole.customer_ids, whole.scores, strict=True))
    assert len(part.customer_ids) > 10
    assert [by_customer[c] for c in part.customer_ids] == list(part.scores)


def test_segment_rules_unfitted_would_move() -> None:
    """The failure fitting prevents, shown: the subset's own medians segment differently."""
    frame = _features()
    frame = frame[frame["orders_lifetime"] > 0].sort_values("customer_id")
    subset = frame.nsmallest(60, "amount_365d")
    fixed = baselines.SegmentRules().fitted(frame).predict(subset)
    assert not np.array_equal(fixed, baselines.SegmentRules().predict(subset))


@pytest.mark.parametrize("model_name", ["churn", "segments", "clv"])
def test_a_fitted_rule_is_recorded_exactly(model_name: str) -> None:
    """A rule's artifact gives back the rule it recorded (medians to the last bit), and its
    version names its parameters: another fit is another version."""
    entry = catalogue.entry(model_name)
    frame = _features()
    rule = entry.module.baseline(entry.policy, frame)
    artifact = baselines.to_bytes(model_name, rule)
    again = baselines.from_bytes(artifact)
    assert type(again) is type(rule)
    assert getattr(again, "medians", None) == getattr(rule, "medians", None)
    other = entry.module.baseline(entry.policy, _features(seed=2))
    moved = baselines.to_bytes(model_name, other) != artifact
    assert moved == (model_name == "segments")  # only the segment rules read the population
    assert (baselines.version(model_name, baselines.to_bytes(model_name, other)) !=
            baselines.version(model_name, artifact)) == moved  # fmt: skip
    assert baselines.version(model_name, artifact).startswith(f"baseline-{model_name}-")


def test_unfitted_segment_rules_cannot_be_recorded() -> None:
    with pytest.raises(ValueError, match="fitted before they are recorded"):
        baselines.to_bytes("segments", baselines.SegmentRules())


def _new_rows(wh: Path, model: str, before: int) -> pd.DataFrame:
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    try:
        return con.execute(
            f"select * from ml.ml_{model}__score order by scored_at, prediction_id offset {before}"
        ).df()
    finally:
        con.close()


def _count(wh: Path, sql: str) -> int:
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()[0][0]
    finally:
        con.close()


def test_new_orders_for_one_customer_rescore_that_customer_only(
    built: Path, tmp_path: Path
) -> None:
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    models = ("churn", "clv", "segments")
    before = {m: _count(wh, f"select count(*) from ml.ml_{m}__score") for m in models}
    served_before = _count(
        wh, "select score from serving.fct_customer_scores where model_name = 'churn' "
        "and customer_id = 1"
    )  # fmt: skip

    dbt_build(wh)  # no new data: nothing scored, but the build is recorded
    assert {m: _count(wh, f"select count(*) from ml.ml_{m}__score") for m in models} == before

    # customer 1's order of March, known only since 20 November: their features at the last
    # as_of (1 December) change; nobody else's do
    late = tmp_path / "late.csv"
    late.write_text(
        "order_id,customer_id,ordered_at,amount,_available_at\n"
        "990000002,1,2025-03-10 10:00:00,40.00,2025-11-20 08:00:00\n"
    )
    done = cli(wh, "load", "--target", "ci", "--orders", str(late))
    assert done.returncode == 0, done.stderr
    dbt_build(wh)
    churn = _new_rows(wh, "churn", before["churn"])
    assert churn["customer_id"].tolist() == [1]
    assert _new_rows(wh, "clv", before["clv"])["customer_id"].tolist() == [1]
    # the segment rules were fitted once, by the first build: one customer's spend moves the
    # population's medians, not the recorded rules, so nobody else is scored again
    assert _new_rows(wh, "segments", before["segments"])["customer_id"].tolist() == [1]
    fitted = _count(wh, "select count(*) from lineage.baseline_runs where model_name = 'segments'")
    assert fitted == 1
    served = _count(
        wh, "select prediction_id from serving.fct_customer_scores where model_name = 'churn' "
        "and customer_id = 1"
    )  # fmt: skip
    assert served == churn["prediction_id"].iloc[0]
    assert served_before is not None
    # lineage says which prediction stood when: the old one until the new one was scored
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    try:
        stood = con.execute(
            "select prediction_id, valid_from, valid_until from lineage.prediction_versions "
            "where customer_id = 1 and model_name = 'churn' and version_kind = 'original' "
            "order by valid_from"
        ).fetchall()
        open_ended = con.execute(
            "select count(*) from lineage.prediction_versions where model_name = 'churn' "
            "and valid_until is null"
        ).fetchall()[0][0]
    finally:
        con.close()
    assert stood[-1] == (served, stood[-1][1], None)
    assert stood[-2][2] == stood[-1][1]  # the earlier one stood until the new one
    assert open_ended == 1000  # one standing prediction per customer


def test_the_standing_builds_are_the_macros_finished_servable_builds() -> None:
    """One rule, two languages: the Python SQL scoring reads equals the macro views use."""
    from conftest import REPO

    from customer_ml.records import lineage

    macro = (REPO / "macros" / "build_records.sql").read_text()
    body = macro.split("macro finished_servable_builds() -%}", 1)[1].split("{%- endmacro", 1)[0]
    rendered = " ".join(body.replace("{{ source('lineage', 'builds') }}", "lineage.builds").split())
    assert rendered == " ".join(lineage.FINISHED_SERVABLE_BUILDS.split())
