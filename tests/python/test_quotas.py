"""Issue 18: training runs in a child process under its model's quotas."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import dbt_build, git, promote_by_record, snapshot_project

HELPERS = Path(__file__).parent / "helpers"
QUOTA = {"max_seconds": 60, "max_memory_mb": 4096, "threads": 1}


@pytest.fixture
def targets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(HELPERS))  # the child imports quota_targets


def test_a_child_returns_its_result_and_what_it_used(targets) -> None:
    from customer_ml.pipeline import quotas

    result, usage = quotas.run(quotas.parse("m", QUOTA), "quota_targets:answer")
    assert result == 42 and usage.stage == "fit"
    assert usage.wall_s > 0 and usage.peak_rss_mb > 0


@pytest.mark.parametrize(
    ("target", "limits", "limit", "stage"),
    [
        # 20 s: the child's start-up (imports) must finish inside the quota on a loaded machine
        ("sleep_in_fit", {"max_seconds": 20}, "max_seconds", "fit"),
        ("grow_in_evaluate", {"max_memory_mb": 300}, "max_memory_mb", "evaluate"),
    ],
)
def test_over_a_quota_the_child_is_terminated_naming_limit_value_and_stage(
    targets, target: str, limits: dict, limit: str, stage: str
) -> None:
    from customer_ml.pipeline import quotas

    with pytest.raises(quotas.QuotaExceeded) as caught:
        quotas.run(quotas.parse("m", {**QUOTA, **limits}), f"quota_targets:{target}")
    e = caught.value
    assert (e.limit, e.allowed, e.usage.stage) == (limit, limits[limit], stage)
    assert e.measured > e.allowed
    assert f"in stage {stage}: {limit} {limits[limit]}" in str(e)


def test_a_failing_child_raises_its_error_line(targets) -> None:
    from customer_ml.pipeline import quotas

    with pytest.raises(RuntimeError, match="^ValueError: no holdout rows$"):
        quotas.run(quotas.parse("m", QUOTA), "quota_targets:fail_in_describe")


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"max_seconds": 0}, "m.quotas.max_seconds: Input should be greater than 0 (given: 0)"),
        ({"max_memory_mb": "lots"}, "m.quotas.max_memory_mb: Input should be a valid number"),
        ({"max_seconds": float("nan")}, "m.quotas.max_seconds: Input should be a finite number"),
        ({"threads": 1.5}, "m.quotas.threads: Input should be a valid integer (given: 1.5)"),
        ({"max_memroy_mb": 5}, "m.quotas.max_memroy_mb: unknown key (a typo?) (given: 5)"),
    ],
)
def test_a_bad_quota_is_one_line(limits: dict, message: str) -> None:
    from customer_ml.config import OperatorError
    from customer_ml.pipeline import quotas

    with pytest.raises(OperatorError) as caught:
        quotas.parse("m", {**QUOTA, **limits})
    assert f"config/models.yml: {message}" in str(caught.value), str(caught.value)
    assert "\n" not in str(caught.value)


def test_terminated_runs_are_recorded_and_the_champion_still_scores(
    built: Path, tmp_path: Path
) -> None:
    """Churn over its memory quota and segments over its time quota, in one build: each is
    terminated and recorded (status, limit, measured value, stage) and alerted, and churn's
    scoring in the same build serves the champion."""

    project = snapshot_project(tmp_path / "project")
    models = project / "config" / "models.yml"
    text = models.read_text()
    text = text.replace(
        "quotas: {max_seconds: 3600, max_memory_mb: 16384, threads: 2}",
        "quotas: {max_seconds: 3600, max_memory_mb: 60, threads: 2}",
        1,
    )
    text = text.replace(
        "quotas: {max_seconds: 3600, max_memory_mb: 8192, threads: 2}",
        "quotas: {max_seconds: 0.5, max_memory_mb: 8192, threads: 2}",
    )
    models.write_text(text)
    git(project, "commit", "-qam", "tight quotas")
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    run = promote_by_record(wh, "churn")
    nodes = ("ml_churn__train", "ml_segments__train", "ml_churn__score", "fct_customer_scores")
    done = dbt_build(wh, "--select", *nodes, project=project, check=False)
    assert done.returncode != 0  # the training nodes failed, visibly
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    costs = con.execute(
        "select model_name, status, limit_name, limit_value, measured_value > limit_value, stage "
        "from lineage.run_costs where status = 'terminated' order by model_name"
    ).fetchall()
    uncosted = con.execute(  # every training run has its cost row
        "select training_run_id from lineage.training_runs except "
        "select training_run_id from lineage.run_costs where status = 'success'"
    ).fetchall()
    failures = con.execute(
        "select model_name, status from lineage.training_failures order by model_name"
    ).fetchall()
    alerts = con.execute("select model_name, alert_kind from lineage.alerts order by 1").fetchall()
    served = con.execute(
        "select distinct model_kind, training_run_id from serving.fct_customer_scores "
        "where model_name = 'churn'"
    ).fetchall()
    con.close()
    assert [c[:5] for c in costs] == [
        ("churn", "terminated", "max_memory_mb", 60.0, True),
        ("segments", "terminated", "max_seconds", 0.5, True),
    ]
    assert all(stage in ("starting", "split", "fit", "evaluate", "describe") for *_, stage in costs)
    assert failures == [("churn", "terminated"), ("segments", "terminated")]
    assert uncosted == []
    assert alerts == [("churn", "training_terminated"), ("segments", "training_terminated")]
    assert served == [("champion", run)]


# --- cost (issue 18 item 3) ---


def test_the_estimate_is_the_rate_card_applied_by_hand() -> None:
    from customer_ml.pipeline import costs

    rates = costs.rate_card()  # seeds/rate_card.csv: 0.048 per CPU-hour, 0.006 per GB-hour
    assert rates == {"cpu": 0.048, "memory": 0.006}
    assert costs.estimate(3600, 3600, 1024) == 0.054  # 1 CPU-hour + 1 GB for an hour
    assert costs.estimate(900, 1800, 2048) == 0.018  # 0.25 * 0.048 + 2 * 0.5 * 0.006


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        ("resource,unit,price_usd\ncpu,cpu_hour,0.048\n", "for resource memory (got None)"),
        ("resource,unit,price_usd\ncpu,cpu_hour,\nmemory,gb_hour,1\n", "for resource cpu (got '')"),
        ("resource,unit,price_usd\ncpu,cpu_hour,-1\nmemory,gb_hour,1\n", "resource cpu (got '-1')"),
    ],
)
def test_a_bad_rate_card_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, csv: str, message: str
) -> None:
    from customer_ml.config import OperatorError
    from customer_ml.pipeline import costs

    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "rate_card.csv").write_text(csv)
    monkeypatch.setenv("CUSTOMER_ML_HOME", str(tmp_path))
    with pytest.raises(OperatorError, match="no valid price_usd") as caught:
        costs.rate_card()
    assert str(caught.value).endswith(message)


def test_a_budget_overrun_alerts_once_a_month() -> None:
    """churn's budget is USD 50 (config/models.yml): 30, then 30 (over: one alert), then 30
    more (still one)."""
    from customer_ml.pipeline import costs
    from customer_ml.records import lineage, store

    con = duckdb.connect()
    store.create_all(con)
    for _ in range(3):
        store.append(con, "run_costs", {"model_name": "churn", "estimated_cost_usd": 30.0,
                       "recorded_at": lineage.utc_now().replace(tzinfo=None)})  # fmt: skip
        costs.check_budget(con, "churn")
    [(kind, n, message)] = con.execute(
        "select alert_kind, count(*), any_value(message) from lineage.alerts group by 1"
    ).fetchall()
    assert (kind, n) == ("training_budget_exceeded", 1)
    assert "USD 60.0000 this month, over the monthly budget of USD 50" in message


def test_costs_sum_per_model_and_month(built: Path) -> None:
    import pandas as pd

    con = duckdb.connect(str(built / "ci.duckdb"), read_only=True)
    runs = con.execute("select * from lineage.run_costs").df()
    monthly = con.execute("select * from monitoring.training_costs_by_month").df()
    trained = con.execute("select count(*) from lineage.training_runs").fetchall()[0][0]
    con.close()
    assert len(runs) == trained == 3 and (runs["estimated_cost_usd"] > 0).all()
    assert (runs["bytes_scanned"] > 0).all()  # each training node's inputs, read from storage
    runs["cost_month"] = pd.to_datetime(runs["recorded_at"]).dt.to_period("M").dt.start_time
    expected = runs.groupby(["model_name", "cost_month"], as_index=False).agg(
        runs=("model_name", "size"), estimated_cost_usd=("estimated_cost_usd", "sum")
    )
    got = monthly[["model_name", "cost_month", "runs", "estimated_cost_usd"]].copy()
    got["cost_month"] = pd.to_datetime(got["cost_month"])
    merged = expected.merge(got, on=["model_name", "cost_month"], suffixes=("", "_model"))
    assert len(merged) == len(expected) == len(got)
    assert (merged["runs"] == merged["runs_model"]).all()
    assert ((merged["estimated_cost_usd"] - merged["estimated_cost_usd_model"]).abs() < 1e-9).all()


def test_bytes_scanned_are_what_the_scans_read_cached_or_not(tmp_path: Path) -> None:
    from customer_ml.pipeline import costs

    path = str(tmp_path / "w.duckdb")
    with duckdb.connect(path) as con:
        con.execute("create table small as select range as i, random() as x from range(10000)")
        con.execute("create table large as select range as i, random() as x from range(2000000)")
    with duckdb.connect(path) as con:  # a cold buffer pool, then a warm one
        small, small_bytes = costs.read(con, con.table("small"))
        large, cold = costs.read(con, con.table("large").filter("i % 2 = 0"))
        _, warm = costs.read(con, con.table("large").filter("i % 2 = 0"))
        _, one_column = costs.read(con, con.table("large").select("x"))
        assert con.execute("select current_setting('enable_profiling')").fetchall() != [("json",)]
    assert (len(small), len(large)) == (10000, 1000000)
    assert 0 < small_bytes < cold == warm  # the same bytes, whatever the cache held
    assert one_column == 2_000_000 * 8  # one DOUBLE column: only the columns read count


def test_an_over_cap_dataset_is_sampled_identically_and_hashed() -> None:
    """The row cap (max_training_rows) is the throttle: a seeded sample, the same whatever order
    the rows arrive in, and its hash (recorded as training_rows_hash) says so."""
    import numpy as np
    import pandas as pd

    from customer_ml.models import churn
    from customer_ml.records.lineage import rows_hash

    rng = np.random.default_rng(0)
    dataset = pd.DataFrame(
        {
            "as_of": pd.to_datetime(np.repeat(["2025-01-01", "2025-02-01", "2025-03-01"], 400)),
            "customer_id": np.tile(np.arange(400), 3),
            "churned": rng.integers(0, 2, 1200),
        }
    )
    cfg = {"max_training_rows": 500, "validation_as_of_count": 1}
    first = churn.split(dataset, cfg, 42)
    again = churn.split(dataset.sample(frac=1, random_state=1), cfg, 42)
    other_seed = churn.split(dataset, cfg, 43)
    assert sum(len(part) for part in first) == 500
    assert rows_hash(*first) == rows_hash(*again) != rows_hash(*other_seed)
    # the hash does not depend on row order (CLV's split keeps the warehouse's order), only on
    # the rows: shuffled, equal; one value changed, different
    train, holdout = first
    shuffled = train.sample(frac=1, random_state=3)
    assert rows_hash(shuffled, holdout) == rows_hash(train, holdout)
    changed = train.copy()
    changed.loc[changed.index[0], "churned"] = 1 - changed["churned"].iloc[0]
    assert rows_hash(changed, holdout) != rows_hash(train, holdout)


def test_training_and_scoring_are_separate_selections(tmp_path: Path) -> None:
    """selectors.yml: `scoring` has no training node, `training` no scoring node; the daily
    `scoring` leaves out the full-history verifications of data snapshots and of the lineage
    chain, which `ci` keeps (they are also `customer-ml verify-snapshots` / `verify-lineage`)."""
    from conftest import dbt

    listed = {}
    verifies = {}
    for selector in ("scoring", "training", "ci"):
        done = dbt(tmp_path, "ls", "--selector", selector, "--resource-type", "model",
                   "--resource-type", "test", "--output", "name", "--quiet")  # fmt: skip
        names = set(done.stdout.split())
        listed[selector] = {n for n in names if n.startswith("ml_")}
        verifies[selector] = {
            "assert_data_snapshots_verify",
            "assert_lineage_chain_verifies",
        } & names
    assert listed == {
        "scoring": {"ml_churn__score", "ml_clv__score", "ml_segments__score"},
        "training": {"ml_churn__train", "ml_clv__train", "ml_segments__train"},
        "ci": {f"ml_{m}__{s}" for m in ("churn", "clv", "segments") for s in ("train", "score")},
    }
    assert verifies == {
        "scoring": set(),
        "training": set(),
        "ci": {"assert_data_snapshots_verify", "assert_lineage_chain_verifies"},
    }


def test_a_bad_quota_stops_the_build_before_anything_runs(built: Path, tmp_path: Path) -> None:
    project = snapshot_project(tmp_path / "project")
    models = project / "config" / "models.yml"
    models.write_text(models.read_text().replace("max_memory_mb: 8192", "max_memory_mb: -1", 1))
    git(project, "commit", "-qam", "a negative quota")
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    done = dbt_build(wh, "--select", "ml_segments__train", project=project, check=False)
    assert done.returncode != 0
    assert (
        "segments.quotas.max_memory_mb: Input should be greater than 0 (given: -1)" in done.stdout
    )
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    builds = con.execute("select count(*) from lineage.invocations").fetchall()
    con.close()
    con = duckdb.connect(str(built / "ci.duckdb"), read_only=True)
    assert builds == con.execute("select count(*) from lineage.invocations").fetchall()
    con.close()
