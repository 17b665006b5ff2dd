"""`customer-ml bench --only daily`: on the warehouse a bench run built, what a scheduled daily
build costs. First the daily build (`dbt build --selector scoring`, docs/operating.md) with no
new data: its fixed cost, and it absorbs what new code changes once on an old warehouse (a
changed definition recomputes its models); then one more day of business loaded, and the daily
build again. The day is the generated data's last order day (its orders and engagement events)
moved to the day after the warehouse's last order day, with new ids, so it can be added to any
built warehouse (and again: each run adds the next day).
Timed like every bench step; nothing is asserted.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from customer_ml.bench.steps import BIN, Step, node_times, step_env, time_by_kind, timed


def next_day(data: Path, warehouse: Path, batch: Path) -> str:
    """Write `batch` (orders and engagement events parquet): the last order day of the generated
    `data`, moved to the day after the last order day in `warehouse` (late rows keep their
    delay), ids past its largest. Returns that day."""
    import duckdb

    from customer_ml import config

    con = config.connect(warehouse, read_only=True)
    try:
        [(loaded_day, max_order, max_event)] = con.execute(
            "select max(cast(o.ordered_at as date)), max(o.order_id), "
            "(select max(event_id) from raw.engagement_events) from raw.orders as o"
        ).fetchall()
    finally:
        con.close()
    batch.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    orders, events = data / "orders.parquet", data / "engagement_events.parquet"
    new_orders, new_events = batch / "orders.parquet", batch / "engagement_events.parquet"
    [(day,)] = con.execute(f"select max(cast(ordered_at as date)) from '{orders}'").fetchall()
    shift = f"interval {(loaded_day - day).days + 1} day"
    con.execute(
        f"copy (select * replace (order_id + {max_order} as order_id, ordered_at + {shift} as "
        f"ordered_at, _available_at + {shift} as _available_at) from '{orders}' "
        f"where cast(ordered_at as date) = date '{day}') to '{new_orders}'"
    )
    con.execute(
        f"copy (select * replace (event_id + {max_event} as event_id, occurred_at + {shift} as "
        f"occurred_at, _available_at + {shift} as _available_at) from '{events}' "
        f"where cast(occurred_at as date) = date '{day}') to '{new_events}'"
    )
    return str(loaded_day + timedelta(days=1))


def daily(out: Path, project: Path) -> list[str]:
    """The daily build's steps on OUT's warehouse, as markdown lines."""
    warehouse = out / "warehouse"
    env = step_env(project, warehouse)
    build = [str(BIN / "dbt"), "build", "--target", "dev", "--selector", "scoring",
             "--target-path", str(out / "target")]  # fmt: skip
    steps: list[Step] = [timed("daily build, no new data", build, env, project,
                                out / "daily-settle.log")]  # fmt: skip
    day = next_day(out / "data", warehouse / "dev.duckdb", out / "batch-next-day")
    batch = out / "batch-next-day"
    load = [str(BIN / "customer-ml"), "load", "--target", "dev",
            "--orders", str(batch / "orders.parquet"),
            "--events", str(batch / "engagement_events.parquet")]  # fmt: skip
    steps.append(timed(f"load one more day ({day})", load, env, project, out / "daily-load.log"))
    steps.append(timed("daily build after it", build, env, project, out / "daily-build.log"))
    nodes = node_times(out / "target" / "run_results.json")
    return [
        "## Daily build (`dbt build --selector scoring`)",
        "",
        "| step | wall s | CPU s | peak RSS MB |",
        "|---|---:|---:|---:|",
        *[f"| {s.name} | {s.wall_s:.1f} | {s.cpu_s:.1f} | {s.peak_rss_mb:,.0f} |" for s in steps],
        "",
        "Slowest nodes of the daily build after one more day (dbt's timing, s; "
        f"{time_by_kind(out / 'target' / 'run_results.json')}):",
        "",
        *[f"- `{n}`: {t:.1f}" for n, t in sorted(nodes.items(), key=lambda kv: -kv[1])[:12]],
        "",
    ]
