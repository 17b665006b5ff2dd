"""Reproducibility records (invariants 2-5): snapshot verification catches altered history,
production training refuses a dirty tree, ML nodes must pin versions, definition hashes move
with the SQL that defines a model."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import cli, dbt_build, git, load_tiny, snapshot_project


def _verify(wh: Path) -> tuple[int, str]:
    done = cli(wh, "verify-snapshots", "--target", "ci")
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def copy_of_built(built: Path, tmp_path: Path) -> Path:
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    return wh


def test_verify_passes_on_untouched_history(copy_of_built: Path) -> None:
    status, output = _verify(copy_of_built)
    assert status == 0, output
    assert "verified:" in output


@pytest.mark.parametrize(
    ("alteration", "relation"),
    [
        (
            "update raw.orders set amount = amount + 1 where order_id = "
            "(select min(order_id) from raw.orders)",
            "raw.orders",
        ),
        (
            "delete from raw.engagement_events where event_id = "
            "(select min(event_id) from raw.engagement_events)",
            "raw.engagement_events",
        ),
        (
            "delete from snapshots.customers_snapshot where customer_id = 3",
            "snapshots.customers_snapshot",
        ),
        (
            "update snapshots.customers_snapshot set plan = 'pro' where customer_id = 4",
            "snapshots.customers_snapshot",
        ),
    ],
    ids=["update-source", "delete-source", "delete-snapshot", "update-snapshot"],
)
def test_verify_fails_naming_the_altered_snapshot(
    copy_of_built: Path, alteration: str, relation: str
) -> None:
    con = duckdb.connect(str(copy_of_built / "ci.duckdb"))
    [(snapshot_id,)] = con.execute(
        "select snapshot_id from lineage.data_snapshots where relation_name = ?", [relation]
    ).fetchall()
    con.execute(alteration)
    con.close()
    status, output = _verify(copy_of_built)
    assert status == 1
    assert f"ALTERED snapshot {snapshot_id} of {relation}" in output
    assert output.count("ALTERED") == 1


def test_the_build_fails_when_history_was_altered(copy_of_built: Path) -> None:
    con = duckdb.connect(str(copy_of_built / "ci.duckdb"))
    con.execute(
        "update raw.orders set amount = 0 where order_id = (select max(order_id) from raw.orders)"
    )
    con.close()
    done = dbt_build(copy_of_built, "--select", "assert_data_snapshots_verify", check=False)
    assert done.returncode != 0
    assert "FAIL 1 assert_data_snapshots_verify" in done.stdout


def test_appending_data_is_not_altering_history(copy_of_built: Path, tmp_path: Path) -> None:
    more = tmp_path / "more.csv"
    more.write_text("customer_id,ordered_at,amount\n1,2025-12-20 10:00:00,12.5\n")
    assert cli(copy_of_built, "load", "--target", "ci", "--orders", str(more)).returncode == 0
    status, output = _verify(copy_of_built)
    assert status == 0, output


def test_a_fact_snapshot_adds_the_rows_loaded_since_the_last_and_verifies_in_full(
    copy_of_built: Path, tmp_path: Path
) -> None:
    """Registration hashes only the rows loaded since the previous snapshot of the relation
    (issue 15, item 4): the result equals the whole-history hash computed independently, and
    altering a row of the first load afterwards fails both snapshots that cover it."""
    more = tmp_path / "more.csv"
    more.write_text("customer_id,ordered_at,amount\n1,2025-12-20 10:00:00,12.5\n")
    assert cli(copy_of_built, "load", "--target", "ci", "--orders", str(more)).returncode == 0
    dbt_build(copy_of_built, "--select", "stg_shop__orders")
    con = duckdb.connect(str(copy_of_built / "ci.duckdb"))
    snapshots = con.execute(
        "select snapshot_id, watermark, row_count, content_hash from lineage.data_snapshots "
        "where relation_name = 'raw.orders' order by watermark"
    ).fetchall()
    assert len(snapshots) == 2
    for _, watermark, row_count, content_hash in snapshots:
        whole = con.execute(
            "select count(*), cast(coalesce(sum(md5_number_lower(cast(r as varchar))), 0) as "
            "varchar) from (select * exclude (_loaded_at, _load_id) from raw.orders "
            "where _loaded_at <= ?) as r",
            [watermark],
        ).fetchone()
        assert (row_count, content_hash) == whole
    con.execute(
        "update raw.orders set amount = amount + 1 where order_id = (select min(order_id) "
        "from raw.orders)"
    )
    con.close()
    status, output = _verify(copy_of_built)
    assert status == 1
    assert {line.split()[2] for line in output.splitlines() if "ALTERED" in line} == {
        snapshot_id for snapshot_id, *_ in snapshots
    }


def test_production_training_refuses_a_dirty_tree(tmp_path: Path, tiny_data: Path) -> None:
    project = snapshot_project(tmp_path / "project")
    with open(project / "config" / "models.yml", "a") as f:
        f.write("# an uncommitted edit\n")
    wh = tmp_path / "wh"
    load_tiny(wh, tiny_data)
    refused = dbt_build(wh, project=project, check=False)
    assert refused.returncode != 0
    assert "production training refused" in refused.stdout
    assert "uncommitted changes" in refused.stdout
    # Scoring does not depend on training: it ran in the same build, and its predictions are
    # recorded, but a dirty tree's commit does not name the code that made them: none is served.
    assert _scored_and_served(wh) == (True, 0)

    dbt_build(wh, "--vars", "{run_type: experiment}", project=project)
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    runs = con.execute("select run_type, is_dirty from experiments.training_runs").fetchall()
    production = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'ml' and table_name like '%\\_\\_train' escape '\\'"
    ).fetchall()
    builds = con.execute("select is_dirty, run_type from lineage.builds order by finished_at")
    builds = builds.fetchall()
    con.close()
    assert runs == [("experiment", True)] * 3  # churn, clv, segments
    assert production == [(0,)]  # nothing was written where production runs live
    assert builds == [(True, "production"), (True, "experiment")]
    assert _scored_and_served(wh) == (True, 0)
    # A clean production build never serves the dirty builds' rows; its own scoring of the same
    # inputs records rows of its own (other ids), and those are served.
    dbt_build(wh, "--select", "fct_customer_scores")
    assert _scored_and_served(wh) == (True, 0)
    dbt_build(wh, "--select", "ml_churn__score", "fct_customer_scores")
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    served = con.execute(
        "select distinct s.model_name, b.is_dirty, b.run_type from serving.fct_customer_scores s "
        "join lineage.builds b using (invocation_id)"
    ).fetchall()
    con.close()
    assert served == [("churn", False, "production")]


def _scored_and_served(wh: Path) -> tuple[bool, int]:
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    try:
        scored = con.execute("select count(*) from lineage.predictions").fetchall()[0][0] > 0
        served = con.execute("select count(*) from serving.fct_customer_scores").fetchall()[0][0]
    finally:
        con.close()
    return scored, served


def test_ml_nodes_must_pin_versions(tmp_path: Path, built: Path) -> None:
    project = snapshot_project(tmp_path / "project")
    model = project / "python_models" / "ml_churn__score.py"
    model.write_text(
        model.read_text().replace(
            'dbt.ref("customer_features", v=2)', 'dbt.ref("customer_features")'
        )
    )
    git(project, "commit", "-qam", "unpinned ref")
    wh = tmp_path / "wh"  # a copy: `built` is shared and read-only
    shutil.copytree(built, wh)
    done = dbt_build(wh, "--select", "assert_ml_nodes_pin_versions", project=project, check=False)
    assert done.returncode != 0
    assert "FAIL 1 assert_ml_nodes_pin_versions" in done.stdout


def test_definition_hash_follows_the_sql(tmp_path: Path, built: Path) -> None:
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    dbt_build(wh, "--vars", "{churn_horizon_days: 120}", "--select", "+churn_labels")

    def hashes() -> dict[str, list[str]]:
        con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
        rows = con.execute(
            "select relation_name, definition_hash from lineage.model_definitions "
            "order by recorded_at"
        ).fetchall()
        con.close()
        out: dict[str, list[str]] = {}
        for relation, digest in rows:
            out.setdefault(relation, []).append(digest)
        return out

    h = hashes()
    assert h["labels.churn_labels_v1"][0] != h["labels.churn_labels_v1"][-1]  # horizon changed
    # and the incremental build recomputed every partition with it: no 90-day label is left
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    horizons = con.execute("select distinct horizon_days from labels.churn_labels_v1").fetchall()
    con.close()
    assert horizons == [(120,)]
    assert len(set(h["features.customer_features_v1"])) == 1  # features untouched
    assert len(set(h["labels.churn_labels_v2"])) == 1  # v2 has its own horizon var
