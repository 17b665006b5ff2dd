"""Load a user's own CSV or Parquet files into the warehouse's `raw` schema as appended batches.

The source contract (below, and in the README) names every column a raw table may have; only
`orders(customer_id, ordered_at, amount)` is required. Each file is validated completely before
anything is written; all files of one `load` call go in one transaction, so bad input leaves the
warehouse exactly as it was. Each batch is stamped with `_load_id` (a hash of the table name and
the file's bytes) and `_loaded_at`; a file whose load id is already recorded is skipped, so loading
the same file twice changes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from customer_ml import lineage


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type
    required: bool
    meaning: str
    default: str | None = None  # SQL expression over the input when the column is absent


@dataclass(frozen=True)
class Contract:
    table: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # unique within a file
    ids: tuple[str, ...]  # must not be NULL
    event_time: str  # `_available_at` defaults to it
    # Facts cannot be known before they happen; planned events (campaigns) are announced before.
    known_before_event: bool = False

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


AVAILABLE = "when the business could first know this row (defaults to the event time)"

CONTRACTS: dict[str, Contract] = {
    "orders": Contract(
        "orders",
        (
            Column(
                "order_id",
                "BIGINT",
                False,
                "order key; a correction repeats it with a later _available_at",
                "hash(customer_id, ordered_at, amount) % 9007199254740991",
            ),
            Column("customer_id", "BIGINT", True, "customer key"),
            Column("ordered_at", "TIMESTAMP", True, "when the order was placed (event time)"),
            Column("amount", "DOUBLE", True, "order value, >= 0, in one currency"),
            Column("channel", "VARCHAR", False, "web / app / store / ...", "'unknown'"),
            Column("_available_at", "TIMESTAMP", False, AVAILABLE, "ordered_at"),
        ),
        key=("order_id", "_available_at"),
        ids=("order_id", "customer_id"),
        event_time="ordered_at",
    ),
    "customers": Contract(
        "customers",
        (
            Column("customer_id", "BIGINT", True, "customer key"),
            Column("signup_at", "TIMESTAMP", False, "when the customer signed up", "NULL"),
            Column("country", "VARCHAR", False, "country code", "'unknown'"),
            Column("plan", "VARCHAR", False, "subscription plan", "'unknown'"),
            Column("marketing_opt_in", "BOOLEAN", False, "consent to marketing", "false"),
            Column(
                "updated_at",
                "TIMESTAMP",
                False,
                "from when this row's values hold (a change log: one row per change)",
                "coalesce(signup_at, timestamp '1970-01-01')",
            ),
            Column("_available_at", "TIMESTAMP", False, AVAILABLE, "updated_at"),
        ),
        key=("customer_id", "updated_at"),
        ids=("customer_id",),
        event_time="updated_at",
    ),
    "engagement_events": Contract(
        "engagement_events",
        (
            Column(
                "event_id",
                "BIGINT",
                False,
                "event key",
                "hash(customer_id, event_type, occurred_at) % 9007199254740991",
            ),
            Column("customer_id", "BIGINT", True, "customer key"),
            Column("event_type", "VARCHAR", True, "session / support_contact / ..."),
            Column("occurred_at", "TIMESTAMP", True, "when it happened (event time)"),
            Column("_available_at", "TIMESTAMP", False, AVAILABLE, "occurred_at"),
        ),
        key=("event_id",),
        ids=("event_id", "customer_id"),
        event_time="occurred_at",
    ),
    "business_events": Contract(
        "business_events",
        (
            Column("event_id", "BIGINT", True, "event key"),
            Column("event_type", "VARCHAR", True, "campaign / product_change / ..."),
            Column("name", "VARCHAR", True, "what it was"),
            Column("starts_at", "TIMESTAMP", True, "when it started (event time)"),
            Column("ends_at", "TIMESTAMP", False, "when it ended", "starts_at"),
            Column("affected_models", "VARCHAR", False, "comma-separated model names", "''"),
            Column("_available_at", "TIMESTAMP", False, AVAILABLE, "starts_at"),
        ),
        key=("event_id",),
        ids=("event_id",),
        event_time="starts_at",
        known_before_event=True,
    ),
}

LOAD_COLUMNS = (("_loaded_at", "TIMESTAMP"), ("_load_id", "VARCHAR"))


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


def _reader(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return f"read_parquet({_q(str(path))})"
    if suffix in (".csv", ".txt", ".gz"):
        return f"read_csv({_q(str(path))}, all_varchar = true, header = true)"
    raise LoadError(f"{path}: not a .csv or .parquet file")


def _stage(con: duckdb.DuckDBPyConnection, contract: Contract, path: Path, temp: str) -> int:
    """Validate `path` against the contract into temp table `temp`; raise LoadError on bad input."""
    where = f"{path.name}"
    try:
        con.execute(
            f"create or replace temp table {temp}_in as "
            f"select row_number() over () as _row, * from {_reader(path)}"
        )
    except duckdb.Error as e:
        first = str(e).strip().splitlines()[0]
        raise LoadError(f"{where}: cannot be read: {first}") from None
    present = {r[0] for r in con.execute(f"describe {temp}_in").fetchall()}
    for column in contract.columns:
        if column.required and column.name not in present:
            raise LoadError(
                f"{where}: column {column.name!r}: missing (required in {contract.table})"
            )

    typed = []
    for column in (c for c in contract.columns if c.name in present):
        raw = f'cast("{column.name}" as varchar)'
        bad = con.execute(
            f"select _row, {raw} from {temp}_in where {raw} is not null "
            f"and try_cast({raw} as {column.type}) is null order by _row limit 1"
        ).fetchall()
        if bad:
            row, value = bad[0]
            kind = "date/time" if column.type == "TIMESTAMP" else column.type
            raise LoadError(
                f"{where}: column {column.name!r}, row {row}: {value!r} is not a valid {kind}"
            )
        typed.append(f"try_cast({raw} as {column.type}) as {column.name}")
    con.execute(
        f"create or replace temp table {temp}_typed as "
        f"select _row, {', '.join(typed)} from {temp}_in"
    )
    # Absent optional columns take their defaults, in contract order, since a default may
    # refer to an earlier column (order_id from customer_id, ordered_at and amount).
    for column in (c for c in contract.columns if c.name not in present):
        con.execute(f"alter table {temp}_typed add column {column.name} {column.type}")
        con.execute(
            f"update {temp}_typed set {column.name} = cast({column.default} as {column.type})"
        )
    if "_available_at" in present:
        con.execute(
            f"update {temp}_typed set _available_at = {contract.event_time} "
            "where _available_at is null"
        )

    for name in contract.ids:
        null = con.execute(
            f"select _row from {temp}_typed where {name} is null order by _row limit 1"
        ).fetchall()
        if null:
            raise LoadError(f"{where}: column {name!r}, row {null[0][0]}: NULL id")
    for name in (c.name for c in contract.columns if c.required):
        null = con.execute(
            f"select _row from {temp}_typed where {name} is null order by _row limit 1"
        ).fetchall()
        if null:
            raise LoadError(f"{where}: column {name!r}, row {null[0][0]}: empty required value")
    if "amount" in present:
        neg = con.execute(
            f"select _row, amount from {temp}_typed where amount < 0 order by _row limit 1"
        ).fetchall()
        if neg:
            raise LoadError(
                f"{where}: column 'amount', row {neg[0][0]}: negative amount {neg[0][1]}"
            )
    if not contract.known_before_event:
        early = con.execute(
            f"select _row from {temp}_typed where _available_at < {contract.event_time} "
            "order by _row limit 1"
        ).fetchall()
        if early:
            raise LoadError(
                f"{where}: column '_available_at', row {early[0][0]}: "
                f"before {contract.event_time} (a row cannot be known before it happened)"
            )
    key = ", ".join(contract.key)
    dup = con.execute(
        f"select min(_row), max(_row) from {temp}_typed group by {key} having count(*) > 1 "
        "order by 1 limit 1"
    ).fetchall()
    if dup:
        raise LoadError(
            f"{where}: columns ({key}), rows {dup[0][0]} and {dup[0][1]}: duplicate key"
        )
    return con.execute(f"select count(*) from {temp}_typed").fetchall()[0][0]


def load(
    warehouse: Path,
    files: dict[str, Path],
    loaded_at: datetime | None = None,
) -> dict[str, str]:
    """Load files (table name -> path) into `raw`. Returns table -> 'loaded N rows' / 'skipped'.

    Raises LoadError on bad input, before anything is written.
    """
    if "orders" not in files and not files:
        raise LoadError("nothing to load: --orders is required")
    for table, path in files.items():
        if table not in CONTRACTS:
            raise LoadError(f"{path}: unknown table {table!r}")
        if not Path(path).is_file():
            raise LoadError(f"{path}: file not found (for {table})")
    loaded_at = loaded_at or lineage.utc_now()
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse))
    outcome: dict[str, str] = {}
    try:
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
            rows = _stage(con, contract, path, f"_stage_{table}")
            names = ", ".join(c.name for c in contract.columns)
            con.execute(
                f"insert into raw.{table} ({names}, _loaded_at, _load_id) "
                f"select {names}, ?, ? from _stage_{table}_typed order by _row",
                [loaded_at, lid],
            )
            con.execute(
                "insert into raw._loads values (?, ?, ?, ?, ?)",
                [lid, table, path.name, rows, loaded_at],
            )
            outcome[table] = f"loaded {rows} rows (load id {lid})"
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.close()
    return outcome
