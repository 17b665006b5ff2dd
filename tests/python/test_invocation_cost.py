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


@pytest.mark.parametrize("variable", ["CUSTOMER_ML_DUCKDB_MEMORY", "CUSTOMER_ML_DUCKDB_THREADS"])
def test_a_value_duckdb_refuses_is_one_line(monkeypatch: pytest.MonkeyPatch, variable) -> None:
    monkeypatch.setenv(variable, "lots" * 50)
    with pytest.raises(config.OperatorError) as caught:
        config.set_duckdb_resources(duckdb.connect())
    message = str(caught.value)
    assert message.startswith(f"{variable}='lotslots") and "\n" not in message
    assert len(message) < 200


def test_another_memory_setting_keeps_partial_parsing(built: Path, tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    first = dbt(wh, "parse", env={"CUSTOMER_ML_DUCKDB_MEMORY": "1GB"})
    again = dbt(wh, "parse", env={"CUSTOMER_ML_DUCKDB_MEMORY": "3GB"})
    assert "Unable to do partial parsing" not in again.stdout, again.stdout[-2000:]
    assert first.returncode == again.returncode == 0
