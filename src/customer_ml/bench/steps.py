"""How the benchmark measures a step (customer_ml.bench.harness and its steps): a child process
under GNU time (wall and CPU seconds, peak RSS) in the environment dbt runs in, and dbt's own
timing of a build's nodes."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent


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


def timed(name: str, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> Step:
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


def step_env(project: Path, warehouse_dir: Path) -> dict[str, str]:
    from customer_ml import dbt_runner

    return {**dbt_runner.env(project, warehouse_dir), "MLFLOW_DISABLE_TELEMETRY": "true"}


def node_times(run_results: Path) -> dict[str, float]:
    """Node name (model name, `.vN` for versions; data tests and hooks too) -> execution seconds,
    from dbt's own timing."""
    results = json.loads(run_results.read_text())["results"]
    return {r["unique_id"].split(".", 2)[-1]: float(r["execution_time"]) for r in results}


def time_by_kind(run_results: Path) -> str:
    """Where a build's time went by kind of node (dbt's timing), as one line."""
    kinds = {
        "model": "models", "snapshot": "models", "test": "data tests", "unit_test": "unit tests",
        "operation": "hooks",
    }  # fmt: skip
    spent: dict[str, float] = {}
    for r in json.loads(run_results.read_text())["results"]:
        kind = kinds.get(r["unique_id"].split(".", 1)[0], "other")
        spent[kind] = spent.get(kind, 0.0) + float(r["execution_time"])
    return ", ".join(
        f"{kind} {s:.1f} s" for kind, s in sorted(spent.items(), key=lambda kv: -kv[1])
    )
