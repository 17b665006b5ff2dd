"""The benchmark harness (`make bench SCALE=...`, `customer-ml bench`): generate, load, a full
`dbt build` from raw data, the daily build (`--selector scoring`) after one new day of data,
point-in-time features three ways (the dbt models, one hand-written DuckDB query, pandas),
checked to agree on sampled rows, and a backfill of the last year of as_of dates for every
customer next to one for a 1% cohort (`--only features|backfills`: that step on a built warehouse).
Each step runs in a child process measured by GNU time (wall and CPU seconds, peak RSS).
Writes `results.md` (with machine, versions, date) and a PNG chart.

Timings are measured, never asserted: CI runs only a tiny-scale smoke of this harness.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from customer_ml.bench.steps import (
    BIN,
    Step,
    node_memory,
    node_times,
    step_env,
    time_by_kind,
    timed,
)  # fmt: skip


def split_last_day(data: Path, first: Path, last_day: Path) -> str:
    """The generated data as two batches: everything available before the last day of orders
    (by order date), and what becomes available from that day on: that day's orders and events
    and the late rows and corrections after it. (The last day of `_available_at` alone held one
    late correction at bench scale: no day of business.)"""
    import duckdb

    first.mkdir(parents=True, exist_ok=True)
    last_day.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    [(day,)] = con.execute(
        f"select max(cast(ordered_at as date)) from '{data / 'orders.parquet'}'"
    ).fetchall()
    for table in ("orders", "customers", "engagement_events", "business_events"):
        source = data / f"{table}.parquet"
        new = f"cast(_available_at as date) >= date '{day}'"
        con.execute(f"copy (select * from '{source}' where not ({new})) to '{first / source.name}'")
        con.execute(f"copy (select * from '{source}' where {new}) to '{last_day / source.name}'")
    return str(day)


def _load(batch: Path, target: str) -> list[str]:
    return [
        str(BIN / "customer-ml"), "load", "--target", target,
        "--orders", str(batch / "orders.parquet"),
        "--customers", str(batch / "customers.parquet"),
        "--events", str(batch / "engagement_events.parquet"),
        "--business-events", str(batch / "business_events.parquet"),
    ]  # fmt: skip


def run(
    scale: str,
    out: Path,
    project: Path,
    seed: int = 42,
    pandas_customers: int = 100_000,
    exclude: tuple[str, ...] = (),
    feast_python: Path | None = None,
    skip_backfills: bool = False,
):
    from customer_ml.bench import features as bench_features
    from customer_ml.data import generate

    out.mkdir(parents=True, exist_ok=True)
    warehouse = out / "warehouse"
    shutil.rmtree(warehouse, ignore_errors=True)
    env = step_env(project, warehouse)
    steps: list[Step] = []
    data = out / "data"
    if not (data / "orders.parquet").exists():
        steps.append(timed("generate", [str(BIN / "customer-ml"), "generate", "--scale", scale,
                                         "--seed", str(seed), "--out", str(data)],
                            env, project, out / "generate.log"))  # fmt: skip
    n_customers = generate.SCALES[scale][0]
    day = split_last_day(data, out / "batch-first", out / "batch-last-day")
    steps.append(timed("load (all but the last day)", _load(out / "batch-first", "dev"),
                        env, project, out / "load.log"))  # fmt: skip
    dbt = [str(BIN / "dbt"), "build", "--target", "dev", "--target-path", str(out / "target")]
    if exclude:
        dbt += ["--exclude", *exclude]
    full = timed("dbt build, full, from raw data", dbt, env, project, out / "build-full.log")
    steps.append(full)
    nodes = node_times(out / "target" / "run_results.json")
    shutil.copy(out / "target" / "run_results.json", out / "run_results-full.json")
    steps.append(timed(f"load one new day ({day})", _load(out / "batch-last-day", "dev"),
                        env, project, out / "load-day.log"))  # fmt: skip
    # the daily build as docs/operating.md "Schedules" has it: the scoring selection
    steps.append(timed("dbt build, incremental, daily (--selector scoring), after one new day",
                        [*dbt, "--selector", "scoring"], env, project,
                        out / "build-incremental.log"))  # fmt: skip
    incremental_nodes = node_times(out / "target" / "run_results.json")
    incremental_kinds = time_by_kind(out / "target" / "run_results.json")
    full_kinds = time_by_kind(out / "run_results-full.json")
    steps += fixed_cost_and_reproduce(out, project, env, dbt)
    features = bench_features.compare(out, project, env, pandas_customers, nodes, feast_python)
    backfilled = [] if skip_backfills else backfills(out, project)
    _write_results(
        out, scale, n_customers, steps, (nodes, full_kinds), (incremental_nodes, incremental_kinds),
        features, exclude, backfilled,
    )  # fmt: skip
    return out / "results.md"


def fixed_cost_and_reproduce(
    out: Path, project: Path, env: dict[str, str], dbt: list[str]
) -> list[Step]:
    """The fixed cost of an invocation (one staging view, nothing new to read), and the
    reproduction of one served churn prediction (it replays the node that scored it and what
    that node is built from)."""
    import duckdb

    steps = [
        timed("dbt build, one view, nothing new (`--select stg_shop__orders`)",
              [*dbt, "--select", "stg_shop__orders"], env, project, out / "build-one-view.log"),
    ]  # fmt: skip
    con = duckdb.connect(str(out / "warehouse" / "dev.duckdb"), read_only=True)
    try:
        [(prediction,)] = con.execute(
            "select min(prediction_id) from serving.fct_customer_scores where model_name = 'churn'"
        ).fetchall()
    finally:
        con.close()
    if prediction:
        reproduce = [str(BIN / "customer-ml"), "reproduce", "--prediction-id", prediction,
                     "--target", "dev"]  # fmt: skip
        steps.append(timed(f"reproduce one served churn prediction ({prediction[:8]})",
                           reproduce, env, project, out / "reproduce.log"))  # fmt: skip
    return steps


def features_only(
    out: Path, project: Path, scale: str, pandas_customers: int, feast_python: Path | None
) -> list[str]:
    """The point-in-time features step alone, on the warehouse a bench run built in `out` (the
    dbt models' time is that run's, from its run_results-full.json)."""
    from customer_ml.bench import features as bench_features
    from customer_ml.data import generate

    nodes = node_times(out / "run_results-full.json")
    env = step_env(project, out / "warehouse")
    features = bench_features.compare(out, project, env, pandas_customers, nodes, feast_python)
    return bench_features.lines(features, generate.SCALES[scale][0])


def backfills(out: Path, project: Path) -> list[Step]:
    """On the warehouse the bench built: `dbt build --target backfill --selector backfill` over
    the as_of dates of the last year, for every customer and for a 1% cohort (a file of ids, the
    smallest 1% by hash: the same cohort for the same data), each timed like any step."""
    import duckdb

    env = step_env(project, out / "warehouse")
    con = duckdb.connect(str(out / "warehouse" / "dev.duckdb"), read_only=True)
    [(start, end)] = con.execute(
        "select min(as_of), max(as_of) from features.customer_features_v1 "
        "where as_of > (select max(as_of) from features.customer_features_v1) - interval 1 year"
    ).fetchall()
    [(customers,)] = con.execute("select count(distinct customer_id) from raw.customers").fetchall()
    cohort = out / "cohort-1pct.csv"
    con.execute(
        f"copy (select distinct customer_id from raw.customers order by hash(customer_id), "
        f"customer_id limit {max(1, customers // 100)}) to '{cohort}' (header)"
    )
    con.close()
    stamp = datetime.now(UTC).strftime("%Y%m%dt%H%M%S")
    steps = []
    for name, extra in (("full", {}), ("1pct", {"cohort_file": str(cohort)})):
        vars_ = {"backfill_id": f"bench-{name}-{stamp}", "as_of_start": str(start),
                 "as_of_end": str(end), **extra}  # fmt: skip
        who = "every customer" if not extra else f"1% cohort ({max(1, customers // 100):,})"
        steps.append(
            timed(
                f"backfill {start}..{end}, {who}",
                [
                    str(BIN / "dbt"),
                    "build",
                    "--target",
                    "backfill",
                    "--selector",
                    "backfill",
                    "--vars",
                    json.dumps(vars_),
                    "--target-path",
                    str(out / f"target-{name}"),
                ],
                env,
                project,
                out / f"backfill-{name}.log",
            )  # fmt: skip
        )
    return steps


def backfill_lines(steps: list[Step]) -> list[str]:
    full, cohort = steps
    return [
        "## Backfills (`dbt build --target backfill --selector backfill`)",
        "",
        "| backfill | wall s | CPU s | peak RSS MB |",
        "|---|---:|---:|---:|",
        *[f"| {s.name} | {s.wall_s:.1f} | {s.cpu_s:.1f} | {s.peak_rss_mb:,.0f} |" for s in steps],
        "",
        f"1% cohort / every customer: **{cohort.wall_s / full.wall_s:.1%}** of the wall time.",
        "",
    ]


def _versions() -> str:
    names = ("duckdb", "dbt-core", "dbt-duckdb", "pandas", "lightgbm", "mlflow")
    return ", ".join(f"{n} {metadata.version(n)}" for n in names)


def _write_results(
    out, scale, n_customers, steps, full_nodes, incremental_nodes, features, exclude, backfilled
) -> None:
    """`full_nodes` and `incremental_nodes`: (node times, time by kind) of the two builds."""
    from customer_ml.bench import features as bench_features

    (nodes, full_kinds), (incremental_nodes, incremental_kinds) = full_nodes, incremental_nodes
    full = next(s for s in steps if s.name.startswith("dbt build, full"))
    incremental = next(s for s in steps if s.name.startswith("dbt build, incremental"))
    lines = [
        f"# Benchmark, scale `{scale}` ({n_customers:,} customers)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; "
        f"{_versions()}) by `make bench SCALE={scale}`. One run; these machines are noisy, so "
        "read the ratios." + (f" The builds excluded: `{' '.join(exclude)}`." if exclude else ""),
        "",
        "| step | wall s | CPU s | peak RSS MB |",
        "|---|---:|---:|---:|",
        *[f"| {s.name} | {s.wall_s:.1f} | {s.cpu_s:.1f} | {s.peak_rss_mb:,.0f} |" for s in steps],
        "",
        f"Incremental daily build / full build: **{incremental.wall_s / full.wall_s:.1%}** "
        "(target ≤ 5%).",
        "",
        *bench_features.lines(features, n_customers),
        f"Slowest nodes of the full build ({full_kinds}):",
        "",
        *[f"- `{n}`: {t:.1f}" for n, t in sorted(nodes.items(), key=lambda kv: -kv[1])[:12]],
        "",
        "Highest memory of the full build's processes while a node ran (sampled once a second;"
        " nodes run beside each other, so a node shares its neighbour's peak), MB:",
        "",
        *[
            f"- `{n}`: {mb:,.0f}"
            for n, mb in sorted(
                node_memory(out / "run_results-full.json", out / "build-full.rss").items(),
                key=lambda kv: -kv[1],
            )[:10]
        ],
        "",
        f"Slowest nodes of the incremental build ({incremental_kinds}):",
        "",
        *[
            f"- `{n}`: {t:.1f}"
            for n, t in sorted(incremental_nodes.items(), key=lambda kv: -kv[1])[:12]
        ],
        "",
        *(backfill_lines(backfilled) if backfilled else ["Backfills: not run (--skip-backfills)."]),
    ]
    (out / "results.md").write_text("\n".join(lines))
    (out / "steps.json").write_text(json.dumps([asdict(step) for step in steps], indent=1))
    _chart(
        out / "results.png", steps, features,
        bench_features.pandas_seconds_scaled(features, n_customers),
    )  # fmt: skip


def _chart(path: Path, steps, features, pandas_scaled: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.barh([s.name for s in steps][::-1], [s.wall_s for s in steps][::-1])
    left.set(xlabel="wall seconds", title="Pipeline steps")
    names = ["dbt models", "their SQL alone", "hand-written DuckDB", "pandas (scaled)"]
    values = [features["dbt"]["wall_s"], features["models_sql"]["seconds"],
              features["handwritten"]["seconds"], pandas_scaled]  # fmt: skip
    if "seconds" in features.get("feast", {}):
        names.append("Feast (precompute + retrieval)")
        values.append(features["feast"]["seconds"])
    right.barh(names[::-1], values[::-1])
    right.set(xlabel="seconds", title="Point-in-time features", xscale="log")
    fig.tight_layout()
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)
