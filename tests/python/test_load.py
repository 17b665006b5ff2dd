"""The loader: each kind of bad input is refused with one line naming file, column, row and
problem, and leaves the warehouse exactly as it was; a good file loads once."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from conftest import cli

from customer_ml.data.load import LoadError, load

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
            for t in ("orders", "customers", "engagement_events", "business_events", "_loads")
        ]
    finally:
        con.close()


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    wh = tmp_path / "wh.duckdb"
    load(wh, {"orders": _write(tmp_path, "first.csv", GOOD)})
    return wh


# One good line per table, as CSV: header and values. Each malformed case below edits one of them.
GOOD_LINES = {
    "orders": ("order_id,customer_id,ordered_at,amount", "900,5,2025-03-01 10:00:00,12.5"),
    "customers": ("customer_id,updated_at,country", "5,2025-03-01 10:00:00,US"),
    "engagement_events": (
        "event_id,customer_id,event_type,occurred_at",
        "900,5,session,2025-03-01 10:00:00",
    ),
    "business_events": ("event_id,event_type,name,starts_at", "900,campaign,spring,2025-03-01"),
}
ID = {
    "orders": "order_id",
    "customers": "customer_id",
    "engagement_events": "event_id",
    "business_events": "event_id",
}
TIME = {
    "orders": "ordered_at",
    "customers": "updated_at",
    "engagement_events": "occurred_at",
    "business_events": "starts_at",
}


def _edit(table: str, column: str, value: str) -> str:
    header, line = GOOD_LINES[table]
    names, values = header.split(","), line.split(",")
    values[names.index(column)] = value
    return f"{header}\n{','.join(values)}\n"


def _generic_cases(table: str) -> list[tuple[str, str, bytes | str | None, str]]:
    """(table, case, file content (None: a directory), expected message start) for any table."""
    header, line = GOOD_LINES[table]
    first = header.split(",")[0]
    return [
        (table, "empty file", "", "bad.csv: empty file"),
        (table, "blank lines only", "\n\n", "bad.csv: empty file"),
        (table, "directory", None, "a directory, not a file"),
        (table, "utf-16", (header + "\n" + line + "\n").encode("utf-16"), "bad.csv: not UTF-8"),
        (
            table,
            "latin-1",
            (header + ",note\n" + line + ",caf\xe9\n").encode("latin-1"),
            "bad.csv: not UTF-8",
        ),
        (table, "ragged long", f"{header}\n{line},extra\n", "bad.csv: line 2 has"),
        (
            table,
            "ragged short",
            f"{header}\n{line}\n{line.split(',')[0]}\n",
            "bad.csv: line 3 has 1",
        ),
        (
            table,
            "semicolons",
            f"{header.replace(',', ';')}\n{line.replace(',', ';')}\n",
            "bad.csv: column",
        ),
        (table, "duplicate header", f"{header},{first}\n{line},1\n", "bad.csv: header names"),
        (table, "empty header field", f"{header},\n{line},1\n", "bad.csv: header field"),
        (
            table,
            "bad date",
            _edit(table, TIME[table], "2025-13-45"),
            f"bad.csv: column '{TIME[table]}', row 1: '2025-13-45' is not a valid date/time",
        ),
        (
            table,
            "non-integer id",
            _edit(table, ID[table], "16.5"),
            f"bad.csv: column '{ID[table]}', row 1: '16.5' is not an integer",
        ),
        (
            table,
            "text id",
            _edit(table, ID[table], "abc"),
            f"bad.csv: column '{ID[table]}', row 1: 'abc' is not an integer",
        ),
        (
            table,
            "null id",
            f"{header}\n{line}\n{_edit(table, ID[table], '').splitlines()[1]}\n",
            f"bad.csv: column '{ID[table]}', row 2: NULL id",
        ),
        (
            table,
            "misspelled column (it would take the default)",
            f"{header},available_at\n{line},2025-01-01\n",
            f"bad.csv: column 'available_at' not in the contract of raw.{table} (expected names: ",
        ),
        (
            table,
            "a column the contract does not have",
            f"#{header}\n{line}\n",
            f"bad.csv: column '#{first}' not in the contract of raw.{table}",
        ),
        (
            table,
            "a 10,000-digit id is named, not echoed",
            _edit(table, ID[table], "9" * 10_000),
            f"bad.csv: column '{ID[table]}', row 1: '{'9' * 80}... (10,000 characters)' is not",
        ),
        *[
            (
                table,
                f"id {value} (DuckDB's cast would take it)",
                _edit(table, ID[table], value),
                f"bad.csv: column '{ID[table]}', row 1: '{value}' is not an integer",
            )
            for value in ("0x2A", "4_2", "1e3")
        ],
        (
            table,
            "an offset beyond +14:00 would shift the time by a day",
            _edit(table, TIME[table], "2025-03-01 10:00:00+25:00"),
            f"bad.csv: column '{TIME[table]}', row 1: '2025-03-01 10:00:00+25:00' has a UTC "
            "offset beyond",
        ),
        *[
            (
                table,
                f"a date before the earliest ({value})",
                _edit(table, TIME[table], value),
                f"bad.csv: column '{TIME[table]}', row 1: '{value}' is before 1990-01-01",
            )
            for value in ("0044-03-15 (BC)", "0001-01-01")
        ],
        (
            table,
            "available far in the future",
            f"{header},_available_at\n{line},9999-12-31\n",
            "bad.csv: column '_available_at', row 1: 9999-12-31 00:00:00 is after the load time",
        ),
    ]


def _fact_cases(table: str) -> list[tuple[str, str, bytes | str | None, str]]:
    header, line = GOOD_LINES[table]
    return [
        (
            table,
            "event far in the future",
            _edit(table, TIME[table], "9999-12-31"),
            f"bad.csv: column '{TIME[table]}', row 1: 9999-12-31 00:00:00 is after the load time",
        ),
        (
            table,
            "known before it happened",
            f"{header},_available_at\n{line},2025-01-01\n",
            "bad.csv: column '_available_at', row 1: before",
        ),
        (
            table,
            "an offset makes it known before it happened",
            f"{header},_available_at\n{line},2025-03-01 14:00:00+05:00\n",
            "bad.csv: column '_available_at', row 1: before",
        ),
        (
            table,
            "duplicate key",
            f"{header}\n{line}\n{line}\n",
            "bad.csv: columns (",
        ),
    ]


def _business_event_cases() -> list[tuple[str, str, bytes | str | None, str]]:
    header, line = GOOD_LINES["business_events"]
    return [
        (
            "business_events",
            "a model the catalogue does not have",
            f'{header},affected_models\n{line},"churn, churnn"\n',
            "bad.csv: column 'affected_models', row 1: 'churnn' is not a model of the catalogue",
        )
    ]


def _amount_cases() -> list[tuple[str, str, bytes | str | None, str]]:
    message = "bad.csv: column 'amount', row 1: '{}' is not an amount"
    return [
        ("orders", f"amount {v}", _edit("orders", "amount", v), message.format(v))
        for v in ("NaN", "inf", "-inf", "1180591620717411303424", "-3", "ten", "1e400")
    ] + [
        (
            "orders",
            "missing required column",
            "customer_id,ordered_at\n1,2025-01-01\n",
            "bad.csv: column 'amount': missing",
        ),
        (
            "engagement_events",
            "missing event type",
            "customer_id,occurred_at\n1,2025-01-01\n",
            "bad.csv: column 'event_type': missing",
        ),
    ]


BAD_FILES = [
    *(case for table in GOOD_LINES for case in _generic_cases(table)),
    *(
        case
        for table in ("orders", "customers", "engagement_events")
        for case in _fact_cases(table)
    ),
    *_amount_cases(),
    *_business_event_cases(),
]


def test_the_matrix_is_as_large_as_promised() -> None:
    assert len(BAD_FILES) >= 50
    assert {case[0] for case in BAD_FILES} == set(GOOD_LINES)


@pytest.mark.parametrize(
    ("table", "kind", "content", "message"), BAD_FILES, ids=[f"{b[0]}-{b[1]}" for b in BAD_FILES]
)
def test_bad_file_is_refused_and_changes_nothing(
    tmp_path: Path, warehouse: Path, table: str, kind: str, content, message: str
) -> None:
    bad = tmp_path / "bad.csv"
    if content is None:
        bad.mkdir()
    elif isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        bad.write_text(content)
    before = _state(warehouse)
    good_customers = _write(tmp_path, "customers_ok.csv", "customer_id,country\n1,US\n")
    files = {"customers": good_customers, table: bad} if table != "customers" else {table: bad}
    with pytest.raises(LoadError) as caught:
        # A good file comes first: it must not be left behind either.
        load(warehouse, files)
    assert message in str(caught.value), str(caught.value)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 500
    assert _state(warehouse) == before


def test_a_file_without_rows_loads_nothing(tmp_path: Path, warehouse: Path) -> None:
    """A header-only export (a day without changes) is skipped, not refused."""
    before = _state(warehouse)
    empty = _write(tmp_path, "empty_day.csv", "customer_id,ordered_at,amount\n")
    assert load(warehouse, {"orders": empty}) == {"orders": "skipped: empty_day.csv has no rows"}
    assert _state(warehouse) == before


def test_the_good_lines_load(tmp_path: Path, warehouse: Path) -> None:
    """The matrix's base lines are valid: each case fails for its edit, not for the base."""
    for table, (header, line) in GOOD_LINES.items():
        outcome = load(warehouse, {table: _write(tmp_path, f"{table}.csv", f"{header}\n{line}\n")})
        assert outcome[table].startswith("loaded 1 rows"), outcome


def test_cli_prints_one_line_and_fails(tmp_path: Path, warehouse: Path) -> None:
    from conftest import cli

    bad = _write(
        tmp_path, "bad.csv", "customer_id,ordered_at,amount\n1,2025-01-01,10\n2,2025-01-02,ten\n"
    )
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


TYPED_ORDERS = """select * from (values
    (200::bigint, 1::bigint, timestamp '2025-01-05 10:00:00', 10.5::double, 'web',
     timestamp '2025-01-05 10:00:00'),
    (201::bigint, 1::bigint, timestamp '2025-02-05 10:00:00', 20.0::double, 'app',
     timestamp '2025-02-06 10:00:00'),
    (202::bigint, 2::bigint, timestamp '2025-01-07 09:30:00', 5.0::double, 'web',
     timestamp '2025-01-07 09:30:00')
) as t(order_id, customer_id, ordered_at, amount, channel, _available_at)"""


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("amount", "-3.0::double"),
        ("amount", "'nan'::double"),
        ("amount", "'inf'::double"),
        ("amount", "1e300::double"),
        ("ordered_at", "timestamp '0001-01-01 00:00:00'"),
        ("ordered_at", "timestamp '2099-01-01 00:00:00'"),
        ("customer_id", "null::bigint"),
        ("_available_at", "timestamp '2024-01-01 00:00:00'"),
    ],
)
def test_a_typed_parquet_file_is_refused_with_the_line_its_csv_gets(
    tmp_path: Path, warehouse: Path, column: str, value: str
) -> None:
    """A Parquet file already in the contract's types is checked by value only (its text always
    parses); its refusals are the lines the same rows written as CSV get."""
    bad = (
        "select * replace ("
        f"if(order_id = 201, {value}, {column}) as {column}) from ({TYPED_ORDERS})"
    )
    con = duckdb.connect()
    con.execute(f"copy ({bad}) to '{tmp_path / 'bad.parquet'}' (format parquet)")
    con.execute(f"copy ({bad}) to '{tmp_path / 'bad.csv'}' (header)")
    types = dict(con.execute(f"select column_name, column_type from (describe {bad})").fetchall())
    con.close()
    assert types["amount"] == "DOUBLE" and types["ordered_at"] == "TIMESTAMP"
    before = _state(warehouse)
    lines = []
    for name in ("bad.parquet", "bad.csv"):
        with pytest.raises(LoadError) as caught:
            load(warehouse, {"orders": tmp_path / name})
        lines.append(str(caught.value).replace(name, "FILE"))
        assert _state(warehouse) == before
    assert f"FILE: column {column!r}, row 2: " in lines[0]
    assert lines[0] == lines[1]


def _orders(warehouse: Path) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(
            "select order_id, customer_id, ordered_at, amount, _available_at from raw.orders "
            "order by ordered_at, order_id"
        ).fetchall()
    finally:
        con.close()


def test_a_transaction_log_without_ids_loads_as_it_is(tmp_path: Path) -> None:
    """Identical lines (the same purchase twice a day) are separate orders; a line starting with
    '#' is data, not a comment; the same rows from another file are refused naming both files."""
    log = "customer_id,ordered_at,amount\n#7,2025-01-01,3\n7,2025-01-01,3\n7,2025-01-01,3\n"
    wh = tmp_path / "wh.duckdb"
    with pytest.raises(LoadError, match="row 1: '#7' is not an integer"):
        load(wh, {"orders": _write(tmp_path, "hash.csv", log)})
    log = log.replace("#7", "8")
    assert load(wh, {"orders": _write(tmp_path, "log.csv", log)})["orders"].startswith(
        "loaded 3 rows"
    )
    rows = _orders(wh)
    assert len({r[0] for r in rows}) == 3  # three orders, three keys
    before = _state(wh)
    again = _write(tmp_path, "export-again.csv", log.replace(",3\n", ",3.0\n"))
    with pytest.raises(LoadError) as caught:
        load(wh, {"orders": again})
    assert (
        "export-again.csv: columns (order_id, _available_at), row 1: already loaded from "
        "log.csv" in str(caught.value)
    )
    assert _state(wh) == before


def test_a_correction_is_a_later_version_of_a_loaded_key(tmp_path: Path, warehouse: Path) -> None:
    fix = _write(
        tmp_path,
        "fix.csv",
        "order_id,customer_id,ordered_at,amount,_available_at\n100,1,2025-01-05 10:00:00,11,"
        "2025-01-09\n",
    )
    assert load(warehouse, {"orders": fix})["orders"].startswith("loaded 1 rows")
    versions = [r for r in _orders(warehouse) if r[0] == 100]
    assert [float(r[3]) for r in versions] == [10.5, 11.0]


@pytest.mark.parametrize("machine_zone", ["UTC", "Asia/Kolkata", "America/Los_Angeles"])
def test_times_are_utc_whatever_the_machine_zone(
    tmp_path: Path, tiny_data: Path, machine_zone: str
) -> None:
    """A CSV offset is honoured, a naive CSV time is UTC, a Parquet TIMESTAMPTZ is converted to
    UTC: the same files store the same instants on any machine (the load runs in a subprocess
    with TZ set, as a scheduler in another region would)."""
    import os
    import subprocess
    import sys

    import pyarrow as pa
    import pyarrow.parquet as pq

    csv_file = _write(
        tmp_path,
        "tz.csv",
        "order_id,customer_id,ordered_at,amount\n1,1,2025-01-01 10:00:00+05:00,1\n"
        "2,1,2025-01-01 10:00:00,1\n",
    )
    instant = pa.array([1735725600_000_000], pa.timestamp("us", tz="Asia/Tokyo"))  # 10:00 UTC
    parquet_file = tmp_path / "tz.parquet"
    pq.write_table(
        pa.table({"order_id": [3], "customer_id": [1], "ordered_at": instant, "amount": [1.0]}),
        parquet_file,
    )
    wh = tmp_path / "wh.duckdb"
    code = (
        "import sys; from pathlib import Path; from customer_ml.data.load import load; "
        "load(Path(sys.argv[1]), {'orders': Path(sys.argv[2])}); "
        "load(Path(sys.argv[1]), {'orders': Path(sys.argv[3])})"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(wh), str(csv_file), str(parquet_file)],
        env={**os.environ, "TZ": machine_zone},
        check=True,
    )
    stored = {r[0]: r[2].isoformat() for r in _orders(wh)}
    assert stored == {
        1: "2025-01-01T05:00:00",
        2: "2025-01-01T10:00:00",
        3: "2025-01-01T10:00:00",
    }


def test_load_json_names_each_table_and_the_warehouse(tmp_path: Path) -> None:
    path = _write(tmp_path, "first.csv", GOOD)
    done = cli(tmp_path / "wh", "load", "--target", "ci", "--orders", str(path), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["warehouse"] == str(tmp_path / "wh" / "ci.duckdb")
    assert report["tables"]["raw.orders"].startswith("loaded 3 rows")
    again = json.loads(
        cli(tmp_path / "wh", "load", "--target", "ci", "--orders", str(path), "--json").stdout
    )
    assert again["tables"]["raw.orders"].startswith("skipped: first.csv already loaded")


def test_load_tells_each_step_as_it_starts(tmp_path: Path, tiny_data: Path) -> None:
    steps: list[str] = []
    load(
        tmp_path / "ci.duckdb",
        {"orders": tiny_data / "orders.parquet", "customers": tiny_data / "customers.parquet"},
        progress=steps.append,
    )
    assert steps[0] == "checking orders.parquet for raw.orders"
    assert steps[1].startswith("appending ") and steps[1].endswith(" rows to raw.orders")
    assert steps[2] == "checking customers.parquet for raw.customers"
    assert steps[-1] == "committing" and len(steps) == 5


def test_what_the_stricter_checks_still_accept(tmp_path: Path, warehouse: Path) -> None:
    """The edges of the refusals above: a Parquet-style float id, the widest real offsets, the
    earliest date, catalogue models with spaces and an empty list."""
    events = _write(
        tmp_path,
        "events.csv",
        "event_id,event_type,name,starts_at,affected_models\n"
        '1,campaign,a,1990-01-01 14:00:00+14:00,"churn, segments"\n'
        "2.0,campaign,b,2025-03-01 10:00:00-12:00,\n",
    )
    assert load(warehouse, {"business_events": events})["business_events"].startswith(
        "loaded 2 rows"
    )


def test_a_bad_earliest_event_date_var_is_one_line(tmp_path: Path) -> None:
    from conftest import snapshot_project

    project = snapshot_project(tmp_path / "project")
    settings = project / "dbt_project.yml"
    settings.write_text(settings.read_text().replace('"1990-01-01"', '"1990-13-01"'))
    orders = _write(tmp_path, "o.csv", "customer_id,ordered_at,amount\n1,2025-01-01,3\n")
    done = cli(tmp_path / "wh", "load", "--target", "ci", "--orders", str(orders), project=project)
    assert done.returncode == 1
    assert done.stderr.strip().endswith(
        "var earliest_event_date='1990-13-01' (dbt_project.yml): not a date (YYYY-MM-DD)"
    ), done.stderr
    assert done.stderr.count("\n") == 1


def test_a_week_without_orders_loads_the_other_feeds(tmp_path: Path, tiny_data: Path) -> None:
    """A feed may deliver customers and events in a week no orders arrive (the season's stale
    feed): they load alone; nothing at all is one line."""
    wh = tmp_path / "ci.duckdb"
    outcome = load(wh, {"customers": tiny_data / "customers.parquet"})
    assert outcome["customers"].startswith("loaded ")
    with pytest.raises(LoadError, match="nothing to load: give one file or more"):
        load(wh, {})


def test_a_full_disk_is_one_line_naming_the_warehouse_and_writes_nothing(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 3M customers the staged rows spilled past the free disk: the line said the file
    'cannot be read'. It names the warehouse's disk, and nothing is written."""
    from customer_ml.data import load as loader

    def full(*_args, **_kwargs):
        raise duckdb.IOException(
            'IO Error: Could not write file "wh.duckdb.tmp/duckdb_temp_1.tmp": '
            "No space left on device"
        )

    before = _state(warehouse)
    monkeypatch.setattr(loader, "_stage", full)
    with pytest.raises(LoadError) as caught:
        load(warehouse, {"orders": _write(tmp_path, "day.csv", GOOD.replace("10", "11"))})
    assert str(caught.value) == (
        f"{warehouse}: no space left on the device of the warehouse and its temp folder "
        "(wh.duckdb.tmp) while loading; nothing was written: free disk space and load again"
    )
    assert _state(warehouse) == before
    assert loader.out_of_disk(warehouse, duckdb.IOException("IO Error: permission denied")) is None
