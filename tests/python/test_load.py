"""The loader: each kind of bad input is refused with one line naming file, column, row and
problem, and leaves the warehouse exactly as it was; a good file loads once."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from customer_ml.load import LoadError, load

GOOD = """customer_id,ordered_at,amount,order_id
1,2025-01-05 10:00:00,10.50,100
1,2025-02-05 10:00:00,20.00,101
2,2025-01-07 09:30:00,5.00,102
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _state(warehouse: Path) -> list:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return [
            con.execute(f"select * from raw.{t} order by all").fetchall()
            for t in ("orders", "customers", "engagement_events", "_loads")
        ]
    finally:
        con.close()


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    wh = tmp_path / "wh.duckdb"
    load(wh, {"orders": _write(tmp_path, "first.csv", GOOD)})
    return wh


BAD_INPUTS = [
    (
        "missing column",
        "customer_id,ordered_at\n1,2025-01-01\n",
        "bad.csv: column 'amount': missing",
    ),
    (
        "wrong type",
        "customer_id,ordered_at,amount\n1,2025-01-01,10\n2,2025-01-02,ten\n",
        "bad.csv: column 'amount', row 2: 'ten' is not a valid DOUBLE",
    ),
    (
        "unparseable date",
        "customer_id,ordered_at,amount\n1,2025-13-45,10\n",
        "bad.csv: column 'ordered_at', row 1: '2025-13-45' is not a valid date/time",
    ),
    (
        "null id",
        "customer_id,ordered_at,amount\n1,2025-01-01,10\n,2025-01-02,3\n",
        "bad.csv: column 'customer_id', row 2: NULL id",
    ),
    (
        "duplicate key",
        "order_id,customer_id,ordered_at,amount\n7,1,2025-01-01,10\n8,1,2025-01-02,3\n"
        "7,2,2025-01-01,4\n",
        "bad.csv: columns (order_id, _available_at), rows 1 and 3: duplicate key",
    ),
    (
        "negative amount",
        "customer_id,ordered_at,amount\n1,2025-01-01,10\n1,2025-01-02,-3\n",
        "bad.csv: column 'amount', row 2: negative amount -3.0",
    ),
    (
        "known before it happened",
        "customer_id,ordered_at,amount,_available_at\n1,2025-01-05,10,2025-01-01\n",
        "bad.csv: column '_available_at', row 1: before ordered_at",
    ),
]


@pytest.mark.parametrize(("kind", "text", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_refused_and_changes_nothing(
    tmp_path: Path, warehouse: Path, kind: str, text: str, message: str
) -> None:
    before = _state(warehouse)
    good_customers = _write(tmp_path, "customers.csv", "customer_id,country\n1,US\n")
    with pytest.raises(LoadError) as caught:
        # The good customers file comes first: it must not be left behind either.
        load(
            warehouse,
            {"customers": good_customers, "orders": _write(tmp_path, "bad.csv", text)},
        )
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)
    assert _state(warehouse) == before


def test_cli_prints_one_line_and_fails(tmp_path: Path, warehouse: Path) -> None:
    from conftest import cli

    bad = _write(tmp_path, "bad.csv", BAD_INPUTS[1][1])
    done = cli(tmp_path, "load", "--warehouse", str(warehouse), "--orders", str(bad))
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "column 'amount', row 2" in done.stderr


def test_same_file_twice_changes_nothing(tmp_path: Path, warehouse: Path) -> None:
    before = _state(warehouse)
    outcome = load(warehouse, {"orders": tmp_path / "first.csv"})
    assert outcome["orders"].startswith("skipped")
    assert _state(warehouse) == before


def test_defaults_and_batches(tmp_path: Path, warehouse: Path) -> None:
    more = _write(tmp_path, "more.csv", "customer_id,ordered_at,amount\n3,2025-03-01,1\n")
    load(warehouse, {"orders": more})
    con = duckdb.connect(str(warehouse), read_only=True)
    rows = con.execute(
        "select customer_id, order_id is not null, channel, _available_at = ordered_at, _load_id "
        "from raw.orders order by customer_id, ordered_at"
    ).fetchall()
    loads = con.execute("select count(distinct _load_id) from raw.orders").fetchall()[0][0]
    con.close()
    assert len(rows) == 4
    assert loads == 2
    assert rows[-1][:4] == (3, True, "unknown", True)
    assert rows[0][2] == "unknown"


def test_parquet_is_accepted(tmp_path: Path, tiny_data: Path) -> None:
    wh = tmp_path / "p.duckdb"
    outcome = load(wh, {"orders": tiny_data / "orders.parquet"})
    assert outcome["orders"].startswith("loaded ")
