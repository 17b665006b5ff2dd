"""docs/operating.md's crontab lines run as written, after `make clean`: each line's command
through /bin/sh (cron's shell) with the block's environment lines, in a checkout at a path of its
own (the docs' /srv/customer-ml stands for it) whose logs/ folder does not exist, logging outside
it; each exits 0 and writes its log. `make test-e2e` runs it (four builds and checks)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, cli, snapshot_project

pytestmark = pytest.mark.e2e


def _crontab(text: str) -> tuple[dict[str, str], list[str]]:
    """(environment, commands) of the first crontab block of docs/operating.md."""
    block = text.split("As crontab lines", 1)[1].split("```", 2)[1]
    env, commands = {}, []
    for line in block.strip().splitlines():
        if re.match(r"^[A-Z_]+=", line):
            name, value = line.split("=", 1)
            env[name] = value
        elif line.strip():
            commands.append(line.split(None, 5)[5])  # minute hour day month weekday command
    return env, commands


def test_the_documented_crontab_runs_as_written_after_make_clean(
    tiny_data: Path, tmp_path: Path
) -> None:
    env, commands = _crontab((REPO / "docs" / "operating.md").read_text())
    assert len(commands) == 4 and env["CUSTOMER_ML_HOME"] == "/srv/customer-ml"
    project = snapshot_project(tmp_path / "srv" / "customer-ml")
    (project / ".venv").symlink_to(REPO / ".venv")
    logs_folder = project / "logs"
    assert not logs_folder.exists()  # as after `make clean`
    logs = tmp_path / "var-log"
    logs.mkdir()
    # the day's data, loaded by an earlier job (customer-ml load) into the dev warehouse
    warehouse = project / "warehouse"
    done = cli(warehouse, "load", "--target", "dev", "--orders", str(tiny_data / "orders.parquet"),
               "--customers", str(tiny_data / "customers.parquet"), "--events",
               str(tiny_data / "engagement_events.parquet"), project=project)  # fmt: skip
    assert done.returncode == 0, done.stderr

    def here(text: str) -> str:
        return text.replace("/srv/customer-ml", str(project)).replace(
            "/var/log/customer-ml", str(logs)
        )

    cron_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SHELL": "/bin/sh",
                **{k: here(v) for k, v in env.items()}}  # fmt: skip
    # and its first build, a whole one, as `make run` does (scoring reads what training
    # recorded); then the schedule
    first = (
        "cd /srv/customer-ml && .venv/bin/dbt build --target dev "
        ">> /var/log/customer-ml/first.log 2>&1"
    )
    for command in [first, *commands]:
        ran = subprocess.run(["/bin/sh", "-c", here(command)], env=cron_env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=1800)  # fmt: skip
        log = Path(re.search(r">> (\S+)", here(command)).group(1))
        assert ran.returncode == 0, (command, log.read_text()[-3000:] if log.exists() else "")
        assert log.stat().st_size > 0, command
