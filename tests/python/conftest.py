"""Shared fixtures: tiny generated data, and dbt builds of it in throwaway warehouses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from customer_ml.generate import generate

    out = tmp_path_factory.mktemp("tiny")
    generate("tiny", 7, out)
    return out


def run_env(warehouse_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CUSTOMER_ML_HOME=str(REPO),
        CUSTOMER_ML_WAREHOUSE_DIR=str(warehouse_dir),
        DBT_PROFILES_DIR=str(REPO / "profiles"),
        DBT_PROJECT_DIR=str(REPO),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        MLFLOW_DISABLE_TELEMETRY="true",
    )
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def cli(warehouse_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "customer-ml"), *args],
        env=run_env(warehouse_dir),
        cwd=REPO,
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


def dbt_build(warehouse_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [
            str(BIN / "dbt"),
            "build",
            "--target",
            "ci",
            "--target-path",
            str(warehouse_dir / "target"),
            "--log-path",
            str(warehouse_dir / "logs"),
            *extra,
        ],
        env=run_env(warehouse_dir),
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return done


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path) -> Path:
    """A ci warehouse with the tiny data loaded and built once (read-only for tests)."""
    wh = tmp_path_factory.mktemp("built")
    load_tiny(wh, tiny_data)
    dbt_build(wh)
    return wh
