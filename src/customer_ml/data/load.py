"""Load a user's own CSV or Parquet files into the warehouse's `raw` schema as appended batches.

The source contract (below, and in docs/data.md) names every column a raw table may have; only
`orders(customer_id, ordered_at, amount)` is required. Each file is validated completely before
anything is written; all files of one `load` call go in one transaction, so bad input leaves the
warehouse exactly as it was. Each batch is stamped with `_load_id` (a hash of the table name and
the file's bytes) and `_loaded_at`; a file whose load id is already recorded is skipped, so loading
the same file twice changes nothing, and a row whose key was loaded by an earlier batch is refused
naming both batches (a correction repeats the key with a later `_available_at`).

What cannot be right is refused: non-finite amounts and amounts above `Limits.max_amount`,
non-integer ids, times later than the load plus `Limits.future_tolerance`, files that are not
UTF-8, empty, ragged or not files at all. Times are UTC: an offset (`+05:00`, or a Parquet
TIMESTAMPTZ) is honoured and converted, a naive time is taken as UTC, and the result never depends
on the loading machine's time zone. CSV files are read with a fixed dialect (comma, double
quotes, a header line, no comment lines).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from customer_ml import config
from customer_ml.data.contract_sql import cut, invalid_sql, typed_select
from customer_ml.data.raw_contract import (  # the contract this module loads by
    CONTRACTS,
    LOAD_COLUMNS,
    Contract,
    Limits,
)
from customer_ml.records import lineage


class LoadError(Exception):
    """Bad input: the message is one line naming file, column, row and problem."""


def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def load_id(table: str, path: Path) -> str:
    digest = hashlib.sha256(table.encode())
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw schema and every raw table (empty when a user has no such data)."""
    con.execute("create schema if not exists raw")
    for contract in CONTRACTS.values():
        cols = [f"{c.name} {c.type}" for c in contract.columns]
        cols += [f"{name} {type_}" for name, type_ in LOAD_COLUMNS]
        con.execute(f"create table if not exists raw.{contract.table} ({', '.join(cols)})")
    con.execute(
        "create table if not exists raw._loads (load_id varchar primary key, table_name varchar,"
        " file_name varchar, row_count bigint, loaded_at timestamp)"
    )


def _csv_header(path: Path) -> list[str]:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f), None)
    except UnicodeDecodeError:
        raise LoadError(f"{path.name}: not UTF-8 (line 1); save the file as UTF-8") from None
    if not header:
        raise LoadError(f"{path.name}: empty file")
    names = [h.strip() for h in header]
    for i, name in enumerate(names, 1):
        if not name:
            raise LoadError(f"{path.name}: header field {i} is empty (every column needs a name)")
        if names.index(name) != i - 1:
            raise LoadError(f"{path.name}: header names column {name!r} twice")
    return names


def _reader(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return f"read_parquet({_q(str(path))})"
    if suffix in (".csv", ".txt", ".gz"):
        columns = ", ".join(f"{_q(name)}: 'VARCHAR'" for name in _csv_header(path))
        # A fixed dialect: the sniffer would take a line starting with '#' for a comment and
        # drop it, and guess a header from a ragged file.
        return (
            f"read_csv({_q(str(path))}, columns = {{{columns}}}, header = true, "
            "auto_detect = false, delim = ',', quote = '\"', escape = '\"', comment = '', "
            "strict_mode = true, null_padding = false, encoding = 'utf-8')"
        )
    raise LoadError(f"{path.name}: not a .csv or .parquet file")


def _disk_full(error: duckdb.Error) -> bool:
    return "No space left on device" in str(error)


def out_of_disk(warehouse: Path, error: duckdb.Error) -> LoadError | None:
    """The one line for a load the disk could not hold (the staged rows spill to the warehouse's
    temp folder past CUSTOMER_ML_DUCKDB_MEMORY): not a fault of the file being read."""
    if not _disk_full(error):
        return None
    return LoadError(
        f"{warehouse}: no space left on the device of the warehouse and its temp folder "
        f"({warehouse.name}.tmp) while loading; nothing was written: free disk space and load "
        "again"
    )


def _read_error(path: Path, error: duckdb.Error) -> LoadError:
    """One line naming what is wrong with a file DuckDB could not read."""
    text = str(error)
    line = re.search(r"CSV Error on Line: (\d+)", text)
    at = f" (line {line.group(1)})" if line else ""
    fields = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
    if fields:
        expected, found = fields.groups()
        return LoadError(
            f"{path.name}: line {line.group(1) if line else '?'} has {found} "
            f"fields, the header has {expected}"
        )
    if "not utf-8" in text.lower() or "invalid unicode" in text.lower():
        return LoadError(f"{path.name}: not UTF-8{at}; save the file as UTF-8")
    first = text.strip().splitlines()[0]
    return LoadError(f"{path.name}: cannot be read: {first}")


def _first(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple | None:
    rows = con.execute(sql + " order by 1 limit 1", params or []).fetchall()
    return rows[0] if rows else None


Check = tuple[str, str, str, str]  # condition, column, value shown, problem


def _first_failing(
    con: duckdb.DuckDBPyConnection, source: str, row: str, checks: list[Check]
) -> tuple[Check, int, object] | None:
    """The first check (in the list's order) that a row of `source` fails, with the first such
    row (in file order) and its value shown; None when every row passes. One scan of `source`
    answers every check (a file is read once, however many checks it gets)."""
    if not checks:
        return None
    aggregates = ", ".join(
        f"min({row}) filter (where {condition}), arg_min({shown}, {row}) filter (where {condition})"
        for condition, _, shown, _ in checks
    )
    values = con.execute(f"select {aggregates} from {source}").fetchall()[0]
    failed = [(check, values[2 * i], values[2 * i + 1]) for i, check in enumerate(checks)]
    return next((f for f in failed if f[1] is not None), None)


def _known_models(con: duckdb.DuckDBPyConnection, where: str, staged: str, row: str) -> None:
    """A business event names catalogue models only (a misspelled name would store an event
    whose trigger can never fire)."""
    from customer_ml import catalogue

    known = sorted(catalogue.names())
    bad = _first(
        con,
        f"select {row}, name from (select rowid, trim(unnest(string_split("
        f"cast(affected_models as varchar), ','))) as name from {staged}) "
        "where name <> '' and not list_contains(?, name)",
        [known],
    )
    if bad:
        raise LoadError(
            f"{where}: column 'affected_models', row {bad[0]}: {cut(bad[1])!r} is not a model "
            f"of the catalogue ({', '.join(known)})"
        )


def _stage(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    path: Path,
    temp: str,
    loaded_at: datetime,
    limits: Limits,
) -> int:
    """Validate `path` against the contract into temp table `temp`; raise LoadError on bad input.

    The file is scanned once into a staged copy, each check streams over it, and one statement
    types it: memory is DuckDB's (`memory_limit`, spilling to the warehouse's temp folder), so
    the peak stays within the configured limit whatever the file's size."""
    where = f"{path.name}"
    if path.stat().st_size == 0:
        raise LoadError(f"{where}: empty file")
    try:
        # A table created from a scan keeps the file's order (insertion order is preserved on
        # this connection), so rowid order is the file's; inside a transaction rowids do not
        # start at 0, hence the offset.
        con.execute(f"create or replace temp table {temp}_in as select * from {_reader(path)}")
    except duckdb.Error as e:
        if _disk_full(e):
            raise  # not the file's fault: load() says so, naming the warehouse
        raise _read_error(path, e) from None
    count, first = con.execute(f"select count(*), min(rowid) from {temp}_in").fetchall()[0]
    if count == 0:
        return 0  # a header or schema and no rows: a day without changes; nothing to load
    row = f"(rowid - {first} + 1)"
    present = [r[0] for r in con.execute(f"describe {temp}_in").fetchall()]
    expected = [c.name for c in contract.columns]
    unknown = [name for name in present if name not in expected]
    if unknown:
        hint = ""
        if len(present) == 1 and any(sep in present[0] for sep in ";\t|"):
            hint = "; the header has one field: this loader reads comma-separated files"
        raise LoadError(
            f"{where}: column{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(cut(n)) for n in unknown)} not in the contract of raw."
            f"{contract.table} (expected names: {', '.join(expected)}){hint}"
        )
    for column in contract.columns:
        if column.required and column.name not in present:
            raise LoadError(
                f"{where}: column {column.name!r}: missing (required in {contract.table})"
            )

    kinds = dict(
        con.execute(f"select column_name, column_type from (describe {temp}_in)").fetchall()
    )
    typed = {c.name for c in contract.columns if c.name in present and kinds[c.name] == c.type}
    checks = [
        (f'"{column.name}" is not null and ({condition})', column.name,
         f'cast("{column.name}" as varchar)', problem)
        for column in contract.columns if column.name in present
        for condition, problem in invalid_sql(column, limits, column.name in typed)
    ]  # fmt: skip
    failed = _first_failing(con, f"{temp}_in", row, checks)
    if failed:
        (_, name, _, problem), bad, value = failed
        raise LoadError(f"{where}: column {name!r}, row {bad}: {cut(value)!r} {problem}")
    if contract.table == "business_events" and "affected_models" in present:
        _known_models(con, where, f"{temp}_in", row)
    select, _ = typed_select(contract, set(present), f"{temp}_in", row, typed)
    con.execute(f"create or replace temp table {temp}_typed as {select}")
    con.execute(f"drop table {temp}_in")  # its memory (or spilled blocks) back before the checks

    latest = loaded_at + limits.future_tolerance
    timed = ([] if contract.known_before_event else [contract.event_time]) + ["_available_at"]
    required = [c.name for c in contract.columns if c.required]
    checks = [
        *((f"{name} is null", name, "null", "NULL id") for name in contract.ids),
        *((f"{name} is null", name, "null", "empty required value") for name in required),
        *(
            (f"{name} > timestamp '{latest:%Y-%m-%d %H:%M:%S.%f}'", name, name,
             f"is after the load time {loaded_at:%Y-%m-%d %H:%M} UTC plus "
             f"{limits.future_tolerance.total_seconds() / 3600:g} h (--future-tolerance-hours); "
             "a fact cannot be known before it happens")
            for name in timed
        ),
        *(
            [] if contract.known_before_event else
            [(f"_available_at < {contract.event_time}", "_available_at", "null",
              f"before {contract.event_time} (a row cannot be known before it happened)")]
        ),
    ]  # fmt: skip
    failed = _first_failing(con, f"{temp}_typed", "_row", checks)
    if failed:
        (_, name, shown, problem), bad, value = failed
        what = f"{value} {problem}" if shown != "null" else problem
        raise LoadError(f"{where}: column {name!r}, row {bad}: {what}")
    key = ", ".join(contract.key)
    dup = _first(
        con,
        f"select min(_row), max(_row) from {temp}_typed group by {key} having count(*) > 1",
    )
    if dup:
        raise LoadError(f"{where}: columns ({key}), rows {dup[0]} and {dup[1]}: duplicate key")
    match = " and ".join(f"r.{k} = t.{k}" for k in contract.key)
    again = _first(
        con,
        f"select t._row, l.file_name, l.load_id from {temp}_typed t "
        f"join raw.{contract.table} r on {match} join raw._loads l on l.load_id = r._load_id",
    )
    if again:
        raise LoadError(
            f"{where}: columns ({key}), row {again[0]}: already loaded from {again[1]} "
            f"(load id {again[2]}); a correction repeats the key with a later _available_at"
        )
    return con.execute(f"select count(*) from {temp}_typed").fetchall()[0][0]


def load(
    warehouse: Path,
    files: dict[str, Path],
    loaded_at: datetime | None = None,
    limits: Limits | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, str]:
    """Load files (table name -> path) into `raw`. Returns table -> 'loaded N rows' / 'skipped'.
    `progress` is told each step as it starts (the CLI shows it).

    Raises LoadError on bad input, before anything is written.
    """
    step = progress or (lambda _: None)
    if not files:
        raise LoadError(
            "nothing to load: give one file or more (--orders, --customers, --events, "
            "--business-events)"
        )
    for table, path in files.items():
        if table not in CONTRACTS:
            raise LoadError(f"{path}: unknown table {table!r}")
        if Path(path).is_dir():
            raise LoadError(f"{path}: a directory, not a file (for {table})")
        if not Path(path).is_file():
            raise LoadError(f"{path}: file not found (for {table})")
    loaded_at = loaded_at or lineage.utc_now()
    if loaded_at.tzinfo:  # stored, and compared, as naive UTC like every lineage time
        loaded_at = loaded_at.astimezone(UTC).replace(tzinfo=None)
    limits = limits or Limits.from_project()
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = config.connect(warehouse)
    except config.OperatorError as e:
        raise LoadError(str(e)) from None
    try:
        # within CUSTOMER_ML_DUCKDB_MEMORY: past it the staged rows spill to the warehouse's
        # temp folder (`<file>.tmp`) instead of the file being held in memory. Before the
        # transaction: a refused value is its own one line, not a failed rollback.
        config.set_duckdb_resources(con)
        lineage.check_clock(con)  # _loaded_at is read by the clock: one kind per warehouse
    except config.OperatorError as e:
        con.close()
        raise LoadError(str(e)) from None
    outcome: dict[str, str] = {}
    try:
        con.execute("set TimeZone = 'UTC'")  # never the loading machine's zone
        con.execute("set preserve_insertion_order = true")  # rowid order is the file's
        con.execute("begin transaction")
        ensure_raw_schema(con)
        for table, path in files.items():
            path = Path(path)
            lid = load_id(table, path)
            seen = con.execute("select 1 from raw._loads where load_id = ?", [lid]).fetchall()
            if seen:
                outcome[table] = f"skipped: {path.name} already loaded (load id {lid})"
                continue
            contract = CONTRACTS[table]
            step(f"checking {path.name} for raw.{table}")
            rows = _stage(con, contract, path, f"_stage_{table}", loaded_at, limits)
            if rows == 0:
                outcome[table] = f"skipped: {path.name} has no rows"
                continue
            names = ", ".join(c.name for c in contract.columns)
            step(f"appending {rows} rows to raw.{table}")
            con.execute(
                f"insert into raw.{table} ({names}, _loaded_at, _load_id) "
                f"select {names}, ?, ? from _stage_{table}_typed order by _row",
                [loaded_at, lid],
            )
            con.execute(
                "insert into raw._loads values (?, ?, ?, ?, ?)",
                [lid, table, path.name, rows, loaded_at],
            )
            # its spilled blocks back before the next file's: at 3M customers the typed copies
            # of orders and events together outgrew the disk
            con.execute(f"drop table _stage_{table}_typed")
            outcome[table] = f"loaded {rows} rows (load id {lid})"
        step("committing")
        con.execute("commit")
    except duckdb.Error as e:
        con.execute("rollback")
        raise (out_of_disk(warehouse, e) or e) from None
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.close()
    return outcome
