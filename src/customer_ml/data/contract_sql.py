"""The SQL by which the loader (customer_ml.data.load) checks and types a file's values against
the source contract: what each column's text must look like, and the one SELECT that types a
file, defaults included. Pure: it builds SQL text and runs nothing."""

from __future__ import annotations

from customer_ml.data.raw_contract import Column, Contract, Limits


def cut(value: object, limit: int = 80) -> str:
    """A value as a message shows it: at most `limit` characters (a refused 10,000-digit id is
    named, not echoed whole)."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def parse_sql(column: Column, raw: str) -> str:
    """SQL parsing a VARCHAR value into the column's type; NULL when it is not one."""
    if column.type == "TIMESTAMP":
        # With the session in UTC, an offset is honoured and a naive time is taken as UTC.
        return f"timezone('UTC', try_cast({raw} as TIMESTAMPTZ))"
    return f"try_cast({raw} as {column.type})"


def value_sql(column: Column, typed: bool) -> str:
    """SQL for the column's value in the contract's type: the file's value itself when the file
    already holds that type (a Parquet INT64 as BIGINT, a zone-less TIMESTAMP as TIMESTAMP),
    else its text parsed (CSV, or a Parquet column of another type)."""
    name = f'"{column.name}"'
    return name if typed else parse_sql(column, f"cast({name} as varchar)")


# A time's UTC offset, when it has one: hours and minutes after the clock time.
OFFSET = r"\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*[+-](\d{2}):?(\d{2})?\s*$"


def invalid_sql(column: Column, limits: Limits, typed: bool = False) -> list[tuple[str, str]]:
    """[(SQL true for a non-NULL value the column cannot hold, what the message says)], checked
    in order: the first that a row fails names it. A column the file already holds in the
    contract's type needs only the checks of its value (its text always parses)."""
    raw = f'cast("{column.name}" as varchar)'
    parsed = value_sql(column, typed)
    if column.type == "BIGINT":
        # the contract's integers, not DuckDB's casts: plain decimal digits (a Parquet float id
        # such as 42.0 included); 0x2A, 4_2 and 1e3 are refused, and 16.5 is never rounded
        return [] if typed else [
            (
                f"not regexp_full_match(trim({raw}), '[+-]?[0-9]+(\\.0*)?') or {parsed} is null",
                "is not an integer (plain decimal digits)",
            )
        ]  # fmt: skip
    if column.name == "amount":
        return [
            (
                f"{parsed} is null or not isfinite({parsed}) or {parsed} < 0 "
                f"or {parsed} > {limits.max_amount!r}",
                f"is not an amount (a finite number from 0 to {limits.max_amount:,.0f}, the "
                "maximum set by --max-amount)",
            )
        ]
    if column.type == "TIMESTAMP":
        hours = f"try_cast(regexp_extract({raw}, '{OFFSET}', 1) as integer)"
        minutes = f"coalesce(try_cast(regexp_extract({raw}, '{OFFSET}', 2) as integer), 0)"
        text = [
            (f"{parsed} is null", "is not a valid date/time"),
            (
                f"coalesce({hours} * 60 + {minutes}, 0) > 14 * 60",
                "has a UTC offset beyond ±14:00 (no time zone has one)",
            ),
        ]
        return [
            *([] if typed else text),
            (
                f"{parsed} < timestamp '{limits.earliest:%Y-%m-%d}'",
                f"is before {limits.earliest:%Y-%m-%d} (var earliest_event_date: no shop's "
                "data is older; a BC or year-1 date is a mistake)",
            ),
        ]
    return [] if typed else [(f"{parsed} is null", f"is not a valid {column.type}")]


def typed_select(
    contract: Contract, present: set[str], source: str, row: str, typed: set[str] = frozenset()
) -> tuple[str, list[str]]:
    """One SELECT from the scanned file to the contract's typed columns, defaults included:
    streamed by DuckDB in one pass (no UPDATE of a staged copy); the columns in `typed` are
    taken as they are (the file holds them in the contract's type). A default may refer to an
    earlier column (order_id to customer_id, ordered_at, amount and the line's occurrence), so
    each absent column is a layer over the ones before it, in contract order."""
    select = [f"{row} as _row"]
    for column in (c for c in contract.columns if c.name in present):
        select.append(f"{value_sql(column, column.name in typed)} as {column.name}")
    layers = [f"select {', '.join(select)} from {source}"]
    absent = [c for c in contract.columns if c.name not in present]
    if contract.identity and any("_occurrence" in (c.default or "") for c in absent):
        layers.append(
            "select *, row_number() over (partition by "
            f"{', '.join(contract.identity)} order by _row) as _occurrence from layer"
        )
    for column in absent:
        layers.append(
            f"select *, cast({column.default} as {column.type}) as {column.name} from layer"
        )
    if "_available_at" in present:
        layers.append(
            "select * replace (coalesce(_available_at, "
            f"{contract.event_time}) as _available_at) from layer"
        )
    sql = layers[0]
    for layer in layers[1:]:
        sql = f"with layer as ({sql}) {layer}"
    return sql, [c.name for c in contract.columns]
