"""`customer-ml backfill diff`: what a backfill (customer_ml.replay.backfill) would change in
production's features, labels and datasets, relation by relation and as_of by as_of, and in its
past predictions (customer_ml.replay.backfill_predictions), within the backfill's slice. Production
is attached READ_ONLY for the comparison."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import duckdb

from customer_ml import config
from customer_ml.records import chain, store


def latest_record(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """The backfill's latest lineage.backfills record (its `started` row when it never ended)."""
    found = store.read(
        con,
        "select * from lineage.backfills order by recorded_at desc, status = 'started' limit 1",
    )
    return found[0] if found else None


def write_report(path: Path, backfill_id: str, found: dict[str, Any]) -> Path:
    """The HTML report of a diff, in the backfill's artifact folder, named by its content:
    written once, never overwritten."""
    from customer_ml.models import backfill_report

    page = backfill_report.backfill_diff_html(backfill_id, found).encode()
    folder = config.artifact_root(path)
    folder.mkdir(parents=True, exist_ok=True)
    report = folder / f"diff-{hashlib.sha256(page).hexdigest()[:16]}.html"
    if not report.exists():
        report.write_bytes(page)
    return report


def diff(con: duckdb.DuckDBPyConnection, *, with_rows: bool = False) -> dict[str, Any]:
    """What the backfill open on `con` would change in production within the backfill's slice
    (its cohort's customers, its as_of range). `relations`: relation by relation and as_of by
    as_of, rows in each, rows only in the backfill (new or changed values) and rows only in
    production (left out, or their old values). `predictions`: model by model and as_of by
    as_of, production's past predictions scored again on the backfill's inputs. With
    `with_rows`, `rows` too: model -> the predictions whose score the backfill changes, each with
    the production prediction it would replace (customer_ml.governance.backfill_publish)."""
    from customer_ml.replay import backfill_predictions

    [started] = store.read(
        con,
        "select * from lineage.backfills where status = 'started' order by recorded_at limit 1",
    )
    built = [r for r in sorted(_tables(con, _here(con))) if r.startswith("features.")]
    as_of_range = (
        con.execute(
            " union all ".join(f"select as_of from {r}" for r in built).join(
                ["select min(as_of), max(as_of) from (", ")"]
            )
        ).fetchone()
        if built
        else (None, None)
    )
    config.attach_read_only(con, started["production_path"], "production")
    try:
        relations = [
            row
            for relation in _shared_outputs(con)
            for row in _diff_relation(con, relation, started)
        ]
        rescored = (
            list(backfill_predictions.rescored(con, started, as_of_range)) if as_of_range[0] else []
        )
        out = {"relations": relations, "predictions": backfill_predictions.diff(rescored)}
        if with_rows:
            out["rows"] = backfill_predictions.publishable(rescored)
        return out
    finally:
        con.execute("detach production")


def _tables(con: duckdb.DuckDBPyConnection, database: str) -> set[str]:
    return {
        f"{schema}.{table}"
        for schema, table in con.execute(
            "select table_schema, table_name from information_schema.tables where "
            "table_catalog = ? and table_type = 'BASE TABLE' and table_schema in "
            "('features', 'labels', 'datasets')",
            [database],
        ).fetchall()
    }


def _here(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("select current_database()").fetchone()[0]


def _shared_outputs(con: duckdb.DuckDBPyConnection) -> list[str]:
    return sorted(_tables(con, _here(con)) & _tables(con, "production"))


# Labels and datasets are computed up to how far the data reaches (data_through): a backfill
# whose slice ends elsewhere than production's data (a cohort's own data_through, a past
# watermark) differs there by construction, whatever changed. They are listed, never the
# verdict; predictions are (customer_ml.replay.backfill_predictions).
BY_CONSTRUCTION = ("labels.", "datasets.")


DIFF_SQL = """
with
ours as (select * from {relation}),
theirs as (select * from production.{relation} where {where}),
only_ours as (select * from ours except all select * from theirs),
only_theirs as (select * from theirs except all select * from ours),
sides as (
    select {group} as as_of, 'backfill' as side from ours
    union all
    select {group}, 'production' from theirs
    union all
    select {group}, 'only_backfill' from only_ours
    union all
    select {group}, 'only_production' from only_theirs
)
select
    as_of,
    sum(case when side = 'backfill' then 1 else 0 end),
    sum(case when side = 'production' then 1 else 0 end),
    sum(case when side = 'only_backfill' then 1 else 0 end),
    sum(case when side = 'only_production' then 1 else 0 end)
from sides
group by as_of
order by as_of
"""
DIFF_COUNTS = ("backfill", "production", "only_backfill", "only_production")


def _diff_relation(
    con: duckdb.DuckDBPyConnection, relation: str, started: dict[str, Any]
) -> list[dict[str, Any]]:
    columns = set(chain.columns_of(con, relation))
    slice_ = []
    if "customer_id" in columns and started["cohort_customers"]:
        slice_.append("customer_id in (select customer_id from raw.customers)")
    if "as_of" in columns:
        slice_.append(
            f"as_of between (select min(as_of) from {relation}) "
            f"and (select max(as_of) from {relation})"
        )
    sql = DIFF_SQL.format(
        relation=relation,
        where=" and ".join(slice_) or "true",
        group="as_of" if "as_of" in columns else "null",
    )
    expected = relation.startswith(BY_CONSTRUCTION)
    return [
        {
            "relation": relation,
            "as_of": as_of,
            **dict(zip(DIFF_COUNTS, map(int, counts), strict=True)),
            "by_construction": expected,
        }
        for as_of, *counts in con.execute(sql).fetchall()
    ]
