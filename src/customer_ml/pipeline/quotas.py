"""Training under quotas, isolated from the build (issue 18): the model's computation (split, fit,
evaluate, describe) runs in a child process; a watchdog in the build's process ends it when it
exceeds the model's wall-clock or memory quota, and measures what it used.

Quotas are reviewed policy (`quotas:` of each model in config/models.yml): `max_seconds` (the
training SLA), `max_memory_mb` (peak resident memory of the child) and `threads` (OpenMP and BLAS
threads in the child, set with threadpoolctl). They are checked when a build starts (`check`).

The child is a fresh interpreter (`python -m customer_ml.pipeline.quotas`, inputs and results
pickled over pipes): no DuckDB connection, lock or thread of dbt's process is copied into it.
Memory and CPU are read from Linux's /proc every POLL_S seconds (psutil is not in the pinned
stack): a spike shorter than that can pass unseen.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from customer_ml import catalogue

POLL_S = 0.1
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass(frozen=True)
class Quota:
    max_seconds: float
    max_memory_mb: float
    threads: int


@dataclass
class Usage:
    """What the child used: wall and CPU seconds, peak resident memory, the stage it reached."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    stage: str = "starting"


class QuotaExceeded(RuntimeError):
    """The child was terminated: `limit` (max_seconds or max_memory_mb) was exceeded."""

    def __init__(self, limit: str, allowed: float, usage: Usage) -> None:
        measured = usage.wall_s if limit == "max_seconds" else usage.peak_rss_mb
        unit = "s" if limit == "max_seconds" else "MB"
        super().__init__(
            f"training terminated in stage {usage.stage}: {limit} {allowed:g} {unit} exceeded "
            f"(measured {measured:.1f} {unit})"
        )
        self.limit, self.allowed, self.measured, self.usage = limit, allowed, measured, usage


def quota(model_name: str) -> Quota:
    """The model's quota, from config/models.yml (see parse)."""
    return parse(model_name, catalogue.entry(model_name).policy.get("quotas") or {})


def parse(model_name: str, given: dict[str, Any]) -> Quota:
    """A quota, each limit a positive number (threads a whole one; catalogue.Quotas), else one
    line naming it."""
    limits = catalogue.checked(catalogue.Quotas, given, f"{model_name}.quotas")
    return Quota(limits.max_seconds, limits.max_memory_mb, limits.threads)


def check() -> None:
    """Every catalogued model's quota, when a build starts (before anything trains)."""
    for name in catalogue.names():
        quota(name)


def _child(receive_fd: int, send_fd: int) -> None:
    """The child: read (target, threads, args, kwargs), report stages, send the result or the
    error line back."""
    from multiprocessing.connection import Connection

    receive, send = Connection(receive_fd, writable=False), Connection(send_fd, readable=False)
    target, threads, args, kwargs = receive.recv()
    receive.close()
    from threadpoolctl import threadpool_limits

    def stage(name: str) -> None:
        send.send(("stage", name))

    try:
        module, function = target.split(":")
        with threadpool_limits(limits=threads):
            result = getattr(importlib.import_module(module), function)(
                *args, stage=stage, **kwargs
            )
        send.send(("result", result))
    except BaseException as e:  # sent back whole: the parent re-raises it as training's error
        send.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        send.close()


def _sample(pid: int) -> tuple[float, float]:
    """(CPU seconds, resident MB) of a live process, from /proc; (0, 0) once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/statm") as f:
            resident_pages = int(f.read().split()[1])
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0, 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS, resident_pages * _PAGE_MB


def run(
    quota: Quota, target: str, *args: Any, on_stage: Callable[[str], None] | None = None, **kwargs
) -> tuple[Any, Usage]:
    """Call `target` ("module:function", called with a `stage(name)` keyword it reports its
    stages with) in a child process under `quota`; returns its result and what it used. Raises
    QuotaExceeded when the child was terminated, RuntimeError with the child's error line when
    it failed."""
    import subprocess
    import sys
    from multiprocessing.connection import Connection

    to_child, from_child = os.pipe(), os.pipe()
    child = subprocess.Popen(
        [sys.executable, "-m", "customer_ml.pipeline.quotas", str(to_child[0]), str(from_child[1])],
        pass_fds=(to_child[0], from_child[1]),
    )
    os.close(to_child[0])
    os.close(from_child[1])
    receive = Connection(from_child[0], writable=False)
    usage = Usage()
    started = time.monotonic()
    outcome: tuple[str, Any] | None = None
    try:
        with Connection(to_child[1], readable=False) as send:
            send.send((target, quota.threads, args, kwargs))
        while outcome is None:
            if receive.poll(POLL_S):
                try:
                    kind, value = receive.recv()
                except EOFError:  # the child ended without a word (killed: by the OS, memory)
                    break
                if kind == "stage":
                    usage.stage = value
                    if on_stage:
                        on_stage(value)
                else:
                    outcome = (kind, value)
            cpu, rss = _sample(child.pid)
            usage.cpu_s = max(usage.cpu_s, cpu)
            usage.peak_rss_mb = max(usage.peak_rss_mb, rss)
            usage.wall_s = time.monotonic() - started
            if usage.wall_s > quota.max_seconds:
                raise QuotaExceeded("max_seconds", quota.max_seconds, usage)
            if usage.peak_rss_mb > quota.max_memory_mb:
                raise QuotaExceeded("max_memory_mb", quota.max_memory_mb, usage)
    finally:
        if child.poll() is None and outcome is None:
            child.kill()
        child.wait()
        receive.close()
        usage.wall_s = time.monotonic() - started
    if outcome is None:
        raise RuntimeError(
            f"training process ended with exit code {child.returncode} in stage {usage.stage}"
        )
    kind, value = outcome
    if kind == "error":
        raise RuntimeError(value)
    return value, usage


if __name__ == "__main__":
    _child(int(sys.argv[1]), int(sys.argv[2]))
