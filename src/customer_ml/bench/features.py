"""Point-in-time features for the benchmark (customer_ml.bench.harness): customer_features v1 for
every customer x 12 monthly as_of dates by the dbt models (dbt's timing of the feature chain's
nodes in the full build, and the same nodes' SQL alone), one hand-written DuckDB query, pandas, and
Feast when its environment is given; each checked against the models on sampled rows
(bench/pit_reference.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from customer_ml.bench.steps import BIN, timed

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


def compare(
    out: Path,
    project: Path,
    env: dict,
    pandas_customers: int,
    nodes: dict,
    feast_python: Path | None,
) -> dict:
    """Each way's timing and agreement on the built warehouse in `out`; `nodes`: dbt's timing of
    the full build's nodes (customer_ml.bench.harness.node_times)."""
    warehouse = out / "warehouse" / "dev.duckdb"
    script = project / "bench" / "features_three_ways.py"
    results = {}
    for way in ("handwritten", "pandas"):
        step = timed(way, [sys.executable, str(script), way, str(warehouse),
                            str(project / "bench" / HANDWRITTEN), str(pandas_customers),
                            str(out / f"features-{way}.json")],
                      env, project, out / f"features-{way}.log")  # fmt: skip
        results[way] = {"step": step, **json.loads((out / f"features-{way}.json").read_text())}
    results["models_sql"] = _models_sql(out, project, env)
    if feast_python is not None:
        try:  # another library in another environment: its failure is a result, not the end
            step = timed("feast", [str(feast_python), str(project / "bench" / "feast_features.py"),
                                    str(warehouse), str(project / "bench" / HANDWRITTEN),
                                    str(out / "feast"), str(out / "features-feast.json")],
                          env, project, out / "features-feast.log")  # fmt: skip
            feast = json.loads((out / "features-feast.json").read_text())
            results["feast"] = {"step": step, **feast}
        except RuntimeError as e:
            results["feast"] = {"failed": str(e)}
    results["dbt"] = {
        "wall_s": sum(nodes.get(n, 0.0) for n in FEATURE_NODES),
        "nodes": {n: nodes.get(n) for n in FEATURE_NODES},
    }
    return results


def _models_sql(out: Path, project: Path, env: dict) -> dict:
    """The feature chain's full-refresh SQL (`dbt compile --full-refresh`), each node timed alone
    (bench/models_sql.py)."""
    compiled = out / "target-compile"
    shutil.rmtree(compiled, ignore_errors=True)
    with open(out / "compile.log", "w") as log:
        done = subprocess.run(
            [str(BIN / "dbt"), "compile", "--target", "dev", "--full-refresh", "--target-path",
             str(compiled), "--indirect-selection", "empty", "--select", *FEATURE_NODES],
            env=env, cwd=project, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"dbt compile of the feature chain failed; see {out / 'compile.log'}")
    step = timed("models_sql", [sys.executable, str(project / "bench" / "models_sql.py"),
                                 str(out / "warehouse" / "dev.duckdb"), str(compiled),
                                 str(out / "features-models-sql.json"), *FEATURE_NODES],
                  env, project, out / "features-models-sql.log")  # fmt: skip
    return {"step": step, **json.loads((out / "features-models-sql.json").read_text())}


def lines(features: dict, n_customers: int) -> list[str]:
    """The features section of results.md."""
    hw, pd_, dbt, sql = (features[k] for k in ("handwritten", "pandas", "dbt", "models_sql"))
    pandas_scaled = pandas_seconds_scaled(features, n_customers)
    return [
        "## Point-in-time features (customer_features v1, every customer x 12 monthly as_of)",
        "",
        "| way | seconds | rows | vs hand-written DuckDB | agrees on sampled rows |",
        "|---|---:|---:|---:|---|",
        f"| dbt models (sum of the feature chain's nodes in the full build) | {dbt['wall_s']:.1f} "
        f"| | {dbt['wall_s'] / hw['seconds']:.2f}x | (the reference) |",
        f"| the same models' SQL alone (`dbt compile --full-refresh`, each node into a temp "
        f"table: no lineage hashes, no incremental state, no writes to the file) | "
        f"{sql['seconds']:.1f} | {sql['rows']:,} | {sql['seconds'] / hw['seconds']:.2f}x | "
        f"{sql['agree']} ({sql['sampled_rows_compared']} rows) |",
        f"| one hand-written DuckDB query (`bench/{HANDWRITTEN}`) | {hw['seconds']:.1f} | "
        f"{hw['rows']:,} | 1.00x | {hw['agree']} ({hw['sampled_rows_compared']} rows) |",
        f"| pandas (`customer_ml.data.oracle`), {pd_['customers']:,} customers | "
        f"{pd_['seconds']:.1f} | {pd_['rows']:,} | | {pd_['agree']} "
        f"({pd_['sampled_rows_compared']} rows) |",
        f"| pandas, scaled linearly to all customers | {pandas_scaled:.0f} | | "
        f"{pandas_scaled / hw['seconds']:.1f}x | |",
        _feast_line(features.get("feast"), hw["seconds"]),
        "",
        "Feature-chain nodes, seconds: dbt's own timing in the full build (including each node's "
        "hooks) / the node's SQL alone:",
        "",
        *[
            f"- `{n}`: {'-' if t is None else f'{t:.1f}'} / {sql['nodes'][n]:.1f}"
            for n, t in dbt["nodes"].items()
        ],
        "",
    ]


def pandas_seconds_scaled(features: dict, n_customers: int) -> float:
    pd_ = features["pandas"]
    return pd_["seconds"] * n_customers / max(pd_["customers"] or 1, 1)


def _feast_line(feast: dict | None, handwritten_s: float) -> str:
    if feast is None:
        return (
            "| Feast `get_historical_features` (DuckDB offline store) | not measured "
            "(run with `--feast-python`, as `make bench` does) | | | |"
        )
    if "failed" in feast:
        return (
            f"| Feast `get_historical_features` (DuckDB offline store) | {feast['failed']} | | | |"
        )
    return (
        f"| Feast `get_historical_features` (DuckDB offline store): precompute "
        f"{feast['precompute_seconds']:.1f} s (the hand-written query, to Parquet) + retrieval "
        f"{feast['retrieval_seconds']:.1f} s | {feast['seconds']:.1f} | {feast['rows']:,} | "
        f"{feast['seconds'] / handwritten_s:.1f}x | {feast['agree']} "
        f"({feast['sampled_rows_compared']} rows) |"
    )
