"""The lineage chain on an in-memory warehouse (customer_ml.records.chain): the newest seals
deleted are found (the head anchored after a build's seals, and sealed rows that point at a seal
that is gone); a build stopped inside its seal hook is named as such, sealed by the next build,
and only when MLflow knows it (a builds row forged with SQL is "inserted by hand")."""

from __future__ import annotations

import duckdb
import pytest

from customer_ml.records import chain, store


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    store.create_all(con)
    for invocation in ("b1", "b2"):
        _build(con, invocation)
        chain.seal_build(con, invocation)
    return con


def _build(con: duckdb.DuckDBPyConnection, invocation: str) -> None:
    """What a build writes: its invocation, an alert, and its build row (sealed last)."""
    con.execute("insert into lineage.invocations (invocation_id, target_name) values (?, 'ci')",
                [invocation])  # fmt: skip
    con.execute("insert into lineage.alerts (alert_id, invocation_id, message) values (?, ?, 'x')",
                [f"a-{invocation}", invocation])  # fmt: skip
    con.execute("insert into lineage.builds (invocation_id, target_name) values (?, 'ci')",
                [invocation])  # fmt: skip


def test_deleting_the_newest_seal_is_found(con: duckdb.DuckDBPyConnection) -> None:
    anchors = [("b2", chain.head(con))]  # what b2 kept in MLflow after its seals
    assert chain.verify(con) == [] and chain.check_anchors(con, anchors) == []
    [(last,)] = con.execute("select max(seal_seq) from lineage.seals").fetchall()
    con.execute("delete from lineage.seals where seal_seq = ?", [last])
    [dangling] = chain.verify(con)
    assert dangling.startswith(f"lineage.sealed_rows: 1 row(s) point at seal {last} or later")
    [missing] = chain.check_anchors(con, anchors)
    assert f"seal {last}, which build b2 anchored in MLflow, is missing" in missing
    con.execute("delete from lineage.sealed_rows where seal_seq = ?", [last])
    assert chain.check_anchors(con, anchors) == [missing]  # the anchor alone still finds it


def test_a_seal_stopped_midway_is_named_and_sealed_by_the_next_build(
    con: duckdb.DuckDBPyConnection,
) -> None:
    _build(con, "b3")
    # b3's seal stopped after its first tables: its builds row (sealed last) is not sealed
    for table in ("lineage.invocations", "lineage.alerts"):
        chain.seal_rows(con, table, f"select * from {table} where invocation_id = 'b3'", "b3")
    assert chain.interrupted_seals(con) == ["b3"]
    assert chain.interrupted_seals(con, {"b1", "b2"}) == []  # MLflow never heard of it
    [problem] = chain.verify(con)
    assert problem.startswith("lineage.builds: 1 row(s) never sealed (inserted by hand)")
    assert chain.verify(con, interrupted=["b3"]) == []
    _build(con, "b4")
    chain.seal_build(con, "b4", chain.interrupted_seals(con, {"b3"}))
    assert chain.interrupted_seals(con) == [] and chain.verify(con) == []


def test_a_forged_build_row_is_not_sealed_by_the_next_build(
    con: duckdb.DuckDBPyConnection,
) -> None:
    _build(con, "forged")  # by SQL, with no MLflow run
    _build(con, "b3")
    chain.seal_build(con, "b3", chain.interrupted_seals(con, {"b1", "b2", "b3"}))
    problems = chain.verify(con)
    for table in ("lineage.alerts", "lineage.builds"):
        named = f"{table}: 1 row(s) never sealed (inserted by hand)"
        assert any(p.startswith(named) for p in problems), problems
