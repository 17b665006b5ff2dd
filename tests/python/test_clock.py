"""The project's one clock (issue 34): CUSTOMER_ML_NOW sets the simulated time a process starts
at, which every record and decision reads (customer_ml.records.lineage.utc_now); a warehouse runs
on one kind of clock, never backwards, so a simulated clock cannot act on a real warehouse (a
build, a load, a promotion: each refused in one line)."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest
from click.testing import CliRunner

from customer_ml import config
from customer_ml.records import lineage, store


def test_the_simulated_clock_starts_where_it_is_set_and_ticks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CUSTOMER_ML_NOW", "2025-03-01T08:00:00+02:00")
    first, second = lineage.utc_now(), lineage.utc_now()
    assert datetime(2025, 3, 1, 6) <= first <= second < datetime(2025, 3, 1, 6, 1)
    monkeypatch.delenv("CUSTOMER_ML_NOW")
    assert lineage.utc_now() > datetime(2026, 1, 1)


@pytest.mark.parametrize(
    ("value", "refusal"),
    [
        ("next tuesday", "not a time; give ISO 8601"),
        ("1969-07-20", "outside 1990-01-01"),
        ("9999-12-31T00:00:00", "outside 1990-01-01 .. 400 days from now"),
    ],
)
def test_a_bad_clock_is_one_line(monkeypatch: pytest.MonkeyPatch, value: str, refusal: str) -> None:
    monkeypatch.setenv("CUSTOMER_ML_NOW", value)
    with pytest.raises(config.OperatorError, match=refusal):
        lineage.utc_now()


def _warehouse(con: duckdb.DuckDBPyConnection, clock_at: datetime | None) -> None:
    store.create_all(con)
    build = {"invocation_id": "b1", "target_name": "ci", "finished_at": datetime(2026, 1, 1)}
    store.append(con, "builds", {**build, "clock_at": clock_at})


def test_a_simulated_clock_is_refused_on_a_real_warehouse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    con = duckdb.connect()
    _warehouse(con, None)
    lineage.check_clock(con)  # real on real
    monkeypatch.setenv("CUSTOMER_ML_NOW", "2027-01-01T00:00:00")
    with pytest.raises(config.OperatorError, match="has run on the real clock since 2026-01-01"):
        lineage.check_clock(con)


def test_a_simulated_warehouse_never_goes_backwards(monkeypatch: pytest.MonkeyPatch) -> None:
    con = duckdb.connect()
    _warehouse(con, datetime(2025, 6, 1))
    monkeypatch.setenv("CUSTOMER_ML_NOW", "2025-06-08T00:00:00")
    lineage.check_clock(con)  # a week later
    monkeypatch.setenv("CUSTOMER_ML_NOW", "2025-05-01T00:00:00")
    with pytest.raises(config.OperatorError, match="the clock would go backwards"):
        lineage.check_clock(con)
    monkeypatch.delenv("CUSTOMER_ML_NOW")
    ahead = duckdb.connect()
    _warehouse(ahead, lineage.utc_now() + timedelta(days=30))
    with pytest.raises(config.OperatorError, match="the clock would go backwards"):
        lineage.check_clock(ahead)  # the real clock behind the simulated one


def test_a_promotion_with_a_simulated_clock_on_a_real_warehouse_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from customer_ml.cli.app import main

    con = duckdb.connect(str(tmp_path / "ci.duckdb"))
    _warehouse(con, None)
    con.close()
    monkeypatch.setenv("CUSTOMER_ML_NOW", "2027-01-01T00:00:00")
    done = CliRunner().invoke(
        main, ["approve", "req-x", "--role", "ml_owner", "--warehouse", str(tmp_path / "ci.duckdb"),
               "--key", str(config.project_dir() / "config" / "demo_keys" / "ana@example.com")],
    )  # fmt: skip
    assert done.exit_code == 1
    assert "has run on the real clock" in done.output and "unknown" not in done.output
