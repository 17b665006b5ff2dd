"""Run dbt: the project's profiles, paths and environment, the venv's own dbt. The CLI runs it in
the project; `reproduce` runs it in a checkout of a recorded commit against a throwaway
warehouse folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from customer_ml import config

TIMESTAMP = re.compile(r"^(\x1b\[[0-9;]*m)*\d\d:\d\d:\d\d\s+")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def env(project: Path | None = None, warehouse_dir: Path | None = None) -> dict[str, str]:
    """The environment dbt runs in: this project's (what the caller set wins), or wholly that
    of `project` (another checkout: its own package, profiles and MLflow store)."""
    out = dict(os.environ)
    if project is None:
        project = config.project_dir()
        out.setdefault("CUSTOMER_ML_HOME", str(project))
        out.setdefault("DBT_PROFILES_DIR", str(project / "profiles"))
        out.setdefault("DBT_PROJECT_DIR", str(project))
    else:
        out.update(
            CUSTOMER_ML_HOME=str(project),
            DBT_PROFILES_DIR=str(project / "profiles"),
            DBT_PROJECT_DIR=str(project),
            PYTHONPATH=str(project / "src"),
        )
        out.pop("MLFLOW_TRACKING_URI", None)
    if warehouse_dir is not None:
        out["CUSTOMER_ML_WAREHOUSE_DIR"] = str(warehouse_dir)
    out.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return out


def run(
    *args: str,
    project: Path | None = None,
    warehouse_dir: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> tuple[int, list[str]]:
    """Run `dbt ARGS` in the project (or `project`, against `warehouse_dir`; `extra_env` set
    besides); returns the exit status and the output lines, cleaned."""
    dbt = Path(sys.executable).parent / "dbt"
    done = subprocess.run(
        [str(dbt), "--no-use-colors", *args],
        env={**env(project, warehouse_dir), **(extra_env or {})},
        cwd=project or config.project_dir(),
        capture_output=True,
        text=True,
    )
    lines = [
        ANSI.sub("", TIMESTAMP.sub("", line)).rstrip()
        for line in (done.stdout + done.stderr).splitlines()
    ]
    return done.returncode, [line for line in lines if line.strip()]
