"""How the benchmark measures a step (customer_ml.bench.harness and its steps): a child process
under GNU time (wall and CPU seconds, peak RSS) in the environment dbt runs in, and dbt's own
timing of a build's nodes, and the memory each node ran beside (the step's process tree sampled
once a second: `<log>.rss`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
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
    with open(log, "w") as out, open(log.with_suffix(".rss"), "w") as samples:
        done = subprocess.Popen(
            ["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(stats), *args],
            env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        while done.poll() is None:
            samples.write(f"{time.time():.1f} {tree_rss_mb(done.pid):.0f}\n")
            samples.flush()
            try:
                done.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                pass
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


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and every process below it, from /proc (0 once it is gone)."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            # the fields after the command name (which may hold spaces), from its last ')'
            parents.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    total_kb, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += parents.get(current, [])
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        total_kb += next(
            (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
        )
    return total_kb / 1024


def node_memory(run_results: Path, samples: Path) -> dict[str, float]:
    """Node name -> the highest memory of the build's process tree while the node executed (a
    node running beside another shares its peak; nodes shorter than a sample may have none)."""
    sampled = [tuple(map(float, line.split())) for line in samples.read_text().splitlines()]
    peaks: dict[str, float] = {}
    for r in json.loads(run_results.read_text())["results"]:
        execute = next((t for t in r["timing"] if t["name"] == "execute"), None)
        if not execute or not execute.get("started_at"):
            continue
        start, end = (
            datetime.fromisoformat(execute[k].replace("Z", "+00:00")).timestamp()
            for k in ("started_at", "completed_at")
        )
        during = [rss for at, rss in sampled if start <= at <= end]
        if during:
            peaks[r["unique_id"].split(".", 2)[-1]] = max(during)
    return peaks
