"""The append-only lineage records (docs/design.md "Records"), for everything that writes or
reads them from Python, by their declaration in customer_ml.records.tables: the dbt plugin
creates them when a build opens the warehouse, the CLI does the same before it writes, and
tests create their schemas through it.

Writes append by column name (`append`), never by position, so adding a column cannot shift
values into the wrong one; rows are never updated or deleted. Readers return whole records
(dicts keyed by column name).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import duckdb
import pandas as pd

from customer_ml.records.tables import TABLES


def ddl(table: str) -> str:
    columns = ", ".join(f"{name} {kind}" for name, kind in TABLES[table].items())
    return f"create table if not exists lineage.{table} ({columns})"


def create_all(con: duckdb.DuckDBPyConnection) -> None:
    """Create every lineage table that is missing, and every declared column a table lacks
    (a warehouse made by an earlier version gains new columns; nothing is dropped or retyped)."""
    con.execute("create schema if not exists lineage")
    for table, columns in TABLES.items():
        con.execute(ddl(table))
        for name, kind in columns.items():
            con.execute(f"alter table lineage.{table} add column if not exists {name} {kind}")


def append(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: Mapping[str, Any] | Iterable[Mapping] | pd.DataFrame,
) -> int:
    """Append one record (a mapping), several, or a frame of them to lineage.`table`, by column
    name. Undeclared names fail; declared columns left out are null. Returns the number of rows
    appended."""
    if table in ("seals", "sealed_rows"):
        raise KeyError(f"lineage.{table} is written by customer_ml.records.chain only")
    declared = TABLES[table]
    if isinstance(rows, pd.DataFrame):
        frame_, present = rows, list(rows.columns)
    else:
        rows = [rows] if isinstance(rows, Mapping) else list(rows)
        present = sorted({n for row in rows for n in row})
        frame_ = None
    unknown = sorted(set(present) - set(declared))
    if unknown:
        raise KeyError(f"lineage.{table} has no column(s) {', '.join(unknown)}")
    if (frame_ is not None and frame_.empty) or (frame_ is None and not rows):
        return 0
    names = [n for n in declared if n in present]
    # Through a staging table, so that exactly the appended rows are sealed
    # (customer_ml.records.chain).
    con.execute(f"create or replace temp table _appending as select * from lineage.{table} limit 0")
    if frame_ is not None:
        con.register("_appending_frame", frame_)
        con.execute(
            f"insert into _appending ({', '.join(names)}) select {', '.join(names)} "
            "from _appending_frame"
        )
        con.unregister("_appending_frame")
    else:
        con.executemany(
            f"insert into _appending ({', '.join(names)}) values ({', '.join('?' for _ in names)})",
            [[row.get(n) for n in names] for row in rows],
        )
    con.execute(f"insert into lineage.{table} select * from _appending")
    from customer_ml.records import chain

    chain.seal_rows(con, f"lineage.{table}", "select * from _appending", None)
    con.execute("drop table _appending")
    return len(frame_) if frame_ is not None else len(rows)


def read(
    con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None
) -> list[dict[str, Any]]:
    """A query's rows as whole records (column name -> value), fetched in full."""
    result = con.execute(sql, params or [])
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def snapshots(con: duckdb.DuckDBPyConnection, ids: Mapping[str, str]) -> dict[str, dict | None]:
    """Relation -> its data snapshot record (None when the id is not registered)."""
    out: dict[str, dict | None] = {}
    for relation, snapshot_id in ids.items():
        found = read(
            con, "select * from lineage.data_snapshots where snapshot_id = ?", [snapshot_id]
        )
        out[relation] = found[0] if found else None
    return out


def training_run(
    con: duckdb.DuckDBPyConnection, training_run_id: str, relation: str = "lineage.training_runs"
) -> dict[str, Any] | None:
    """A training run as a whole record: its row of `relation` (lineage.training_runs, or one
    model's training table), with `snapshots` (relation -> data snapshot record of every input).
    None when unknown."""
    found = read(con, f"select * from {relation} where training_run_id = ?", [training_run_id])
    if not found:
        return None
    run = found[0]
    run["snapshots"] = snapshots(con, json.loads(run.get("snapshot_ids") or "{}"))
    return run


def prediction(con: duckdb.DuckDBPyConnection, prediction_id: str) -> dict[str, Any] | None:
    """A prediction as a whole record: its row of lineage.predictions, with `input` (the data
    snapshot record of the relation it scored) and `build` (the scoring build's record, without
    its node results; None when the build was not recorded). None when unknown."""
    found = read(con, "select * from lineage.predictions where prediction_id = ?", [prediction_id])
    if not found:
        return None
    row = found[0]
    row["input"] = snapshots(con, {"input": row["snapshot_id"]})["input"]
    builds = read(
        con,
        "select * exclude (results) from lineage.builds where invocation_id = ?",
        [row["invocation_id"]],
    )
    row["build"] = builds[0] if builds else None
    return row


def frame(rows: list[dict[str, Any]] | pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Rows (records or a frame) as a frame with exactly `columns`, in order and typed
    (record_tables.TRAINING_RUN_COLUMNS or PREDICTION_COLUMNS)."""
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows, columns=list(columns))
    return df[list(columns)].astype(columns).reset_index(drop=True)
