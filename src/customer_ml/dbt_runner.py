"""Run dbt for the CLI: the project's profiles, paths and environment, the venv's own dbt."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from customer_ml import config

TIMESTAMP = re.compile(r"^(\x1b\[[0-9;]*m)*\d\d:\d\d:\d\d\s+")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def env() -> dict[str, str]:
    project = config.project_dir()
    out = dict(os.environ)
    out.setdefault("CUSTOMER_ML_HOME", str(project))
    out.setdefault("DBT_PROFILES_DIR", str(project / "profiles"))
    out.setdefault("DBT_PROJECT_DIR", str(project))
    out.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return out


def run(*args: str) -> tuple[int, list[str]]:
    """Run `dbt ARGS` in the project; returns the exit status and the output lines, cleaned."""
    dbt = Path(sys.executable).parent / "dbt"
    done = subprocess.run(
        [str(dbt), "--no-use-colors", *args],
        env=env(),
        cwd=config.project_dir(),
        capture_output=True,
        text=True,
    )
    lines = [
        ANSI.sub("", TIMESTAMP.sub("", line)).rstrip()
        for line in (done.stdout + done.stderr).splitlines()
    ]
    return done.returncode, [line for line in lines if line.strip()]
