"""Publishing a backfill's rescored past predictions (customer_ml.governance.backfill_publish):
refused without the model's approvals, for a backfill that did not succeed, for one that changes
nothing, for a predictions file altered after the request, and twice; with the approvals, the
rescored rows are appended, the originals kept, and serving and lineage show the published one as
current."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
from conftest import cli, dbt_build, promote_by_record

from customer_ml.records import store


def _scores(production: Path, customer: int) -> list[tuple]:
    con = duckdb.connect(str(production), read_only=True)
    try:
        return con.execute(
            "select score, backfill_id from serving.fct_customer_scores "
            "where model_name = 'churn' and customer_id = ?",
            [customer],
        ).fetchall()
    finally:
        con.close()


def test_publish_needs_the_approvals_appends_and_keeps_the_originals(
    built: Path, tmp_path: Path
) -> None:
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    production = wh / "ci.duckdb"
    champion = promote_by_record(wh, "churn")
    dbt_build(wh, "--select", "ml_churn__score")
    vars_ = {"backfill_id": "december", "backfill_of": "ci",
             "as_of_start": "2025-12-01", "as_of_end": "2025-12-01"}  # fmt: skip
    dbt_build(wh, "--target", "backfill", "--selector", "backfill", "--vars", json.dumps(vars_))

    def publish(backfill_id: str = "december") -> tuple[int, str, str]:
        done = cli(wh, "backfill", "publish", backfill_id, "--json")
        return done.returncode, done.stdout, done.stderr

    def request_rows() -> int:
        con = duckdb.connect(str(production), read_only=True)
        try:
            return con.execute("select count(*) from lineage.promotion_requests").fetchone()[0]
        finally:
            con.close()

    requests_before = request_rows()
    # A backfill that changes no prediction publishes nothing.
    code, _, err = publish()
    assert code == 1 and "nothing to publish" in err, err
    assert request_rows() == requests_before
    # Unknown, unfinished and failed backfills are refused with one line.
    assert "no backfill nope" in publish("nope")[2]
    folder = wh / "backfills"
    for name, status in (("unfinished", None), ("failed", "failed")):
        shutil.copy(folder / "december.duckdb", folder / f"{name}.duckdb")
        con = duckdb.connect(str(folder / f"{name}.duckdb"))
        con.execute("delete from lineage.backfills where status <> 'started'")  # as if killed
        if status:
            [started] = store.read(con, "select * from lineage.backfills")
            con.execute(
                "insert into lineage.backfills (backfill_id, status, recorded_at) "
                "values (?, 'failed', ?)",
                [started["backfill_id"], started["recorded_at"]],
            )
        con.close()
        code, _, err = publish(name)
        assert code == 1 and "only a succeeded backfill publishes" in err, err
        assert len(err.strip().splitlines()) == 1
    assert request_rows() == requests_before

    # One customer's recomputed features differ: exactly their churn score changes.
    con = duckdb.connect(str(folder / "december.duckdb"))
    [(customer,)] = con.execute(
        "update features.customer_features_v1 set days_since_last_order = 2000, orders_30d = 0, "
        "orders_90d = 0, orders_365d = 0, sessions_30d = 0, sessions_90d = 0 "
        "where customer_id = (select min(customer_id) from features.customer_features_v1 "
        "where orders_90d > 2) returning customer_id"
    ).fetchall()
    con.close()
    [(served, _)] = _scores(production, customer)
    code, out, err = publish()
    assert code == 0, err
    [request] = [r for r in json.loads(out)["requests"] if r["model"] == "churn"]
    assert request["predictions"] == 1 and request["as_of"] == ["2025-12-01"]
    rid = request["request_id"]

    def approve(role: str, user: str):
        return cli(wh, "approve", rid, "--role", role, "--target", "ci", "--json", user=user)

    def published() -> list[dict]:
        con = duckdb.connect(str(production), read_only=True)
        try:
            return store.read(con, "select * from lineage.published_predictions")
        finally:
            con.close()

    # Not listed for the role: refused. One approval of two: nothing published.
    assert approve("ml_owner", "mallory@example.com").returncode == 1
    done = approve("ml_owner", "ana@example.com")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["published"] == 0 and not published()
    # The requested file altered after the request: the last approval is refused.
    con = duckdb.connect(str(production), read_only=True)
    [(path,)] = con.execute(
        "select predictions_path from lineage.promotion_requests where request_id = ?", [rid]
    ).fetchall()
    con.close()
    rows_file = wh / path
    original_bytes = rows_file.read_bytes()
    rows_file.write_bytes(original_bytes + b"\0")
    done = approve("business_stakeholder", "carla@example.com")
    assert done.returncode == 1 and "differs from the recorded" in done.stderr, done.stderr
    assert not published()
    rows_file.write_bytes(original_bytes)
    done = approve("business_stakeholder", "carla@example.com")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["published"] == 1
    [row] = published()
    assert (row["customer_id"], row["backfill_id"], row["training_run_id"]) == (
        customer,
        "december",
        champion,
    )
    assert row["score"] != served
    assert json.loads(row["published_by"]) == {
        "business_stakeholder": "carla@example.com",
        "ml_owner": "ana@example.com",
    }
    # The original is kept; serving and lineage show the published one as current.
    dbt_build(wh, "--select", "fct_customer_scores", "prediction_versions")
    assert _scores(production, customer) == [(row["score"], "december")]
    con = duckdb.connect(str(production), read_only=True)
    versions = con.execute(
        "select version_kind, score, is_current from lineage.prediction_versions "
        "where model_name = 'churn' and customer_id = ? and as_of = '2025-12-01' "
        "order by recorded_at",
        [customer],
    ).fetchall()
    [(kept,)] = con.execute(
        "select count(*) from ml.ml_churn__score where prediction_id = ?",
        [row["replaces_prediction_id"]],
    ).fetchall()
    con.close()
    assert kept == 1
    assert versions[-1] == ("published", row["score"], True)
    assert [v[2] for v in versions[:-1]] == [False] * (len(versions) - 1)
    assert served in [v[1] for v in versions[:-1]]
    # Publishing the same backfill again is refused.
    code, _, err = publish()
    assert code == 1 and "already have request" in err, err
