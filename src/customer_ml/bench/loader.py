"""The loader's memory against the size of the file (`customer-ml bench --only loader`): orders
files of growing size, Parquet and CSV, each loaded by `customer-ml load` into an empty warehouse
of its own under GNU time with DuckDB's memory fixed (CUSTOMER_ML_DUCKDB_MEMORY), so the peak RSS
shows whether the loader's memory follows that setting or the file. Measured, never asserted."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from customer_ml.bench.steps import BIN, step_env, timed

ROWS = (1_000_000, 4_000_000, 16_000_000)
MEMORY = "1GB"
FORMATS = ("parquet", "csv")


def write_orders(path: Path, rows: int) -> None:
    """`rows` orders with distinct ids over rows/50 customers, times spread over 2020-2024 (all
    within the loader's limits), in the format of the file's suffix."""
    options = "(format csv, header)" if path.suffix == ".csv" else "(format parquet)"
    with duckdb.connect() as con:
        con.execute(
            f"copy (select i + 1 as order_id, 1 + i % {max(rows // 50, 1)} as customer_id, "
            "timestamp '2020-01-01' + to_seconds((i * 7919) % 150000000) as ordered_at, "
            f"round(1 + (i * 104729) % 50000 / 100, 2) as amount from range({rows}) t(i)) "
            f"to '{path}' {options}"
        )


def memory(
    out: Path, project: Path, rows: tuple[int, ...] = ROWS, memory_limit: str = MEMORY
) -> list[str]:
    """Each format at each size: generate the file, load it alone into `out/<format>-<rows>`,
    and report wall s, peak RSS and the rows the warehouse holds afterwards; the lines of
    `out/loader.md`. The files and warehouses are deleted once measured (disk)."""
    out.mkdir(parents=True, exist_ok=True)
    lines = [
        f"Loader memory against file size, CUSTOMER_ML_DUCKDB_MEMORY={memory_limit} "
        "(`customer-ml load --orders FILE` into an empty warehouse, under GNU time):",
        "",
        "| format | rows | file MiB | wall s | rows/s | peak RSS MiB | rows in raw.orders |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for fmt in FORMATS:
        for n in rows:
            work = out / f"{fmt}-{n}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            source = work / f"orders.{fmt}"
            write_orders(source, n)
            env = {
                **step_env(project, work / "warehouse"),
                "CUSTOMER_ML_DUCKDB_MEMORY": memory_limit,
            }
            args = [str(BIN / "customer-ml"), "load", "--target", "dev", "--orders", str(source)]
            step = timed(f"load {fmt} {n}", args, env, project, work / "load.log")
            with duckdb.connect(str(work / "warehouse" / "dev.duckdb"), read_only=True) as con:
                [(held,)] = con.execute("select count(*) from raw.orders").fetchall()
            lines.append(
                f"| {fmt} | {n:,} | {source.stat().st_size / 2**20:,.1f} | {step.wall_s:.1f} | "
                f"{n / step.wall_s:,.0f} | {step.peak_rss_mb:,.0f} | {held:,} |"
            )
            for kept in ("load.log", "load.time"):
                shutil.copy(work / kept, out / f"{fmt}-{n}.{kept.split('.')[1]}")
            shutil.rmtree(work)
    return lines
