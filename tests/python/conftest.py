"""Shared fixtures: tiny generated data, and dbt builds of it in throwaway warehouses."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GIT_ID = ["-c", "user.name=customer-ml tests", "-c", "user.email=tests@customer-ml.invalid"]


def git(where: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *GIT_ID, *args], cwd=where, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def snapshot_project(dest: Path, *, history: bool = False) -> Path:
    """A clean, committed copy of the working tree as it is now (tracked and new files, not
    ignored ones): production training refuses a dirty tree, and tests must not depend on
    whether the developer's checkout has uncommitted changes. With `history`, the copy is one
    commit on top of the repository's history (so earlier commits can be checked out)."""
    if history:
        subprocess.run(["git", "clone", "-q", "--no-checkout", str(REPO), str(dest)], check=True)
    files = git(REPO, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    for name in filter(None, files.split("\0")):
        source = REPO / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    if not history:
        git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    # with history, the working tree may be the last commit itself: still one commit on top
    git(dest, "commit", "-q", "--allow-empty", "-m", "snapshot of the working tree for tests")
    return dest


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return snapshot_project(tmp_path_factory.mktemp("project"))


# The session's clean snapshot of the working tree, set once when the session starts and never
# swapped; tests that need another project pass it explicitly (project=...).
PROJECT: Path | None = None


@pytest.fixture(scope="session", autouse=True)
def _set_project(project: Path) -> None:
    global PROJECT
    PROJECT = project


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from customer_ml.data.generate import generate

    out = tmp_path_factory.mktemp("tiny")
    generate("tiny", 7, out)
    return out


def run_env(warehouse_dir: Path, project: Path | None = None) -> dict[str, str]:
    """The environment the project runs dbt in (customer_ml.dbt_runner), for `project` (its own
    package, not the editable install of the developer's checkout) and a throwaway warehouse."""
    from customer_ml import dbt_runner

    env = dbt_runner.env(project or PROJECT or REPO, warehouse_dir)
    return {**env, "MLFLOW_DISABLE_TELEMETRY": "true"}


def cli(
    warehouse_dir: Path, *args: str, project: Path | None = None, user: str = "ben@example.com"
) -> subprocess.CompletedProcess:
    """`customer-ml ARGS` against a warehouse dir, from `project` (default: the session's clean
    snapshot), signing governance actions as `user` (their demo key, config/demo_keys)."""
    project = project or PROJECT or REPO
    env = run_env(warehouse_dir, project)
    env["CUSTOMER_ML_SIGNING_KEY"] = str(REPO / "config" / "demo_keys" / user)
    return subprocess.run(
        [str(BIN / "customer-ml"), *args],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
    )


def load_tiny(warehouse_dir: Path, data: Path) -> None:
    done = cli(
        warehouse_dir,
        "load",
        "--target",
        "ci",
        "--orders",
        str(data / "orders.parquet"),
        "--customers",
        str(data / "customers.parquet"),
        "--events",
        str(data / "engagement_events.parquet"),
        "--business-events",
        str(data / "business_events.parquet"),
    )
    assert done.returncode == 0, done.stderr


def dbt_build(
    warehouse_dir: Path,
    *extra: str,
    project: Path | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess:
    return dbt(
        warehouse_dir, "build", *extra, project=project, check=check, env=env, timeout=timeout
    )


def dbt(
    warehouse_dir: Path,
    command: str,
    *extra: str,
    project: Path | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess:
    """`dbt COMMAND` on the ci target against a warehouse dir (its own target and log paths, so
    `dbt retry` finds the previous run's results there); `env` adds to its environment."""
    project = project or PROJECT or REPO
    done = subprocess.run(
        [
            str(BIN / "dbt"),
            command,
            "--target",
            "ci",
            "--target-path",
            str(warehouse_dir / "target"),
            "--log-path",
            str(warehouse_dir / "logs"),
            *extra,
        ],
        env={**run_env(warehouse_dir, project), **(env or {})},
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return done


def promote_by_record(warehouse_dir: Path, model_name: str, *, mirror: bool = True) -> str:
    """Make the model's one training run the champion by appending a promotion record (sealed,
    as the CLI would write it, without its approvals) and, with `mirror`, moving the MLflow
    registry alias as the CLI does; returns the run id."""
    import duckdb

    from customer_ml.records import lineage, model_registry, store

    con = duckdb.connect(str(warehouse_dir / "ci.duckdb"))
    try:
        [(run,)] = con.execute(f"select training_run_id from ml.ml_{model_name}__train").fetchall()
        store.append(con, "promotions", {"model_name": model_name, "training_run_id": run,
                       "action": "promote", "promoted_at": lineage.utc_now()})  # fmt: skip
        if mirror:
            [row] = store.read(
                con, f"select * from ml.ml_{model_name}__train where training_run_id = ?", [run]
            )
            model_registry.set_champion(warehouse_dir / "ci.duckdb", model_name, row)
    finally:
        con.close()
    return run


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path) -> Path:
    """A ci warehouse with the tiny data loaded and built once (read-only for tests)."""
    wh = tmp_path_factory.mktemp("built")
    load_tiny(wh, tiny_data)
    dbt_build(wh)
    return wh


def clv_summaries(rows):
    """btyd's warehouse summaries of rows in the CLV datasets' shape (period, period_end,
    holdout_days, customer_id, amount, ordered_at; period 'holdout' for clv_holdout's rows),
    computed by DuckDB as ml_clv__train computes them."""
    import duckdb
    import pandas as pd

    from customer_ml.models import btyd

    con = duckdb.connect()
    held = rows["period"] == "holdout"
    frames = [btyd.summaries(con.from_df(rows[~held])).df()]
    if held.any():
        frames.append(btyd.holdout_summaries(con.from_df(rows[held])).df())
    return pd.concat(frames, ignore_index=True)
