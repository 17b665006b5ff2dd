"""What a training run cost (issue 18): the reviewed rate card (seeds/rate_card.csv, the file dbt
seeds as monitoring.rate_card) turns a run's usage into an estimated cost, recorded with the run
in lineage.run_costs; a model's `monthly_budget_usd` (config/models.yml) raises one alert per
calendar month (UTC) once its runs' estimated costs exceed it."""

from __future__ import annotations

import csv
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from customer_ml import catalogue, config
from customer_ml.records import lineage, store

RESOURCES = {"cpu": "cpu_hour", "memory": "gb_hour"}


def rate_card() -> dict[str, float]:
    """resource -> USD per unit, each present and a non-negative number (else one line)."""
    path = config.project_dir() / "seeds" / "rate_card.csv"
    try:
        with open(path, newline="") as f:
            rows = {r.get("resource"): r for r in csv.DictReader(f)}
    except OSError as e:
        raise config.OperatorError(f"{path}: cannot read the rate card ({e.strerror})") from None
    rates = {}
    for resource, unit in RESOURCES.items():
        price = (rows.get(resource) or {}).get("price_usd")
        number = config.number(price)
        if not (0 <= number < math.inf):
            raise config.OperatorError(
                f"{path}: no valid price_usd per {unit} for resource {resource} (got {price!r})"
            )
        rates[resource] = number
    return rates


def budget(model_name: str) -> float | None:
    """The model's monthly budget in USD, or None (no budget); a positive number, as
    catalogue.ModelConfig checks it (else one line)."""
    value = catalogue.entry(model_name).policy.get("monthly_budget_usd")
    return None if value is None else float(value)


def check() -> None:
    """The rate card and every budget, when a build starts (before anything trains)."""
    rate_card()
    for name in catalogue.names():
        budget(name)


def estimate(cpu_seconds: float, wall_seconds: float, peak_rss_mb: float) -> float:
    """USD: CPU-hours at the CPU price plus peak GB held for the wall time at the memory price."""
    rates = rate_card()
    cpu = cpu_seconds / 3600 * rates["cpu"]
    memory = peak_rss_mb / 1024 * wall_seconds / 3600 * rates["memory"]
    return round(cpu + memory, 6)


def check_budget(session: duckdb.DuckDBPyConnection, model_name: str, **alert: Any) -> None:
    """After a run's cost is recorded: alert once this month when the model's runs this month
    cost more than its budget."""
    limit = budget(model_name)
    if limit is None:
        return
    month = lineage.utc_now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    month = month.replace(tzinfo=None)
    from customer_ml.records import alerts

    [(spent,)] = session.execute(
        "select coalesce(sum(estimated_cost_usd), 0) from lineage.run_costs "
        "where model_name = ? and recorded_at >= ?",
        [model_name, month],
    ).fetchall()
    if (
        spent > limit
        and alerts.last_raised(session, model_name, "training_budget_exceeded", month) is None
    ):
        alerts.raise_alert(
            session,
            model_name=model_name,
            kind="training_budget_exceeded",
            severity="warning",
            message=f"training cost USD {spent:.4f} this month, over the monthly budget of "
            f"USD {limit:g}",
            **alert,
        )


def read(session: duckdb.DuckDBPyConnection, relation: Any) -> tuple[pd.DataFrame, int | None]:
    """A training node's input (a DuckDB relation on `session`) as a frame, and the bytes its
    table scans produced by DuckDB's profiler (the columns and rows read, uncompressed, after
    filters pushed into the scan: the same whether the blocks were cached or read from disk),
    or None when DuckDB did not report it."""
    with tempfile.TemporaryDirectory() as scratch:
        profile = Path(scratch) / "profile.json"
        session.execute("pragma enable_profiling = 'json'")
        session.execute(f"pragma profiling_output = '{profile}'")
        try:
            frame = relation.df()
        finally:
            session.execute("pragma disable_profiling")
        try:
            scanned = sum(map(_scanned, json.loads(profile.read_text())["operator"]))
        except (OSError, ValueError, KeyError, TypeError):
            return frame, None
    return frame, scanned


def _scanned(operator: dict[str, Any]) -> int:
    own = operator["intermediate_size_bytes"] if operator.get("type") == "TABLE_SCAN" else 0
    return own + sum(_scanned(child) for child in operator.get("children") or [])


def record(
    session: duckdb.DuckDBPyConnection,
    ctx: Any,  # customer_ml.pipeline.training_context.Context
    status: str,
    usage: Any,  # customer_ml.pipeline.quotas.Usage
    rows_read: int,
    exceeded: Any = None,  # customer_ml.pipeline.quotas.QuotaExceeded
    bytes_scanned: int | None = None,
) -> None:
    """One lineage.run_costs row per training run: what its child process used (and, when it
    was terminated, which limit, its value and the measured one)."""
    store.append(
        session,
        "run_costs",
        {
            "training_run_id": ctx.training_run_id,
            "model_name": ctx.entry.name,
            "run_type": ctx.run_type,
            "invocation_id": ctx.invocation_id,
            "status": status,
            "stage": usage.stage,
            "wall_seconds": usage.wall_s,
            "cpu_seconds": usage.cpu_s,
            "peak_rss_mb": usage.peak_rss_mb,
            "rows_read": rows_read,
            "bytes_scanned": bytes_scanned,
            "limit_name": exceeded.limit if exceeded else None,
            "limit_value": exceeded.allowed if exceeded else None,
            "measured_value": exceeded.measured if exceeded else None,
            "estimated_cost_usd": estimate(usage.cpu_s, usage.wall_s, usage.peak_rss_mb),
            "recorded_at": lineage.utc_now().replace(microsecond=0),
        },
    )
    check_budget(session, ctx.entry.name, invocation_id=ctx.invocation_id)
