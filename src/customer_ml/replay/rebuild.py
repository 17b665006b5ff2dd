"""Replaying a recorded build: an isolated checkout of its commit, the raw rows each of its data
snapshots covered (copied from the production warehouse, opened read-only), an optional seeded
champion, and `dbt build` with the recorded vars in a throwaway warehouse. `reproduce` compares
what the replay produced with the records.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb

from customer_ml import config
from customer_ml.records import lineage, store, tables

Progress = Callable[[str], None]

RAW_TABLES = ("orders", "customers", "engagement_events", "business_events")


class ReproduceError(Exception):
    """The records do not allow a reproduction: one line naming what, where and why."""


def build_inputs(con: duckdb.DuckDBPyConnection, invocation_id: str) -> dict[str, dict]:
    """Relation -> data snapshot record, for every snapshot the build registered."""
    rows = store.read(
        con,
        """
        select d.*
        from lineage.build_snapshots as b
        inner join lineage.data_snapshots as d on b.snapshot_id = d.snapshot_id
        where b.invocation_id = ?
        """,
        [invocation_id],
    )
    if not rows:
        raise ReproduceError(f"build {invocation_id}: records incomplete (no data snapshots)")
    return {r["relation_name"]: r for r in rows}


def build_invocation(con: duckdb.DuckDBPyConnection, invocation_id: str) -> dict:
    rows = store.read(
        con, "select * from lineage.invocations where invocation_id = ?", [invocation_id]
    )
    if not rows:
        raise ReproduceError(f"build {invocation_id}: records incomplete (no invocation record)")
    return rows[0]


def checkout(project: Path, commit: str, dest: Path) -> Path:
    """An isolated working copy of `project` at `commit`; the user's checkout is not touched."""
    have = subprocess.run(
        ["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=project, capture_output=True
    )
    if have.returncode != 0:
        raise ReproduceError(f"commit {commit} is not in the repository at {project}")
    subprocess.run(
        ["git", "clone", "--quiet", "--shared", "--no-checkout", str(project), str(dest)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["git", "-c", "advice.detachedHead=false", "checkout", "--quiet", commit],
        cwd=dest,
        check=True,
        capture_output=True,
    )
    return dest


def environment_differences(lock: Path) -> list[str]:
    """Packages whose installed version differs from the lock file's pin."""
    out = []
    for line in lock.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "--")) or "==" not in line:
            continue
        name, pinned = line.split("==", 1)
        name, pinned = name.split("[")[0], pinned.split(";")[0].split()[0]
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "missing"
        if installed != pinned:
            out.append(f"{name} {installed} (lock: {pinned})")
    return out


def copy_raw(production: Path, inputs: dict[str, dict], dest: Path) -> None:
    """The raw rows each snapshot covered, from production (read-only) into `dest`."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(dest))
    try:
        con.execute(f"attach '{production}' as production (read_only)")
        con.execute("create schema raw")
        for table in RAW_TABLES:
            snapshot = inputs.get(f"raw.{table}")
            if snapshot is None or snapshot["watermark"] is None:
                condition = "false"
            else:
                condition = f"_loaded_at <= cast('{snapshot['watermark']}' as timestamp)"
            con.execute(
                f"create table raw.{table} as select * from production.raw.{table} "
                f"where {condition}"
            )
        watermark = max((s["watermark"] for s in inputs.values() if s["watermark"]), default=None)
        con.execute(
            "create table raw._loads as select * from production.raw._loads "
            + (
                f"where loaded_at <= cast('{watermark}' as timestamp)"
                if watermark
                else "where false"
            )
        )
        con.execute("detach production")
    finally:
        con.close()


def replay_build(
    code: Path,
    warehouse_dir: Path,
    target: str,
    vars_: dict,
    node: str | None = None,
    clock: str | None = None,
) -> list[str]:
    """`dbt build` in the working copy against the throwaway warehouse, with recorded vars:
    of `node` and what it is built from (`+node`, the tests whose parents are all selected),
    or of everything when no node is named; at the simulated `clock` the build ran at, if any
    (what is due, fresh or expired is decided by it).

    Returns the failures of the replayed build (nodes the comparison does not need may fail,
    as they may have in the original build); the comparison decides.
    """
    from customer_ml import dbt_runner

    selection = ["--select", f"+{node}", "--indirect-selection", "cautious"] if node else []
    status, lines = dbt_runner.run(
        "build", "--target", target, "--vars", json.dumps(vars_), *selection,
        project=code, warehouse_dir=warehouse_dir,
        extra_env={config.CLOCK: clock} if clock else None,
    )  # fmt: skip
    if status == 0:
        return []
    failures = [line.strip() for line in lines if " ERROR " in line or " FAIL " in line]
    return failures or [lines[-1] if lines else "dbt failed"]


def seed_champion(warehouse: Path, run: dict[str, Any], recorded_in: Path) -> None:
    """Make the training run `run`, recorded in the warehouse `recorded_in` (production, or the
    warehouse a reproduction retrained it in), the champion of a throwaway warehouse: its record
    in its model's training table and a promotion, as `registry.champion` reads them. Its
    artifact stays where it is, beside `recorded_in` (read-only, sha256 verified when loaded):
    the seeded record names it by its absolute path."""
    run = {
        **run,
        **{
            key: str(config.recorded_file(recorded_in, run[key]))
            for key in ("artifact_path", "report_path")
            if run.get(key)
        },
    }
    con = duckdb.connect(str(warehouse))
    try:
        store.create_all(con)
        con.execute("create schema if not exists ml")
        # typed as the training model writes it, so the replay's own runs append to it
        con.register("champion_record", store.frame([run], tables.TRAINING_RUN_COLUMNS))
        con.execute(
            f"create table ml.ml_{run['model_name']}__train as select * from champion_record"
        )
        store.append(
            con,
            "promotions",
            {
                "promotion_id": "reproduce",
                "model_name": run["model_name"],
                "training_run_id": run["training_run_id"],
                "model_version": run["model_version"],
                "action": "promote",
                "actor": "reproduce",
                "promoted_at": lineage.utc_now(),
            },
        )
    finally:
        con.close()


def seed_baseline(
    warehouse: Path, record: dict[str, Any], fitted_by: dict[str, Any], recorded_in: Path
) -> None:
    """Give a throwaway warehouse the rule baseline `record` (recorded in `recorded_in`) and the
    record of the finished build `fitted_by` that fitted it, as production holds them, so that
    the rule is served there as it was (registry.recorded_baseline) and the replay scores with
    it as fitted then, not refitted on the replayed population. Its artifact is named by
    absolute path (read-only, sha256 verified when loaded)."""
    path = str(config.recorded_file(recorded_in, record["artifact_path"]))
    con = duckdb.connect(str(warehouse))
    try:
        store.create_all(con)
        store.append(con, "builds", fitted_by)
        store.append(con, "baseline_runs", {**record, "artifact_path": path})
    finally:
        con.close()


def replay(
    production: duckdb.DuckDBPyConnection,
    production_path: Path,
    invocation_id: str,
    code: Path,
    workdir: Path,
    progress: Progress,
    run_type: str | None = None,
    prepare: Callable[[Path], None] | None = None,
    node: str | None = None,
) -> tuple[Path, dict[str, dict], list[str]]:
    """Rebuild build `invocation_id` from its records: its warehouse, inputs and failures. With
    `node`, only what that node is built from is replayed (a record depends on nothing else)."""
    invocation = build_invocation(production, invocation_id)
    inputs = build_inputs(production, invocation_id)
    target = invocation["target_name"]
    warehouse_dir = workdir / f"warehouse-{invocation_id[:8]}"
    progress(f"copying the raw rows of build {invocation_id[:8]} at their watermarks")
    copy_raw(production_path, inputs, warehouse_dir / f"{target}.duckdb")
    if prepare:
        prepare(warehouse_dir / f"{target}.duckdb")
    vars_ = json.loads(invocation.get("vars_json") or "{}")
    if run_type:
        vars_["run_type"] = run_type
    if "retrain:" in (code / "dbt_project.yml").read_text():  # commits since retraining decisions
        vars_["retrain"] = "force"  # recreate the run, whatever the retraining policy says now
    progress(f"replaying dbt build {invocation_id[:8]} (target {target}) at the recorded commit")
    [clock] = production.execute(
        "select max(clock_at) from lineage.builds where invocation_id = ?", [invocation_id]
    ).fetchone()
    failures = replay_build(code, warehouse_dir, target, vars_, node,
                            clock=clock.isoformat() if clock else None)  # fmt: skip
    return warehouse_dir / f"{target}.duckdb", inputs, failures
