"""Backfills (customer_ml.replay.backfill): a backfill reads production only through a READ_ONLY
attach, copies only what its watermark and cohort allow, recomputes that slice exactly as production
computed it, and refuses a malformed request with one line before anything is written."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest
from conftest import cli, dbt_build, load_tiny

from customer_ml import config
from customer_ml.records import store
from customer_ml.replay import backfill


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def two_loads(tmp_path: Path, tiny_data: Path) -> tuple[Path, str]:
    """A ci warehouse with the tiny data loaded, then one more order loaded later; returns the
    warehouse dir and a watermark between the two loads."""
    wh = tmp_path / "wh"
    load_tiny(wh, tiny_data)
    con = duckdb.connect(str(wh / "ci.duckdb"))
    [(first,)] = con.execute("select max(loaded_at) from raw._loads").fetchall()
    con.close()
    more = tmp_path / "more.csv"
    more.write_text("customer_id,ordered_at,amount\n1,2025-12-20 10:00:00,12.5\n")
    assert cli(wh, "load", "--target", "ci", "--orders", str(more)).returncode == 0
    return wh, first.strftime("%Y-%m-%d %H:%M:%S.%f")


def _spec(**given: str) -> dict:
    return backfill.spec({"backfill_of": "ci", **given}, on_backfill_target=True)


def _backfill_file(
    production_dir: Path, path: Path, monkeypatch: pytest.MonkeyPatch
) -> duckdb.DuckDBPyConnection:
    """A backfill's own warehouse file, its lineage tables created, for production_dir's ci."""
    monkeypatch.setenv("CUSTOMER_ML_WAREHOUSE_DIR", str(production_dir))
    con = duckdb.connect(str(path))
    store.create_all(con)
    return con


def test_a_backfill_copies_what_its_watermark_allows_and_cannot_write_production(
    two_loads: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh, watermark = two_loads
    production = wh / "ci.duckdb"
    before = _sha256(production)
    con = _backfill_file(wh, tmp_path / "b1.duckdb", monkeypatch)
    copied = backfill.prepare(con, _spec(backfill_id="b1", watermark=watermark))
    # Only rows loaded by the watermark: the later order is not there.
    prod = duckdb.connect(str(production), read_only=True)
    expected = prod.execute(
        "select count(*) from raw.orders where _loaded_at <= cast(? as timestamp)", [watermark]
    ).fetchone()[0]
    total = prod.execute("select count(*) from raw.orders").fetchone()[0]
    prod.close()
    assert copied["raw.orders"] == expected == total - 1
    assert con.execute("select count(*) from raw.orders").fetchone()[0] == expected
    [started] = store.read(con, "select * from lineage.backfills")
    assert started["status"] == "started"
    assert started["watermark"].strftime("%Y-%m-%d %H:%M:%S.%f") == watermark
    # The attach the backfill reads production through refuses writes.
    config.attach_read_only(con, production, "production")
    with pytest.raises(duckdb.Error, match="(?i)read.only"):
        con.execute("insert into production.raw.orders select * from raw.orders limit 1")
    with pytest.raises(duckdb.Error, match="(?i)read.only"):
        con.execute("delete from production.raw.orders")
    con.execute("detach production")
    con.close()
    assert _sha256(production) == before


def test_a_cohort_copies_only_its_customers(
    two_loads: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh, _ = two_loads
    ids = tmp_path / "cohort.csv"
    ids.write_text("customer_id\n1\n2\n3\n")
    con = _backfill_file(wh, tmp_path / "b2.duckdb", monkeypatch)
    backfill.prepare(con, _spec(backfill_id="b2", cohort_file=str(ids)))
    for table in ("orders", "customers", "engagement_events"):
        found = {
            r[0] for r in con.execute(f"select distinct customer_id from raw.{table}").fetchall()
        }
        assert found and found <= {1, 2, 3}, table
    # A rule of the reviewed seed: each customer's latest country known at the watermark.
    con2 = _backfill_file(wh, tmp_path / "b3.duckdb", monkeypatch)
    backfill.prepare(con2, _spec(backfill_id="b3", cohort="country_gb"))
    con2.execute(f"attach '{wh / 'ci.duckdb'}' as p (read_only)")
    expected = {
        r[0]
        for r in con2.execute(
            "select customer_id from p.raw.customers qualify row_number() over (partition by "
            "customer_id order by updated_at desc, _available_at desc) = 1 and country = 'GB'"
        ).fetchall()
    }
    got = {r[0] for r in con2.execute("select distinct customer_id from raw.customers").fetchall()}
    assert got == expected and expected
    [started] = store.read(con2, "select * from lineage.backfills")
    assert started["cohort_customers"] == len(expected)
    # The same id again with other vars is refused; with the same vars it continues.
    with pytest.raises(config.OperatorError, match="started with other vars"):
        backfill.prepare(con2, _spec(backfill_id="b3", cohort="country_us"))
    assert backfill.prepare(con2, _spec(backfill_id="b3", cohort="country_gb")) == {}


@pytest.mark.parametrize(
    ("given", "target", "message"),
    [
        ({"backfill_id": "../ci"}, True, "is not a backfill id"),
        ({}, True, "is not a backfill id"),
        ({"backfill_id": "x" * 65}, True, "is not a backfill id"),
        ({"backfill_id": "ok"}, False, "only apply to a backfill"),
        ({"backfill_id": "ok", "backfill_of": "experiment"}, True, "not a production target"),
        ({"backfill_id": "ok", "cohort": "country_xx"}, True, "not a cohort of seeds/cohorts"),
        ({"backfill_id": "ok", "cohort": "country_gb", "cohort_file": "x.csv"}, True, "not both"),
        ({"backfill_id": "ok", "cohort_file": "/nonexistent.csv"}, True, "is not a file"),
        ({"backfill_id": "ok", "watermark": "yesterday"}, True, "is not a time"),
        ({"backfill_id": "ok", "as_of_start": "2025-13-01"}, True, "is not a date"),
        (
            {"backfill_id": "ok", "as_of_start": "2025-09-01", "as_of_end": "2025-06-01"},
            True,
            "ends before it starts",
        ),
    ],
)
def test_a_malformed_backfill_request_is_refused_with_one_line(
    given: dict, target: bool, message: str
) -> None:
    with pytest.raises(config.OperatorError, match=message) as refused:
        backfill.spec(given, on_backfill_target=target)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("start", "end"), [("2999-01-01", "2999-12-01"), ("1999-01-01", "1999-12-01")]
)
def test_an_as_of_range_outside_the_data_is_refused_and_changes_nothing(
    two_loads: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start, end
) -> None:
    wh, _ = two_loads
    before = _sha256(wh / "ci.duckdb")
    con = _backfill_file(wh, tmp_path / "b.duckdb", monkeypatch)
    with pytest.raises(config.OperatorError, match="is outside the data: orders loaded by"):
        backfill.prepare(con, _spec(backfill_id="b", as_of_start=start, as_of_end=end))
    assert con.execute("select count(*) from lineage.backfills").fetchone()[0] == 0
    con.close()
    assert _sha256(wh / "ci.duckdb") == before


def test_a_watermark_with_an_offset_is_read_as_utc() -> None:
    s = _spec(backfill_id="tz", watermark="2025-09-30T23:30:00-02:00")
    assert s["watermark"] == "2025-10-01 01:30:00.000000"
    assert _spec(backfill_id="tz", watermark="2025-09-30")["watermark"] == (
        "2025-09-30 00:00:00.000000"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id\n1\n", "line 1 must be the header customer_id"),
        ("customer_id\n1\nDROP TABLE x\n", "line 3: 'DROP TABLE x' is not a customer id"),
        ("customer_id\n", "no customer ids"),
    ],
)
def test_a_bad_cohort_file_names_its_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "c.csv"
    path.write_text(content)
    with pytest.raises(config.OperatorError, match=message):
        backfill.read_cohort_file(path)


def test_a_backfill_build_recomputes_its_slice_as_production_did(
    built: Path, tmp_path: Path
) -> None:
    """`dbt build --target backfill --selector backfill` for a cohort and an as_of range: its
    features equal production's on every row of the slice, its labels are production's (a
    cohort's own data end can only leave a borderline label out, never change one), production's
    file is unchanged, and the backfill is recorded as succeeded with its outputs' row counts."""
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    production = wh / "ci.duckdb"
    before = _sha256(production)
    vars_ = {"backfill_id": "gb-summer", "backfill_of": "ci", "cohort": "country_gb",
             "as_of_start": "2025-06-01", "as_of_end": "2025-09-01"}  # fmt: skip
    done = dbt_build(
        wh, "--target", "backfill", "--selector", "backfill", "--vars", json.dumps(vars_)
    )
    assert "ERROR=0" in done.stdout
    assert _sha256(production) == before
    con = duckdb.connect(str(wh / "backfills" / "gb-summer.duckdb"), read_only=True)
    con.execute(f"attach '{production}' as p (read_only)")
    for relation in ("features.customer_features_v1", "features.customer_features_v2"):
        n = con.execute(f"select count(*) from {relation}").fetchone()[0]
        assert n > 0
        assert con.execute(f"select min(as_of), max(as_of) from {relation}").fetchone() == (
            date(2025, 6, 1),
            date(2025, 9, 1),
        )
        # every production row of the slice is there...
        assert (
            n
            == con.execute(
                f"select count(*) from p.{relation} where as_of between '2025-06-01' and "
                "'2025-09-01' and customer_id in (select customer_id from raw.customers)"
            ).fetchone()[0]
        )
        # ...with production's values
        differing = con.execute(
            f"select count(*) from (select * from {relation} except "
            f"select p_rel.* from p.{relation} p_rel join {relation} b using (customer_id, as_of))"
        ).fetchone()[0]
        assert differing == 0, relation
    labels = "labels.churn_labels_v1"
    assert con.execute(f"select count(*) from {labels}").fetchone()[0] > 0
    assert (
        con.execute(
            f"select count(*) from (select * from {labels} except select * from p.{labels})"
        ).fetchone()[0]
        == 0
    )
    statuses = [
        r["status"]
        for r in store.read(
            con, "select status from lineage.backfills order by recorded_at, status desc"
        )
    ]
    assert statuses == ["started", "succeeded"]
    [finished] = store.read(con, "select * from lineage.backfills where status = 'succeeded'")
    counts = json.loads(finished["row_counts_json"])
    assert counts["features.customer_features_v1"] == n
    assert json.loads(finished["snapshot_ids"])
    con.close()
    listed = cli(wh, "backfill", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["backfill_id"], row["status"]) == ("gb-summer", "succeeded")
    assert row["cohort"]["cohort"] == "country_gb"
    # diff: nothing differs from production in the slice...
    diffed = cli(wh, "backfill", "diff", "gb-summer", "--json")
    assert diffed.returncode == 0, diffed.stderr
    slices = json.loads(diffed.stdout)["relations"]
    features = [r for r in slices if r["relation"] == "features.customer_features_v1"]
    assert [r["as_of"] for r in features] == [
        "2025-06-01",
        "2025-07-01",
        "2025-08-01",
        "2025-09-01",
    ]
    assert all(r["backfill"] == r["production"] > 0 for r in features)
    # (CLV's datasets have no as_of: their calibration period ends at the last as_of of the
    # range, so a shorter range is a different calibration, and they differ, as they should)
    per_as_of = [r for r in slices if r["as_of"] is not None]
    assert {r["relation"] for r in per_as_of} >= {
        "labels.churn_labels_v1",
        "labels.churn_labels_v2",
    }
    assert not any(r["only_backfill"] or r["only_production"] for r in per_as_of)
    # ...until a value in it changes: one row changed at one as_of is one row on each side
    con = duckdb.connect(str(wh / "backfills" / "gb-summer.duckdb"))
    con.execute(
        "update features.customer_features_v1 set orders_lifetime = orders_lifetime + 1 "
        "where as_of = '2025-07-01' and customer_id = (select min(customer_id) from "
        "features.customer_features_v1 where as_of = '2025-07-01')"
    )
    con.close()
    rediffed = json.loads(cli(wh, "backfill", "diff", "gb-summer", "--json").stdout)["relations"]
    changed = [
        (r["relation"], r["as_of"], r["only_backfill"], r["only_production"])
        for r in rediffed
        if (r["only_backfill"] or r["only_production"]) and r["as_of"] is not None
    ]
    assert changed == [("features.customer_features_v1", "2025-07-01", 1, 1)]
    # and CLV's period datasets (another calibration end, see above)
    whole = {r["relation"] for r in rediffed if r["as_of"] is None and r["only_backfill"]}
    assert whole == {
        "datasets.clv_transactions_v1", "datasets.clv_summaries", "labels.clv_holdout_v1"
    }  # fmt: skip
    text = cli(wh, "backfill", "diff", "gb-summer").stdout
    # the verdict leads with predictions and judges features; labels and datasets, computed up
    # to how far the cohort's data reaches, are listed as differing by construction
    assert re.search(r"verdict: \d+ past prediction\(s\) would change; 1 of \d+ feature "
                     r"slices differ", text), text  # fmt: skip
    assert "datasets.clv_summaries (by construction)" in text


def _relation_digest(con: duckdb.DuckDBPyConnection, relation: str, where: str = "true") -> str:
    """md5 of every row's text, in key order: equal digests are byte-identical contents."""
    return con.execute(
        f"select count(*) || ':' || md5(string_agg(cast(t as varchar), '|' "
        f"order by customer_id, as_of)) from {relation} t where {where}"
    ).fetchone()[0]


def test_a_full_backfill_over_a_past_year_gives_the_features_production_computed(
    built: Path, tmp_path: Path
) -> None:
    """Every customer, every as_of of 2025: the backfill's features (both versions) and labels
    are byte-identical to what the regular build computed; a changed value would show as a
    different digest (checked by changing one)."""
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    vars_ = {"backfill_id": "full-2025", "backfill_of": "ci",
             "as_of_start": "2025-01-01", "as_of_end": "2025-12-01"}  # fmt: skip
    done = dbt_build(
        wh, "--target", "backfill", "--selector", "backfill", "--vars", json.dumps(vars_)
    )
    assert "ERROR=0" in done.stdout
    con = duckdb.connect(str(wh / "backfills" / "full-2025.duckdb"))
    con.execute(f"attach '{wh / 'ci.duckdb'}' as p (read_only)")
    year = "as_of between '2025-01-01' and '2025-12-01'"
    relations = ("features.customer_features_v1", "features.customer_features_v2",
                 "labels.churn_labels_v1", "labels.churn_labels_v2")  # fmt: skip
    for relation in relations:
        mine = _relation_digest(con, relation)
        assert int(mine.split(":")[0]) > 0, relation
        assert mine == _relation_digest(con, f"p.{relation}", year), relation
    con.execute(
        "update features.customer_features_v1 set amount_365d = amount_365d + 0.01 "
        "where customer_id = (select min(customer_id) from features.customer_features_v1)"
    )
    assert _relation_digest(con, "features.customer_features_v1") != _relation_digest(
        con, "p.features.customer_features_v1", year
    )
    con.close()


def test_a_backfill_retrains_on_a_past_watermark_in_its_own_file(
    two_loads: tuple[Path, str],
) -> None:
    """`--selector backfill_training` with a past watermark: every model trains in the
    backfill's file on the raw rows loaded by then (its recorded raw.orders snapshot has the
    watermark's row count), production's file is unchanged, and production cannot promote
    what the backfill trained."""
    wh, watermark = two_loads
    production = wh / "ci.duckdb"
    before = _sha256(production)
    vars_ = {"backfill_id": "as-loaded", "backfill_of": "ci", "watermark": watermark}
    done = dbt_build(
        wh, "--target", "backfill", "--selector", "backfill_training", "--vars", json.dumps(vars_)
    )
    assert "ERROR=0" in done.stdout
    assert _sha256(production) == before
    prod = duckdb.connect(str(production), read_only=True)
    loaded_by_then = prod.execute(
        "select count(*) from raw.orders where _loaded_at <= cast(? as timestamp)", [watermark]
    ).fetchone()[0]
    prod.close()
    con = duckdb.connect(str(wh / "backfills" / "as-loaded.duckdb"), read_only=True)
    runs = {
        model: con.execute(
            f"select training_run_id, snapshot_ids from ml.ml_{model}__train"
        ).fetchall()
        for model in ("churn", "clv", "segments")
    }
    [(churn_run, snapshots)] = runs["churn"]
    orders = con.execute(
        "select row_count from lineage.data_snapshots where snapshot_id = ?",
        [json.loads(snapshots)["raw.orders"]],
    ).fetchone()[0]
    con.close()
    assert all(len(r) == 1 for r in runs.values()), runs
    assert orders == loaded_by_then
    refused = cli(wh, "promote", "churn", "--run", churn_run, "--target", "ci")
    assert refused.returncode == 1 and churn_run in refused.stderr


def test_backfill_diff_rescores_production_past_predictions_with_the_model_that_served_them(
    built: Path, tmp_path: Path
) -> None:
    """A churn champion serves 2025-12-01; a backfill of that as_of rescoring production's
    predictions with the very champion (and the segment rule) on its own inputs changes
    nothing — until one customer's recomputed features differ: then exactly that customer's
    churn score is reported changed, with its largest change, and the HTML report says so."""
    from conftest import promote_by_record

    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    champion = promote_by_record(wh, "churn")
    dbt_build(wh, "--select", "ml_churn__score")
    vars_ = {"backfill_id": "december", "backfill_of": "ci",
             "as_of_start": "2025-12-01", "as_of_end": "2025-12-01"}  # fmt: skip
    dbt_build(wh, "--target", "backfill", "--selector", "backfill", "--vars", json.dumps(vars_))

    def predictions() -> dict[str, dict]:
        done = cli(wh, "backfill", "diff", "december", "--json")
        assert done.returncode == 0, done.stderr
        found = json.loads(done.stdout)
        return {(p["model"], p["served_by"]): p for p in found["predictions"]}, found["report"]

    unchanged, _ = predictions()
    churn = unchanged[("churn", champion)]
    assert churn["as_of"] == "2025-12-01" and churn["customers"] > 0
    assert all(p.get("changed") == 0 for p in unchanged.values()), unchanged
    con = duckdb.connect(str(wh / "backfills" / "december.duckdb"))
    [(customer,)] = con.execute(
        "update features.customer_features_v1 set days_since_last_order = 2000, orders_30d = 0, "
        "orders_90d = 0, orders_365d = 0, sessions_30d = 0, sessions_90d = 0 "
        "where customer_id = (select min(customer_id) from features.customer_features_v1 "
        "where orders_90d > 2) returning customer_id"
    ).fetchall()
    con.close()
    changed, report = predictions()
    assert changed[("churn", champion)]["changed"] == 1
    assert changed[("churn", champion)]["largest_change"] > 0
    page = " ".join(re.sub(r"<[^>]+>", " ", Path(report).read_text()).split())
    assert Path(report).read_text().count('src="data:image/png;base64,') == 2  # the two plots
    total = sum(p.get("changed") or 0 for p in changed.values())  # the baseline's too
    assert champion in page and f"{total} past predictions would change" in page
    # in business terms: the campaign at churn's decision threshold, served and backfilled
    served = changed[("churn", champion)]["campaign_size"]
    assert served["served"] - served["backfilled"] in (-1, 0, 1)
    assert (
        f"campaign size (at or above the decision threshold) served {served['served']:,}, "
        f"backfilled {served['backfilled']:,}" in page
    )


def test_a_backfill_diff_says_what_changes_in_business_terms() -> None:
    """Campaign size at the decision threshold (churn) and total value (a currency model),
    served and backfilled, computed here by hand."""
    import pandas as pd

    from customer_ml import catalogue
    from customer_ml.replay.backfill_predictions import diff

    both = pd.DataFrame({"score": [0.2, 0.6, 0.7, 40.0], "new": [0.55, 0.4, 0.7, 40.0]})
    [churn] = diff([(catalogue.entry("churn"), {"model": "churn"}, both.head(3))])
    assert churn["campaign_size"] == {"served": 2, "backfilled": 2}
    assert (churn["crossed_up"], churn["crossed_down"], churn["changed"]) == (1, 1, 2)
    [clv] = diff([(catalogue.entry("clv"), {"model": "clv"}, both)])
    assert clv["total_value"] == {"served": pytest.approx(41.5), "backfilled": pytest.approx(41.65)}
    assert "campaign_size" not in clv


def test_production_lists_every_backfill_run_against_it(built: Path, tmp_path: Path) -> None:
    """Issue 35: backfills were recorded only in their own files. Production's next build
    appends (sealed, once) every record of the backfills run against it."""
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    vars_ = {"backfill_id": "listed", "backfill_of": "ci",
             "as_of_start": "2025-12-01", "as_of_end": "2025-12-01"}  # fmt: skip
    dbt_build(wh, "--target", "backfill", "--selector", "backfill", "--vars", json.dumps(vars_))

    def listed() -> list[tuple]:
        con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
        try:
            return con.execute("select backfill_id, status from lineage.backfills "
                               "order by recorded_at").fetchall()  # fmt: skip
        finally:
            con.close()

    assert listed() == []
    for _ in range(2):  # a second build adds nothing
        dbt_build(wh, "--select", "stg_shop__orders")
        assert listed() == [("listed", "started"), ("listed", "succeeded")]
    assert cli(wh, "verify-lineage", "--target", "ci").returncode == 0


def test_a_cohort_backfill_with_identical_features_changes_no_prediction(
    built: Path, tmp_path: Path
) -> None:
    """Issue 35: the segment rules took their medians from whatever population they scored, so a
    country cohort backfill with byte-identical features "changed" segment predictions (and
    publish offered them). The rules read production's whole population at the as_of."""
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    vars_ = {"backfill_id": "gb-dec", "backfill_of": "ci", "cohort": "country_gb",
             "as_of_start": "2025-12-01", "as_of_end": "2025-12-01"}  # fmt: skip
    dbt_build(wh, "--target", "backfill", "--selector", "backfill", "--vars", json.dumps(vars_))
    done = cli(wh, "backfill", "diff", "gb-dec", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["predictions"]
    segments = [p for p in rows if p["model"] == "segments" and p.get("customers")]
    assert segments and all(p.get("changed") == 0 for p in segments), segments
    published = cli(wh, "backfill", "publish", "gb-dec", "--json")
    assert published.returncode == 1 and "nothing to publish" in published.stderr


def test_a_backfill_of_one_feature_version_is_a_mode_whose_diff_works(
    built: Path, tmp_path: Path
) -> None:
    """Issue 35: `--select +customer_features.v2` on the backfill target ran and was recorded,
    then `backfill diff` crashed (datasets.clv_transactions_v1 does not exist). It is a
    documented mode: the diff compares what the backfill built and says which models it could
    not rescore."""
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    vars_ = {"backfill_id": "fv2", "backfill_of": "ci",
             "as_of_start": "2025-12-01", "as_of_end": "2025-12-01"}  # fmt: skip
    dbt_build(wh, "--target", "backfill", "--select", "+customer_features.v2", "--vars",
              json.dumps(vars_))  # fmt: skip
    done = cli(wh, "backfill", "diff", "fv2", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    built_here = {r["relation"] for r in found["relations"]}
    assert "features.customer_features_v2" in built_here
    assert all(r.startswith("features.") for r in built_here), built_here  # no CLV dataset
    notes = {p["model"]: p.get("note") for p in found["predictions"]}
    assert notes["clv"] == "not rescored: the backfill has no inputs for it"
