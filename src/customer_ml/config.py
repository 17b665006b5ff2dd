"""Paths and settings in one place: where the project, warehouses, data and MLflow store live.

Everything that needs a path asks this module, so the Makefile, the dbt profile, the loader and
the dbt Python models agree without repeating themselves.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

# The targets whose warehouse is <warehouse>/<target>.duckdb (CLI commands act on them). Target
# `backfill` writes one file per backfill instead: customer_ml.replay.backfill.backfill_file.
TARGETS = ("dev", "ci", "experiment")


# The project root: CUSTOMER_ML_HOME when set (the Makefile and the profile set it), else the
# working directory, which is where dbt and the CLI run from.


def project_dir() -> Path:
    return Path(os.environ.get("CUSTOMER_ML_HOME", os.getcwd())).resolve()


def warehouse_dir() -> Path:
    """CUSTOMER_ML_WAREHOUSE_DIR when set (tests use throwaway ones), else <project>/warehouse."""
    if os.environ.get("CUSTOMER_ML_WAREHOUSE_DIR"):
        return Path(os.environ["CUSTOMER_ML_WAREHOUSE_DIR"]).resolve()
    return project_dir() / "warehouse"


def warehouse_path(target: str = "dev") -> Path:
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
    return warehouse_dir() / f"{target}.duckdb"


def tracking_uri(warehouse_file: str | os.PathLike) -> str:
    """MLflow store: MLFLOW_TRACKING_URI when set, else a SQLite file beside the warehouse."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{mlflow_db_path(warehouse_file)}"


def mlflow_db_path(warehouse_file: str | os.PathLike) -> Path:
    wh = Path(warehouse_file).resolve()
    return wh.parent / f"{wh.stem}.mlflow.db"


def artifact_root(warehouse_file: str | os.PathLike) -> Path:
    """Local folder for MLflow artifacts and model files of one warehouse."""
    wh = Path(warehouse_file).resolve()
    return wh.parent / f"{wh.stem}.artifacts"


def recorded_path(warehouse_file: str | os.PathLike, path: str | os.PathLike) -> str:
    """How a file of the warehouse's folder (its artifacts) is recorded: relative to that folder,
    so a warehouse copied or moved with its folder reads, and writes, its own files."""
    folder = Path(warehouse_file).resolve().parent
    return Path(path).resolve().relative_to(folder).as_posix()


def recorded_file(warehouse_file: str | os.PathLike, recorded: str) -> Path:
    """The file a recorded path names (see recorded_path); an absolute path, recorded by an
    earlier version, is taken as it is."""
    path = Path(recorded)
    return path if path.is_absolute() else Path(warehouse_file).resolve().parent / path


def analyst_copy_path(warehouse_file: str | os.PathLike) -> Path:
    """The read-only copy of lineage, serving and monitoring that each successful build
    publishes for analysts (macros/analyst_copy.sql writes it under this same name)."""
    wh = Path(warehouse_file).resolve()
    return wh.parent / f"{wh.stem}.analyst.duckdb"


# The lock (every package pinned, with hashes); commits before it had constraints.txt (pins only).
LOCK_FILES = ("requirements.lock", "constraints.txt")


def lock_file(project: Path | None = None) -> Path:
    """The lock file of `project` (default: this project), or of the commit checked out there."""
    root = project or project_dir()
    for name in LOCK_FILES:
        if (root / name).exists():
            return root / name
    return root / LOCK_FILES[0]


def project_vars() -> dict:
    """The defaults of dbt_project.yml's vars (the loader reads its limits there, so `load` and
    staging apply the same ones)."""
    import yaml

    with open(project_dir() / "dbt_project.yml") as f:
        return yaml.safe_load(f).get("vars", {})


def models_config_file() -> Path:
    """The model catalogue (customer_ml.catalogue reads it)."""
    return project_dir() / "config" / "models.yml"


LOCK_TIMEOUT_ENV = "CUSTOMER_ML_LOCK_TIMEOUT"
LOCK_TIMEOUT_DEFAULT_S = 60.0


def connect(path: str | os.PathLike, *, read_only: bool = False):
    """Open a warehouse file, waiting while another process holds it (DuckDB allows one writer
    per file, and no reader beside it) up to CUSTOMER_ML_LOCK_TIMEOUT seconds (default 60);
    then OperatorError, one line naming the holder."""
    import duckdb

    return _waiting_for_lock(path, lambda: duckdb.connect(str(path), read_only=read_only))


def attach_read_only(con, path: str | os.PathLike, alias: str) -> None:
    """Attach another warehouse file to `con` READ_ONLY under `alias`, waiting for its lock like
    `connect`: nothing done through the alias can write to it."""
    quoted = str(path).replace("'", "''")
    _waiting_for_lock(path, lambda: con.execute(f"attach '{quoted}' as {alias} (read_only)"))


def _waiting_for_lock(path: str | os.PathLike, open_: Any) -> Any:
    import re
    import time

    import duckdb

    timeout = float(os.environ.get(LOCK_TIMEOUT_ENV) or LOCK_TIMEOUT_DEFAULT_S)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return open_()
        except duckdb.IOException as e:
            text = str(e)
            if "Could not set lock" not in text:
                raise OperatorError(f"{path}: cannot open ({text.splitlines()[0]})") from None
            if time.monotonic() >= deadline:
                held = re.search(r"Conflicting lock is held in (.+?) \(PID (\d+)\)", text)
                holder = f"{held.group(1)} (PID {held.group(2)})" if held else "another process"
                raise OperatorError(
                    f"{path}: in use by {holder}; waited {timeout:g} s ({LOCK_TIMEOUT_ENV}). "
                    "A build or load holds it while it runs; an idle notebook connection holds "
                    "it until closed"
                ) from None
            time.sleep(0.25)


def number(value) -> float:
    """`value` as a float, NaN when it is not a number (a config check then refuses it: NaN fails
    every range test)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


class OperatorError(RuntimeError):
    """The build was invoked or configured wrongly (a bad var, a selection that left out what a
    node needs): one line naming what and how to fix it. Not a training failure, so it never
    counts toward a model's consecutive failures."""


DUCKDB_MEMORY_DEFAULT = "4GB"


def set_duckdb_resources(con: Any, memory_default: str = DUCKDB_MEMORY_DEFAULT) -> None:
    """DuckDB's memory and threads for a process: CUSTOMER_ML_DUCKDB_MEMORY (default
    `memory_default`) and CUSTOMER_ML_DUCKDB_THREADS (default 2); past the memory DuckDB spills
    to disk. Read here, when a connection opens, not in profiles.yml: a profile that renders
    differently (a daily build with 4GB, a weekly one with 8GB) makes dbt parse the project
    again from nothing. A value DuckDB refuses is one OperatorError line."""
    settings = {
        "memory_limit": ("CUSTOMER_ML_DUCKDB_MEMORY", memory_default, "4GB"),
        "threads": ("CUSTOMER_ML_DUCKDB_THREADS", "2", "2"),
    }
    # what an operator means: a positive size with its unit, a positive count (DuckDB itself
    # would take "-1GB" as no limit at all)
    forms = {
        "memory_limit": r"\s*[0-9]*\.?[0-9]+\s*(K|M|G|T)i?B\s*",
        "threads": r"\s*[1-9][0-9]*\s*",
    }
    for name, (variable, default, example) in settings.items():
        value = os.environ.get(variable, default)
        try:
            if not re.fullmatch(forms[name], value, flags=re.IGNORECASE):
                raise ValueError(value)
            con.execute(f"set {name} = '{value}'")
        except Exception:  # ValueError, duckdb.Error (duckdb is not imported by this module)
            shown = value if len(value) <= 40 else value[:40] + "..."
            raise OperatorError(
                f"{variable}={shown!r}: not a value DuckDB's {name} accepts (e.g. {example})"
            ) from None


# Data scales of the generator (customer_ml.data.generate) and the bench: customers, and the
# intensity of their activity (the bench scales share one per-customer density).
SCALES: dict[str, tuple[int, float]] = {
    "tiny": (1_000, 1.0),
    "demo": (20_000, 1.0),
    "bench": (1_000_000, 2.0),
    # the scaling curve (customer-ml bench --curve): the bench's per-customer density
    "bench-200k": (200_000, 2.0),
    "bench-3m": (3_000_000, 2.0),
}


KILL_AT = "CUSTOMER_ML_KILL_AT"


def fault_point(name: str) -> None:
    """Where the kill tests of `make reliability` stop a build as `kill -9` would: with
    CUSTOMER_ML_KILL_AT=<name> this process kills itself here with SIGKILL. The points: `record`
    (on-run-end, every node written, nothing recorded: a build killed after scoring and
    training) and `seal` (inside the seal hook, after its first seal)."""
    if os.environ.get(KILL_AT) == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


CLOCK = "CUSTOMER_ML_NOW"
CLOCK_EARLIEST = "1990-01-01"
CLOCK_AHEAD_DAYS = 400


def simulated_start() -> Any:
    """The simulated time this process starts at: CUSTOMER_ML_NOW (ISO 8601; an offset is
    converted to UTC, no offset means UTC), or None for the real clock. OperatorError, one line,
    when it is not a time, or before 1990-01-01, or more than 400 days ahead of the real clock
    (customer_ml.records.lineage.utc_now reads it; lineage.check_clock says where it may be
    used)."""
    from datetime import UTC, datetime, timedelta

    text = os.environ.get(CLOCK, "").strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise OperatorError(
            f"{CLOCK}={text[:40]!r}: not a time; give ISO 8601, e.g. 2025-03-01T06:00:00Z"
        ) from None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    real = datetime.now(UTC).replace(tzinfo=None)
    if not datetime.fromisoformat(CLOCK_EARLIEST) <= when <= real + timedelta(CLOCK_AHEAD_DAYS):
        raise OperatorError(
            f"{CLOCK}={text[:40]!r}: outside {CLOCK_EARLIEST} .. {CLOCK_AHEAD_DAYS} days from now"
        )
    return when


# The demo's people (config/owners.yml lists their demo keys, config/demo_keys/): who opens a
# request, and who approves in each role (per model where a role has several people). Used by
# `customer-ml demo-champions` (make run) and `customer-ml season`; a real owners file never
# lists their keys, so neither can act on a real deployment.
DEMO_REQUESTER = "ben@example.com"
DEMO_APPROVERS: dict[str, Any] = {
    "ml_owner": "ana@example.com",
    "business_stakeholder": {"churn": "carla@example.com", "clv": "dev@example.com"},
}


def demo_key(person: str) -> Path:
    return project_dir() / "config" / "demo_keys" / person


def demo_approver(role: str, model_name: str) -> str:
    who = DEMO_APPROVERS[role]
    return who if isinstance(who, str) else who[model_name]


def git_config(name: str) -> str:
    """A git config value as seen from the project (e.g. user.email, user.signingkey); empty
    when unset or when git is not there."""
    import subprocess

    try:
        return subprocess.run(["git", "config", name], cwd=project_dir(), capture_output=True,
                              text=True).stdout.strip()  # fmt: skip
    except OSError:
        return ""
