"""Tamper-evident lineage: every append-only record table is sealed into one hash chain, and
`verify` names the first row altered, deleted or inserted behind the chain's back.

A *row hash* is the SHA-256 of the row's non-NULL columns as `name=value` text (a column added by
a later version, NULL in old rows, leaves old hashes as they were). A *seal* covers the rows of
one table that no earlier seal covers: `lineage.sealed_rows` lists their hashes, and its
`lineage.seals` row carries the hash of that list and the previous seal's hash, so altering,
deleting or inserting a seal or a sealed row breaks the chain from there on.

Rows of a build that started (`lineage.invocations`) and never finished (no `lineage.builds`
row: killed) are never sealed and never served; `verify` leaves them out of its problems and
`killed_builds` lists them.

Writers seal exactly what they wrote: `records.append` the rows it appended (CLI actions,
training and scoring records), and every dbt build at its end the rows carrying its
invocation_id (`customer_ml_seal`, from the on-run-end hook), which covers what SQL wrote and the
`ml.*` prediction and training tables. No writer seals rows it did not write, so rows that are
never sealed are rows inserted by hand, or written by a build that never finished: `verify`
names them. During a build its own rows are not sealed yet; the build's dbt test therefore
checks the sealed part only (`include_unsealed=False`).

The chain's head is anchored outside the warehouse: each build's MLflow run carries the head as
the build ended (before its own seals) and after its seals, and `verify-lineage` checks every
anchor against `lineage.seals` (`check_anchors`), so a chain rewritten consistently inside the
warehouse, or its newest seals deleted, fails. Sealed rows pointing at a seal that is gone are
named too. Seals made by CLI actions after the last build are anchored by the next build.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import duckdb

from customer_ml import catalogue, config
from customer_ml.records import lineage

CHAIN_TABLES = ("seals", "sealed_rows")  # the chain itself, declared in tables.TABLES


def chained_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every append-only record table present: lineage.* (customer_ml.records.store) and the models'
    ml.*__train / ml.*__score tables."""
    from customer_ml.records import tables

    wanted = [f"lineage.{t}" for t in tables.TABLES if t not in CHAIN_TABLES]
    wanted += [f"ml.ml_{m}__{kind}" for m in catalogue.names() for kind in ("train", "score")]
    present = {
        f"{schema}.{name}"
        for schema, name in con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = current_database() and table_type = 'BASE TABLE'"
        ).fetchall()
    }
    return [t for t in wanted if t in present]


def columns_of(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The columns of `table` (a name in `main`, schema.table, or as dbt renders a relation:
    "db"."schema"."t") in the current database; none when there is no such table."""
    *schema, name = [part.strip('"') for part in table.split(".")][-2:]
    schema = schema or ["main"]
    return [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_catalog = "
            "current_database() and table_schema = ? and table_name = ? order by ordinal_position",
            [schema[0], name],
        ).fetchall()
    ]


def row_hash_sql(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """SQL computing the hash of each row of `table`, or of a select with its columns (see the
    module docstring)."""
    parts = ", ".join(f"'{c}=' || cast(\"{c}\" as varchar)" for c in columns_of(con, table))
    return f"sha256(concat_ws(chr(31), {parts}))"


def _counts(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """SQL: (row_hash, n_present, n_sealed, first_seal) for every hash present or sealed."""
    return f"""
        with present as (
            select {row_hash_sql(con, table)} as row_hash, count(*) as n
            from {table} group by 1
        ),
        sealed as (
            select row_hash, count(*) as n, min(seal_seq) as first_seal
            from lineage.sealed_rows where table_name = '{table}' group by 1
        )
        select
            row_hash,
            coalesce(present.n, 0) as n_present,
            coalesce(sealed.n, 0) as n_sealed,
            sealed.first_seal
        from present full outer join sealed using (row_hash)
    """


def _link(prev_hash: str, table: str, n_rows: int, rows_hash: str) -> str:
    return hashlib.sha256(f"{prev_hash}|{table}|{n_rows}|{rows_hash}".encode()).hexdigest()


def seal_rows(
    con: duckdb.DuckDBPyConnection, table: str, rows_sql: str, invocation_id: str | None
) -> int:
    """Seal the rows `rows_sql` selects (rows of `table`, with its columns) that no seal covers
    yet, as one seal. Returns the number of rows sealed. Work proportional to the rows
    selected: a table the build wrote nothing to costs the scan of `rows_sql` alone, not a look
    through every row ever sealed."""
    con.execute(
        f"create or replace temp table _present as select {row_hash_sql(con, table)} as row_hash, "
        f"count(*) as n from ({rows_sql}) group by 1"
    )
    if not con.execute("select count(*) from _present").fetchall()[0][0]:
        con.execute("drop table _present")
        return 0
    con.execute(
        f"""
        create or replace temp table _to_seal as
        with sealed as (
            select row_hash, count(*) as n from lineage.sealed_rows
            where table_name = '{table}' and row_hash in (select row_hash from _present)
            group by 1
        )
        select row_hash from (
            select row_hash, unnest(range(_present.n - coalesce(sealed.n, 0))) as copy
            from _present left join sealed using (row_hash)
            where _present.n > coalesce(sealed.n, 0)
        )
        """
    )
    con.execute("drop table _present")
    [(n_rows, rows_hash)] = con.execute(
        "select count(*), sha256(coalesce(string_agg(row_hash, '' order by row_hash), '')) "
        "from _to_seal"
    ).fetchall()
    if n_rows:
        last = con.execute(
            "select seal_seq, seal_hash from lineage.seals order by seal_seq desc limit 1"
        ).fetchall()
        seq, prev_hash = (last[0][0] + 1, last[0][1]) if last else (1, "")
        con.execute(
            "insert into lineage.sealed_rows (table_name, seal_seq, row_hash) "
            "select ?, ?, row_hash from _to_seal",
            [table, seq],
        )
        con.execute(
            "insert into lineage.seals (seal_seq, table_name, n_rows, rows_hash, prev_hash, "
            "seal_hash, invocation_id, sealed_at) values (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                seq,
                table,
                n_rows,
                rows_hash,
                prev_hash,
                _link(prev_hash, table, n_rows, rows_hash),
                invocation_id,
                lineage.utc_now(),
            ],
        )
    con.execute("drop table _to_seal")
    return n_rows


SEALED_LAST = "lineage.builds"  # its row sealed means the build's seal completed


def seal_build(
    con: duckdb.DuckDBPyConnection, invocation_id: str, interrupted: Sequence[str] = ()
) -> int:
    """At a build's end: seal every chained table's rows written by this build, its
    lineage.builds row last, after those of the finished builds whose own seal was `interrupted`
    (killed inside the seal hook; `interrupted_seals`)."""
    total = 0
    tables = sorted(chained_tables(con), key=lambda t: t == SEALED_LAST)
    for invocation in [*interrupted, invocation_id]:
        quoted = invocation.replace("'", "''")
        for table in tables:
            if "invocation_id" in columns_of(con, table):
                rows = f"select * from {table} where invocation_id = '{quoted}'"
                total += seal_rows(con, table, rows, invocation)
                if total:
                    config.fault_point("seal")
    return total


def interrupted_seals(
    con: duckdb.DuckDBPyConnection, anchored: set[str] | None = None
) -> list[str]:
    """Finished builds whose seal never completed (their lineage.builds row, sealed last, is not
    sealed) and that MLflow knows (`anchored`: a build run recorded them; a builds row forged
    with SQL has none, so its rows stay "inserted by hand"; None: all of them)."""
    found = con.execute(
        f"select invocation_id from (select invocation_id, {row_hash_sql(con, SEALED_LAST)} "
        f"as row_hash from {SEALED_LAST}) where row_hash not in (select row_hash from "
        f"lineage.sealed_rows where table_name = '{SEALED_LAST}') order by 1"
    ).fetchall()
    return [i for (i,) in found if anchored is None or i in anchored]


KILLED = (
    "select invocation_id from lineage.invocations "
    "where invocation_id not in (select invocation_id from lineage.builds)"
)


def _unsealed_not_killed(
    con: duckdb.DuckDBPyConnection, table: str, interrupted: Sequence[str]
) -> tuple[int, tuple]:
    """Rows of `table` no seal covers, leaving out those of builds that never finished (they
    are never served or promoted; `killed_builds` lists them) and of builds whose seal was
    interrupted (the next build seals them): (how many, the first)."""
    killed = (
        f"invocation_id in ({KILLED}) or invocation_id in ({_literals(interrupted)})"
        if "invocation_id" in columns_of(con, table)
        else "false"
    )
    rows = con.execute(
        f"""
        with present as (
            select *, {row_hash_sql(con, table)} as _row_hash from {table}
        ),
        numbered as (
            select *, row_number() over (partition by _row_hash) as _copy from present
        ),
        sealed as (
            select row_hash as _row_hash, count(*) as _n from lineage.sealed_rows
            where table_name = '{table}' group by 1
        )
        select * exclude (_row_hash, _copy, _n), count(*) over () as _unsealed
        from numbered left join sealed using (_row_hash)
        where _copy > coalesce(_n, 0) and not coalesce({killed}, false)
        limit 1
        """
    ).fetchall()
    return (rows[0][-1], rows[0][:-1]) if rows else (0, ())


def _literals(values: Sequence[str]) -> str:
    """SQL string literals, comma-separated ("null" for none: `in (null)` matches nothing)."""
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values) or "null"


def killed_builds(
    con: duckdb.DuckDBPyConnection, invocations: Sequence[str] | None = None
) -> list[tuple[str, str, int]]:
    """Builds that started and never finished (killed, or running now), or the `invocations`
    given (e.g. those whose seal was interrupted), with their rows per table:
    (invocation_id, table, rows). The rows of a build that never finished are never served."""
    which = KILLED if invocations is None else _literals(invocations)
    out = []
    for table in chained_tables(con):
        if "invocation_id" not in columns_of(con, table) or table == "lineage.invocations":
            continue
        out += con.execute(
            f"select invocation_id, '{table}', count(*) from {table} "
            f"where invocation_id in ({which}) group by 1 order by 1"
        ).fetchall()
    return out


def verify(
    con: duckdb.DuckDBPyConnection,
    *,
    include_unsealed: bool = True,
    interrupted: Sequence[str] = (),
) -> list[str]:
    """One line per problem, the first found per table: a broken seal, a sealed row deleted or
    altered, rows never sealed (when `include_unsealed`; rows of builds that never finished, or
    whose seal was `interrupted`, are not problems). Empty when the chain holds."""
    problems: list[str] = []
    seals = con.execute(
        "select s.seal_seq, s.table_name, s.n_rows, s.rows_hash, s.prev_hash, s.seal_hash, "
        "s.invocation_id, r.n, r.rows_hash from lineage.seals s left join ("
        "select seal_seq, count(*) as n, sha256(string_agg(row_hash, '' order by row_hash)) "
        "as rows_hash from lineage.sealed_rows group by seal_seq) r using (seal_seq) "
        "order by s.seal_seq"
    ).fetchall()
    prev = ""
    for expected_seq, row in enumerate(seals, 1):
        seq, table, n_rows, rows_hash, prev_hash, seal_hash, invocation, n_listed, listed = row
        if (
            seq != expected_seq
            or prev_hash != prev
            or seal_hash != _link(prev_hash, table, n_rows, rows_hash)
            or (n_listed, listed) != (n_rows, rows_hash)
        ):
            problems.append(
                f"lineage.seals: seal {seq} ({table}, build {invocation}) altered, or a seal "
                f"before it deleted or inserted: the chain is broken from seal {seq} on"
            )
            break
        prev = seal_hash
    [(dangling, first_missing)] = con.execute(
        "select count(*), min(seal_seq) from lineage.sealed_rows "
        "where seal_seq not in (select seal_seq from lineage.seals)"
    ).fetchall()
    if dangling:
        problems.append(
            f"lineage.sealed_rows: {dangling} row(s) point at seal {first_missing} or later, which "
            "lineage.seals does not have: seals were deleted (or one was stopped as it was "
            "written)"
        )
    sealed_tables = {row[1] for row in seals}
    for table in chained_tables(con):
        if table not in sealed_tables and not include_unsealed:
            continue
        diff = con.execute(
            f"select row_hash, n_present, n_sealed, first_seal from ({_counts(con, table)}) "
            "where n_present <> n_sealed order by first_seal nulls last, row_hash"
        ).fetchall()
        missing = [d for d in diff if d[2] > d[1]]
        if missing:
            row_hash, _, _, first_seal = missing[0]
            problems.append(
                f"{table}: a row sealed in seal {first_seal} was deleted or altered "
                f"(row hash {row_hash[:16]}; {len(missing)} such row(s))"
            )
        extra = [d for d in diff if d[1] > d[2]]
        if extra and include_unsealed:
            n_unsealed, first = _unsealed_not_killed(con, table, interrupted)
            if n_unsealed:
                text = ", ".join(str(v) for v in first[:4])
                problems.append(
                    f"{table}: {n_unsealed} row(s) never sealed (inserted by hand), first: "
                    f"({text}, ...)"
                )
    return problems


def unsealed(con: duckdb.DuckDBPyConnection, table: str, where: str, params: list) -> int:
    """How many of the rows of `table` matching `where` no seal covers."""
    [(n,)] = con.execute(
        f"""
        with present as (
            select {row_hash_sql(con, table)} as row_hash, count(*) as n
            from {table} where {where} group by 1
        ),
        sealed as (
            select row_hash, count(*) as n from lineage.sealed_rows
            where table_name = '{table}' and row_hash in (select row_hash from present)
            group by 1
        )
        select coalesce(sum(greatest(present.n - coalesce(sealed.n, 0), 0)), 0)
        from present left join sealed using (row_hash)
        """,
        params,
    ).fetchall()
    return int(n)


def check_record(con: duckdb.DuckDBPyConnection, table: str, where: str, params: list) -> str:
    """'intact' when the chain holds and the record is sealed; else the first problem."""
    problems = verify(con, include_unsealed=False)
    if problems:
        return problems[0]
    if unsealed(con, table, where, params):
        return f"{table}: the record is not sealed (inserted by hand, or its build never finished)"
    return "intact"


def head(con: duckdb.DuckDBPyConnection) -> str:
    """The chain's head, "seq:hash" ("0:" before the first seal)."""
    row = con.execute(
        "select seal_seq, seal_hash from lineage.seals order by seal_seq desc limit 1"
    ).fetchone()
    return f"{row[0]}:{row[1]}" if row else "0:"


def check_anchors(con: duckdb.DuckDBPyConnection, anchors: list[tuple[str, str]]) -> list[str]:
    """One line per anchor (invocation, "seq:hash", kept in MLflow) the chain no longer has."""
    seals = dict(con.execute("select seal_seq, seal_hash from lineage.seals").fetchall())
    problems = []
    for invocation, anchor in anchors:
        seq, _, hash_ = anchor.partition(":")
        if int(seq) and int(seq) not in seals:
            problems.append(
                f"lineage.seals: seal {seq}, which build {invocation} anchored in MLflow, is "
                f"missing (the newest {int(seq) - max(seals, default=0)} seal(s) were deleted)"
            )
        elif int(seq) and seals.get(int(seq)) != hash_:
            problems.append(
                f"lineage.seals: seal {seq} is not the one build {invocation} anchored in MLflow "
                "(the chain was rewritten from there)"
            )
    return problems[:1]


def adopt(con: duckdb.DuckDBPyConnection, who: str) -> int:
    """Seal every row no seal covers, in one seal per table marked as adopted by `who`: for a
    warehouse made before the chain existed (its history is vouched for by who adopts it, not
    by the chain), or after an operator has checked rows `verify` named."""
    label = f"adopted by {who} at {lineage.utc_now():%Y-%m-%d %H:%M:%S}"
    return sum(seal_rows(con, t, f"select * from {t}", label) for t in chained_tables(con))
