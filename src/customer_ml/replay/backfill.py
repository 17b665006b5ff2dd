"""Backfills (docs/design.md "Targets": backfill): a plain `dbt build --target backfill` recomputes
history in a warehouse file of its own, `<warehouse>/backfills/<backfill_id>.duckdb`.

When the build opens that file (the dbt plugin), `prepare` attaches production READ_ONLY, copies
the raw rows the backfill may read — loaded by its watermark, of its cohort's customers — and
detaches, in one transaction; every model then runs unchanged on that copy, so features and labels
are exactly what was knowable at the watermark (invariant 1), work is proportional to the slice,
and nothing the backfill runs can write to production. Production builds wait for the copy only
(the lock is held while it runs), never for the backfill's models.

Each backfill is recorded in its own file's `lineage.backfills` (append-only): a `started` row
with its vars, cohort, watermark, commit and the raw rows copied; a `succeeded` or `failed` row
at the build's end with every output's row count and the build's data snapshot ids.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from customer_ml import config
from customer_ml.records import lineage, store

ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
VARS = ("backfill_id", "backfill_of", "watermark", "cohort", "cohort_file")
PRODUCTION_TARGETS = ("dev", "ci")
COHORT_ATTRIBUTES = ("country", "plan", "signup_month")
# Schemas whose tables a backfill outputs (counted in its `succeeded` record).
OUTPUT_SCHEMAS = ("features", "labels", "datasets", "ml", "serving")


def cohorts_file() -> Path:
    """The reviewed cohort rules (a dbt seed): never SQL text from the command line."""
    return config.project_dir() / "seeds" / "cohorts.csv"


def cohort_rules() -> dict[str, dict[str, str]]:
    with open(cohorts_file(), newline="") as f:
        return {row["cohort"]: row for row in csv.DictReader(f)}


def spec(given: dict[str, Any], *, on_backfill_target: bool) -> dict[str, Any] | None:
    """The backfill a build's `--vars` ask for, checked (one line per mistake, before anything
    opens): None for a build on another target, which must not pass backfill vars."""
    passed = {name: given[name] for name in VARS if given.get(name) not in (None, "")}
    if not on_backfill_target:
        if passed:
            raise config.OperatorError(
                f"var(s) {', '.join(sorted(passed))} only apply to a backfill: "
                "dbt build --target backfill --selector backfill --vars '{backfill_id: ...}'"
            )
        return None
    backfill_id = str(passed.get("backfill_id", ""))
    if not ID_PATTERN.fullmatch(backfill_id):
        raise config.OperatorError(
            f"var backfill_id: {backfill_id!r} is not a backfill id (1-64 of a-z, 0-9, _ and -, "
            "starting with a letter or digit); a backfill on target backfill needs one"
        )
    of = str(passed.get("backfill_of", "dev"))
    if of not in PRODUCTION_TARGETS:
        raise config.OperatorError(
            f"var backfill_of: {of} is not a production target; expected one of "
            f"{', '.join(PRODUCTION_TARGETS)}"
        )
    out: dict[str, Any] = {"backfill_id": backfill_id, "backfill_of": of}
    out["watermark"] = _watermark(passed.get("watermark"))
    if "cohort" in passed and "cohort_file" in passed:
        raise config.OperatorError("vars cohort and cohort_file: pass one of them, not both")
    if "cohort" in passed:
        name = str(passed["cohort"])
        rules = cohort_rules()
        if name not in rules:
            raise config.OperatorError(
                f"var cohort: {name} is not a cohort of seeds/cohorts.csv; known: "
                f"{', '.join(sorted(rules))}"
            )
        out["cohort"] = {k: rules[name][k] for k in ("cohort", "attribute", "value")}
    elif "cohort_file" in passed:
        out["cohort"] = {"cohort_file": str(Path(passed["cohort_file"]).resolve())}
        out["customer_ids"] = read_cohort_file(Path(passed["cohort_file"]))
    for key in ("as_of_start", "as_of_end"):
        if given.get(key) not in (None, ""):
            out[key] = _date(key, given[key])
    if "as_of_start" in out and "as_of_end" in out and out["as_of_start"] > out["as_of_end"]:
        raise config.OperatorError(
            f"vars as_of_start {out['as_of_start']} and as_of_end {out['as_of_end']}: "
            "the range ends before it starts"
        )
    return out


def _date(name: str, value: Any) -> str:
    """A date var as 'YYYY-MM-DD', or one line saying it is not a date."""
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise config.OperatorError(f"var {name}: {value} is not a date (YYYY-MM-DD)") from None


def _watermark(value: Any) -> str | None:
    """A watermark var as UTC 'YYYY-MM-DD HH:MM:SS' (an offset honoured, a naive time UTC), or
    None for the latest load."""
    if value in (None, "", "latest"):
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise config.OperatorError(
            f"var watermark: {value} is not a time (e.g. 2025-09-30 or 2025-09-30T23:59:59Z) "
            "or 'latest'"
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.strftime("%Y-%m-%d %H:%M:%S.%f")


def read_cohort_file(path: Path) -> list[int]:
    """Customer ids from a CSV whose header is `customer_id`; one line naming the first bad line."""
    if not path.is_file():
        raise config.OperatorError(f"var cohort_file: {path} is not a file")
    ids: list[int] = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header or [h.strip() for h in header] != ["customer_id"]:
            raise config.OperatorError(
                f"{path.name}: line 1 must be the header customer_id (got {header})"
            )
        for line, row in enumerate(reader, start=2):
            if not row or not row[0].strip():
                continue
            try:
                ids.append(int(row[0].strip()))
            except ValueError:
                raise config.OperatorError(
                    f"{path.name}: line {line}: {row[0]!r} is not a customer id"
                ) from None
    if not ids:
        raise config.OperatorError(f"{path.name}: no customer ids; a cohort cannot be empty")
    return sorted(set(ids))


def backfill_file(backfill_id: str) -> Path:
    return config.warehouse_dir() / "backfills" / f"{backfill_id}.duckdb"


def _recorded_spec(s: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in s.items() if k != "customer_ids"}


def prepare(con: duckdb.DuckDBPyConnection, s: dict[str, Any]) -> dict[str, int]:
    """Copy the raw rows the backfill `s` reads from production (attached READ_ONLY) into this
    warehouse, once: a backfill id already prepared with the same vars continues on its copy,
    one prepared with other vars is refused. Returns the rows copied per raw table."""
    started = store.read(
        con,
        "select vars_json from lineage.backfills where backfill_id = ? and status = 'started'",
        [s["backfill_id"]],
    )
    recorded = json.dumps(_recorded_spec(s), sort_keys=True)
    if started:
        if started[0]["vars_json"] != recorded:
            raise config.OperatorError(
                f"backfill {s['backfill_id']} was started with other vars "
                f"({started[0]['vars_json']}); choose a new backfill_id"
            )
        return {}
    production = config.warehouse_path(s["backfill_of"])
    if not production.exists():
        raise config.OperatorError(
            f"backfill {s['backfill_id']}: production warehouse {production} does not exist"
        )
    config.attach_read_only(con, production, "production")
    try:
        copied = _copy_raw(con, s)
    finally:
        con.execute("detach production")
    git = lineage.git_state()
    store.append(
        con,
        "backfills",
        {
            "backfill_id": s["backfill_id"],
            "status": "started",
            "production_path": str(production),
            "watermark": copied.pop("_watermark"),
            "as_of_start": s.get("as_of_start"),
            "as_of_end": s.get("as_of_end"),
            "cohort_json": json.dumps(s.get("cohort")),
            "cohort_customers": copied.pop("_cohort_customers"),
            "vars_json": recorded,
            "git_commit": git.commit,
            "is_dirty": git.is_dirty,
            "row_counts_json": json.dumps(copied, sort_keys=True),
            "recorded_at": lineage.utc_now(),
        },
    )
    return copied


def _copy_raw(con: duckdb.DuckDBPyConnection, s: dict[str, Any]) -> dict[str, Any]:
    from customer_ml.data.load import ensure_raw_schema

    latest = con.execute("select max(loaded_at) from production.raw._loads").fetchone()[0]
    if latest is None:
        raise config.OperatorError(f"backfill {s['backfill_id']}: production has no loaded data")
    watermark = s["watermark"] or latest.strftime("%Y-%m-%d %H:%M:%S.%f")
    first = con.execute("select min(loaded_at) from production.raw._loads").fetchone()[0]
    if datetime.fromisoformat(watermark) < first:
        raise config.OperatorError(
            f"var watermark: {watermark} is before production's first load ({first}): "
            "the backfill would read nothing"
        )
    _check_as_of_range(con, s, watermark)
    con.execute("begin")
    try:
        ensure_raw_schema(con)
        cohort = _cohort_customers(con, s, watermark)
        copied: dict[str, Any] = {}
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_catalog = "
                "'production' and table_schema = 'raw' and table_name != '_loads' order by 1"
            ).fetchall()
        ]
        for table in tables:
            columns = store.read(
                con,
                "select column_name from information_schema.columns where table_catalog = "
                "'production' and table_schema = 'raw' and table_name = ?",
                [table],
            )
            where = "_loaded_at <= cast(? as timestamp)"
            if cohort and any(c["column_name"] == "customer_id" for c in columns):
                where += " and customer_id in (select customer_id from _backfill_cohort)"
            con.execute(f"delete from raw.{table}")
            con.execute(
                f"insert into raw.{table} by name select * from production.raw.{table} "
                f"where {where}",
                [watermark],
            )
            copied[f"raw.{table}"] = con.execute(f"select count(*) from raw.{table}").fetchone()[0]
        con.execute("delete from raw._loads")
        con.execute(
            "insert into raw._loads by name select * from production.raw._loads "
            "where loaded_at <= cast(? as timestamp)",
            [watermark],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    copied["_watermark"] = watermark
    copied["_cohort_customers"] = cohort
    return copied


def _check_as_of_range(con: duckdb.DuckDBPyConnection, s: dict[str, Any], watermark: str) -> None:
    """An as_of range that misses the orders loaded by the watermark is refused (one line)."""
    first, last = con.execute(
        "select min(ordered_at)::date, max(ordered_at)::date from production.raw.orders "
        "where _loaded_at <= cast(? as timestamp)",
        [watermark],
    ).fetchone()
    if first is None:
        return
    start, end = s.get("as_of_start"), s.get("as_of_end")
    if (end and date.fromisoformat(end) < first) or (start and date.fromisoformat(start) > last):
        raise config.OperatorError(
            f"as_of range {start or '(project default)'}..{end or '(project default)'} is "
            f"outside the data: orders loaded by the watermark run from {first} to {last}"
        )


def _cohort_customers(con: duckdb.DuckDBPyConnection, s: dict[str, Any], watermark: str) -> int:
    """Fill temp table _backfill_cohort with the cohort's customer ids; 0 means every customer.
    A rule reads each customer's latest state loaded by the watermark."""
    cohort = s.get("cohort")
    if not cohort:
        return 0
    con.execute("create or replace temp table _backfill_cohort (customer_id bigint)")
    if "customer_ids" in s:
        con.executemany("insert into _backfill_cohort values (?)", [[i] for i in s["customer_ids"]])
    else:
        attribute, value = cohort["attribute"], cohort["value"]
        if attribute not in COHORT_ATTRIBUTES:
            raise config.OperatorError(
                f"cohort {cohort['cohort']}: attribute {attribute} is not one of "
                f"{', '.join(COHORT_ATTRIBUTES)} (seeds/cohorts.csv)"
            )
        if attribute == "signup_month":
            low, _, high = value.partition("..")
            match = "strftime(signup_at, '%Y-%m') between ? and ?"
            params = [low, high or low]
        else:
            match = f"{attribute} = ?"
            params = [value]
        con.execute(
            f"""
            insert into _backfill_cohort
            select customer_id from (
                select *, row_number() over (
                    partition by customer_id order by updated_at desc, _available_at desc
                ) as latest
                from production.raw.customers
                where _loaded_at <= cast(? as timestamp)
            )
            where latest = 1 and {match}
            """,
            [watermark, *params],
        )
    count = con.execute("select count(*) from _backfill_cohort").fetchone()[0]
    if count == 0:
        raise config.OperatorError(
            f"backfill {s['backfill_id']}: cohort {json.dumps(cohort)} has no customers at "
            f"watermark {watermark}"
        )
    return count


def finish(con: duckdb.DuckDBPyConnection, invocation_id: str, succeeded: bool) -> str:
    """The backfill's closing record: every output table's row count and the build's data
    snapshot ids. Called by the on-run-end hook of a build on target backfill."""
    started = store.read(
        con,
        "select * from lineage.backfills where status = 'started' order by recorded_at desc "
        "limit 1",
    )
    if not started:
        return "no backfill started in this warehouse"
    counts = {
        f"{schema}.{table}": con.execute(f'select count(*) from {schema}."{table}"').fetchone()[0]
        for schema, table in con.execute(
            "select table_schema, table_name from information_schema.tables where "
            "table_catalog = current_database() and table_type = 'BASE TABLE' and "
            f"table_schema in ({', '.join(repr(s) for s in OUTPUT_SCHEMAS)}) order by 1, 2"
        ).fetchall()
    }
    snapshot_ids = [
        r[0]
        for r in con.execute(
            "select snapshot_id from lineage.build_snapshots where invocation_id = ? order by 1",
            [invocation_id],
        ).fetchall()
    ]
    row = {
        k: started[0][k]
        for k in (
            "backfill_id",
            "production_path",
            "watermark",
            "as_of_start",
            "as_of_end",
            "cohort_json",
            "cohort_customers",
            "vars_json",
        )
    }
    git = lineage.git_state()
    store.append(
        con,
        "backfills",
        {
            **row,
            "status": "succeeded" if succeeded else "failed",
            "invocation_id": invocation_id,
            "git_commit": git.commit,
            "is_dirty": git.is_dirty,
            "row_counts_json": json.dumps(counts, sort_keys=True),
            "snapshot_ids": json.dumps(snapshot_ids),
            "recorded_at": lineage.utc_now(),
        },
    )
    return f"backfill {row['backfill_id']} {'succeeded' if succeeded else 'failed'}"
