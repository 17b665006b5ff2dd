"""The fixed cost of a dbt invocation (issue 33): DuckDB's resources are read when the plugin
opens the connection, not rendered in the profile, so a schedule that gives each selection its
own memory keeps dbt's partial parsing; a value DuckDB refuses is one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import dbt

from customer_ml import config


def test_the_resources_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    con = duckdb.connect()
    monkeypatch.setenv("CUSTOMER_ML_DUCKDB_MEMORY", "1GB")
    monkeypatch.setenv("CUSTOMER_ML_DUCKDB_THREADS", "1")
    config.set_duckdb_resources(con)
    memory, threads = con.execute(
        "select current_setting('memory_limit'), current_setting('threads')"
    ).fetchall()[0]
    assert memory.replace(" ", "").lower() in ("1gb", "953.6mib") and threads == 1
    monkeypatch.delenv("CUSTOMER_ML_DUCKDB_MEMORY")
    config.set_duckdb_resources(con, "512MB")  # a target's default
    memory = con.execute("select current_setting('memory_limit')").fetchall()[0][0]
    assert memory.replace(" ", "").lower() in ("512mb", "488.2mib")


@pytest.mark.parametrize(
    ("variable", "value"),
    [("CUSTOMER_ML_DUCKDB_MEMORY", "lots" * 50), ("CUSTOMER_ML_DUCKDB_MEMORY", "-1GB"),
     ("CUSTOMER_ML_DUCKDB_MEMORY", "4"), ("CUSTOMER_ML_DUCKDB_THREADS", "0"),
     ("CUSTOMER_ML_DUCKDB_THREADS", "two")],
)  # fmt: skip
def test_a_value_duckdb_refuses_is_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """-1GB would be no limit at all to DuckDB, 4 four bytes: not what an operator meant."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(config.OperatorError) as caught:
        config.set_duckdb_resources(duckdb.connect())
    message = str(caught.value)
    assert message.startswith(f"{variable}={value[:8]!r}"[:-1]) and "\n" not in message
    assert len(message) < 200


def test_a_refused_value_stops_a_load_in_its_own_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Refused before the load's transaction opens: not a failed rollback hiding the cause."""
    from customer_ml.data.load import LoadError, load

    orders = tmp_path / "o.csv"
    orders.write_text("customer_id,ordered_at,amount\n1,2025-01-01,3\n")
    monkeypatch.setenv("CUSTOMER_ML_DUCKDB_THREADS", "0")
    with pytest.raises(LoadError, match="^CUSTOMER_ML_DUCKDB_THREADS='0': not a value"):
        load(tmp_path / "w.duckdb", {"orders": orders})


def test_another_memory_setting_keeps_partial_parsing(built: Path, tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    first = dbt(wh, "parse", env={"CUSTOMER_ML_DUCKDB_MEMORY": "1GB"})
    again = dbt(wh, "parse", env={"CUSTOMER_ML_DUCKDB_MEMORY": "3GB"})
    assert "Unable to do partial parsing" not in again.stdout, again.stdout[-2000:]
    assert first.returncode == again.returncode == 0
