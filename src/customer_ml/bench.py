"""The benchmark harness (`make bench SCALE=...`, `customer-ml bench`): generate, load, a full
`dbt build` from raw data, an incremental build after one new day of data, and point-in-time
features three ways (the dbt models, one hand-written DuckDB query, the plain pandas oracle),
checked to agree on sampled rows. Each step runs in a child process measured by GNU time (wall
and CPU seconds, peak RSS). Writes `results.md` (with machine, versions, date) and a PNG chart.

Timings are measured, never asserted: CI runs only a tiny-scale smoke of this harness.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

BIN = Path(sys.executable).parent
HANDWRITTEN = "handwritten_features_v1.sql"
FEATURE_NODES = (
    "int_orders_known_as_of",
    "int_customers_known_as_of",
    "int_engagement_events_known_as_of",
    "int_customer_as_of_spine",
    "int_order_facts_as_of",
    "int_engagement_facts_as_of",
    "customer_features.v1",
)


@dataclass
class Step:
    name: str
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    rows: int | None = None
    note: str = ""

    @property
    def rows_per_s(self) -> float | None:
        return self.rows / self.wall_s if self.rows and self.wall_s else None


def _timed(name: str, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> Step:
    """Run `args` under GNU time; the step fails loudly with its log when the command does."""
    stats = log.with_suffix(".time")
    with open(log, "w") as out:
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(stats), *args],
            env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"bench step {name} failed (exit {done.returncode}); see {log}")
    wall, user, system, rss_kb = stats.read_text().split()[-4:]
    return Step(name, float(wall), float(user) + float(system), int(rss_kb) / 1024)


def _env(project: Path, warehouse_dir: Path) -> dict[str, str]:
    from customer_ml import dbt_runner

    return {**dbt_runner.env(project, warehouse_dir), "MLFLOW_DISABLE_TELEMETRY": "true"}


def split_last_day(data: Path, first: Path, last_day: Path) -> str:
    """The generated data as two batches: everything known before the last day, and that day."""
    import duckdb

    first.mkdir(parents=True, exist_ok=True)
    last_day.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    [(day,)] = con.execute(
        f"select max(cast(_available_at as date)) from '{data / 'orders.parquet'}'"
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


def node_times(run_results: Path) -> dict[str, float]:
    """Node name (model name, `.vN` for versions) -> execution seconds, from dbt's own timing."""
    results = json.loads(run_results.read_text())["results"]
    return {
        r["unique_id"].split(".", 2)[-1]: float(r["execution_time"])
        for r in results
        if r["unique_id"].startswith(("model.", "snapshot."))
    }


def run(
    scale: str,
    out: Path,
    project: Path,
    seed: int = 42,
    pandas_customers: int = 100_000,
    exclude: tuple[str, ...] = (),
):
    from customer_ml import generate

    out.mkdir(parents=True, exist_ok=True)
    warehouse = out / "warehouse"
    shutil.rmtree(warehouse, ignore_errors=True)
    env = _env(project, warehouse)
    steps: list[Step] = []
    data = out / "data"
    if not (data / "orders.parquet").exists():
        steps.append(_timed("generate", [str(BIN / "customer-ml"), "generate", "--scale", scale,
                                         "--seed", str(seed), "--out", str(data)],
                            env, project, out / "generate.log"))  # fmt: skip
    n_customers = generate.SCALES[scale][0]
    day = split_last_day(data, out / "batch-first", out / "batch-last-day")
    steps.append(_timed("load (all but the last day)", _load(out / "batch-first", "dev"),
                        env, project, out / "load.log"))  # fmt: skip
    dbt = [str(BIN / "dbt"), "build", "--target", "dev", "--target-path", str(out / "target")]
    if exclude:
        dbt += ["--exclude", *exclude]
    full = _timed("dbt build, full, from raw data", dbt, env, project, out / "build-full.log")
    steps.append(full)
    nodes = node_times(out / "target" / "run_results.json")
    shutil.copy(out / "target" / "run_results.json", out / "run_results-full.json")
    steps.append(_timed(f"load one new day ({day})", _load(out / "batch-last-day", "dev"),
                        env, project, out / "load-day.log"))  # fmt: skip
    steps.append(_timed("dbt build, incremental, after one new day", dbt, env, project,
                        out / "build-incremental.log"))  # fmt: skip
    incremental_nodes = node_times(out / "target" / "run_results.json")
    features = _features(out, project, env, pandas_customers, nodes)
    _write_results(out, scale, n_customers, steps, nodes, incremental_nodes, features, exclude)
    return out / "results.md"


def _features(out: Path, project: Path, env: dict, pandas_customers: int, nodes: dict) -> dict:
    """Point-in-time features three ways on the built warehouse, and their agreement."""
    warehouse = out / "warehouse" / "dev.duckdb"
    script = out / "features_three_ways.py"
    script.write_text(FEATURES_SCRIPT)
    results = {}
    for way in ("handwritten", "pandas"):
        step = _timed(way, [sys.executable, str(script), way, str(warehouse),
                            str(project / "bench" / HANDWRITTEN), str(pandas_customers),
                            str(out / f"features-{way}.json")],
                      env, project, out / f"features-{way}.log")  # fmt: skip
        results[way] = {"step": step, **json.loads((out / f"features-{way}.json").read_text())}
    results["dbt"] = {
        "wall_s": sum(nodes.get(n, 0.0) for n in FEATURE_NODES),
        "nodes": {n: nodes.get(n) for n in FEATURE_NODES},
    }
    return results


# Run in a child process so GNU time measures it alone. Writes timing and agreement as JSON.
FEATURES_SCRIPT = r"""
import json, sys, time
import duckdb
import numpy as np
import pandas as pd

way, warehouse, sql_file, pandas_customers, out = sys.argv[1:6]
con = duckdb.connect(warehouse, read_only=True)
con.execute("set threads = 2; set memory_limit = '8GB'; set preserve_insertion_order = false")
dates = [r[0] for r in con.execute(
    "select distinct as_of from features.customer_features_v1 order by 1").fetchall()]
reference = con.execute(
    "select * from features.customer_features_v1 using sample 1000 rows (reservoir, 42)").df()
started = time.perf_counter()
if way == "handwritten":
    con.execute("create temp table result as " + open(sql_file).read(),
                {"as_of_start": str(dates[0]), "as_of_end": str(dates[-1])})
    seconds = time.perf_counter() - started
    rows = con.execute("select count(*) from result").fetchall()[0][0]
    con.register("reference", reference)
    mine = con.execute("select result.* from result join reference using (customer_id, as_of) "
                       "order by customer_id, as_of").df()
    customers = None
else:
    from customer_ml import oracle
    n = int(pandas_customers)
    ids = con.execute(f"select customer_id from (select distinct customer_id from raw.orders) "
                      f"using sample {n} rows (reservoir, 7)").df()
    con.register("ids", ids)
    orders = con.execute(
        "select o.order_id, o.customer_id, cast(o.amount as double) as amount, o.ordered_at, "
        "o._available_at from raw.orders o semi join ids using (customer_id)").df()
    customers_df = con.execute("select c.customer_id, country, plan, marketing_opt_in as "
                               "has_marketing_opt_in, signup_at, updated_at, _available_at "
                               "from raw.customers c semi join ids using (customer_id)").df()
    events = con.execute(
        "select e.* from raw.engagement_events e semi join ids using (customer_id)").df()
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = oracle.features_v1(orders, customers_df, events, [pd.Timestamp(d) for d in dates])
    seconds = time.perf_counter() - started
    rows = len(result)
    reference["as_of"] = pd.to_datetime(reference["as_of"])
    result["as_of"] = pd.to_datetime(result["as_of"])
    mine = result.merge(reference[["customer_id", "as_of"]], on=["customer_id", "as_of"])
    customers = n
reference["as_of"] = pd.to_datetime(reference["as_of"])
mine["as_of"] = pd.to_datetime(mine["as_of"])
reference = reference.merge(mine[["customer_id", "as_of"]], on=["customer_id", "as_of"])
mine = mine.sort_values(["customer_id", "as_of"]).reset_index(drop=True)
reference = reference.sort_values(["customer_id", "as_of"]).reset_index(drop=True)
columns = [c for c in reference.columns if c in mine.columns]
agree = all(
    np.allclose(mine[c].astype(float), reference[c].astype(float), atol=1e-6, equal_nan=True)
    if mine[c].dtype.kind in "fiub" else (mine[c].astype(str) == reference[c].astype(str)).all()
    for c in columns)
json.dump({"seconds": seconds, "rows": rows, "sampled_rows_compared": len(mine),
           "agree": bool(agree and len(mine) > 0), "customers": customers}, open(out, "w"))
"""


def _versions() -> str:
    names = ("duckdb", "dbt-core", "dbt-duckdb", "pandas", "lightgbm", "mlflow")
    return ", ".join(f"{n} {metadata.version(n)}" for n in names)


def _write_results(
    out, scale, n_customers, steps, nodes, incremental_nodes, features, exclude
) -> None:
    full = next(s for s in steps if s.name.startswith("dbt build, full"))
    incremental = next(s for s in steps if s.name.startswith("dbt build, incremental"))
    hw, pd_, dbt = features["handwritten"], features["pandas"], features["dbt"]
    pandas_scaled = pd_["seconds"] * n_customers / max(pd_["customers"] or 1, 1)
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
        f"Incremental build / full build: **{incremental.wall_s / full.wall_s:.1%}** "
        "(target < 10%).",
        "",
        "## Point-in-time features (customer_features v1, every customer x 12 monthly as_of)",
        "",
        "| way | seconds | rows | vs hand-written DuckDB | agrees on sampled rows |",
        "|---|---:|---:|---:|---|",
        f"| dbt models (sum of the feature chain's nodes) | {dbt['wall_s']:.1f} | | "
        f"{dbt['wall_s'] / hw['seconds']:.2f}x | (the reference) |",
        f"| one hand-written DuckDB query (`bench/{HANDWRITTEN}`) | {hw['seconds']:.1f} | "
        f"{hw['rows']:,} | 1.00x | {hw['agree']} ({hw['sampled_rows_compared']} rows) |",
        f"| pandas (`customer_ml.oracle`), {pd_['customers']:,} customers | "
        f"{pd_['seconds']:.1f} | {pd_['rows']:,} | | {pd_['agree']} "
        f"({pd_['sampled_rows_compared']} rows) |",
        f"| pandas, scaled linearly to all customers | {pandas_scaled:.0f} | | "
        f"{pandas_scaled / hw['seconds']:.1f}x | |",
        "| Feast `get_historical_features` (DuckDB offline store) | not measured | | | |",
        "",
        "Feature-chain nodes (dbt's own timing, seconds, including each node's hooks):",
        "",
        *[f"- `{n}`: {t:.1f}" if t is not None else f"- `{n}`: -" for n, t in dbt["nodes"].items()],
        "",
        "Slowest nodes of the full build:",
        "",
        *[f"- `{n}`: {t:.1f}" for n, t in sorted(nodes.items(), key=lambda kv: -kv[1])[:12]],
        "",
        "Slowest nodes of the incremental build:",
        "",
        *[
            f"- `{n}`: {t:.1f}"
            for n, t in sorted(incremental_nodes.items(), key=lambda kv: -kv[1])[:8]
        ],
        "",
    ]
    (out / "results.md").write_text("\n".join(lines))
    _chart(out / "results.png", steps, features, pandas_scaled)


def _chart(path: Path, steps, features, pandas_scaled: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.barh([s.name for s in steps][::-1], [s.wall_s for s in steps][::-1])
    left.set(xlabel="wall seconds", title="Pipeline steps")
    names = ["dbt models", "hand-written DuckDB", "pandas (scaled)"]
    values = [features["dbt"]["wall_s"], features["handwritten"]["seconds"], pandas_scaled]
    right.barh(names[::-1], values[::-1])
    right.set(xlabel="seconds", title="Point-in-time features", xscale="log")
    fig.tight_layout()
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)
