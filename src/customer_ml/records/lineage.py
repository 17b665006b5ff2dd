"""Lineage facts a run records about itself: git state, code and lock hashes, the dbt invocation,
the data snapshot ids registered in this build, and the derived `model_version`.

Python dbt models cannot use Jinja, so what they need from the build (invocation id, snapshot ids)
is read from the `lineage` tables the build's hooks write.
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from customer_ml import config

PACKAGE_DIR = Path(__file__).resolve().parent


def utc_now() -> datetime:
    """Now, by the project's one clock, in UTC as a naive timestamp, as every lineage table
    stores times: the real clock, or a simulated one (CUSTOMER_ML_NOW, the time this process
    starts at; it ticks with the real clock from there, so records of one process keep their
    order). Every decision that reads "now" (freshness, cadence, stabilization, champion age,
    budgets, alerts) and every record's time read it; a warehouse runs on one kind of clock only
    (`check_clock`)."""
    start = config.simulated_start()
    if start is None:
        return datetime.now(UTC).replace(tzinfo=None)
    started = _process_started(start)
    return start + (datetime.now(UTC).replace(tzinfo=None) - started)


@functools.cache
def _process_started(simulated: datetime) -> datetime:
    """When this process first read the simulated clock starting at `simulated` (real time)."""
    return datetime.now(UTC).replace(tzinfo=None)


def check_clock(con: duckdb.DuckDBPyConnection) -> None:
    """A warehouse runs on one kind of clock, and its clock never goes backwards. A simulated
    clock (CUSTOMER_ML_NOW) is refused on a warehouse that has recorded a build on the real
    clock: it would change what is due, fresh, stale or expired there, and what a promotion
    waits for. It is for warehouses of their own (`customer-ml season`), whose builds record it
    (lineage.builds.clock_at). OperatorError, one line."""
    simulated = config.simulated_start() is not None
    if not con.execute(
        "select 1 from information_schema.tables where table_catalog = current_database() "
        "and table_schema = 'lineage' and table_name = 'builds'"
    ).fetchall():
        return  # no build yet: nothing to contradict
    [(real_builds, first_real, latest)] = con.execute(
        "select count(*) filter (where clock_at is null), min(finished_at) filter (where "
        "clock_at is null), max(clock_at) from lineage.builds"
    ).fetchall()
    if simulated and real_builds:
        raise config.OperatorError(
            f"{config.CLOCK} is set, but this warehouse has run on the real clock since "
            f"{first_real:%Y-%m-%d %H:%M}: a simulated clock is refused on it (it would change "
            "what is due, stale or expired); use a warehouse of its own, as customer-ml season does"
        )
    now = utc_now()
    if latest is not None and now < latest:
        raise config.OperatorError(
            f"the clock would go backwards: it says {now:%Y-%m-%d %H:%M}, and a build of this "
            f"warehouse ran at {latest:%Y-%m-%d %H:%M} (simulated)"
        )


@dataclass(frozen=True)
class GitState:
    commit: str
    is_dirty: bool


def git_state(where: Path | None = None) -> GitState:
    """The commit checked out in the project and whether the tree has uncommitted changes,
    untracked files included (an untracked macro override changes what a build does as much as
    an edit; generated files are in .gitignore)."""
    where = where or config.project_dir()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"],
            cwd=where,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return GitState(commit="unknown", is_dirty=True)
    return GitState(commit=commit, is_dirty=bool(status.strip()))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def lock_hash() -> str:
    lock = config.lock_file()
    return sha256_file(lock) if lock.exists() else "missing"


def code_hash() -> str:
    """Hash of the package source and the project's dbt Python models."""
    digest = hashlib.sha256()
    files = sorted(PACKAGE_DIR.rglob("*.py")) + sorted(
        (config.project_dir() / "python_models").glob("*.py")
    )
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def stable_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def model_version(
    *,
    model_name: str,
    code: str,
    config_: dict[str, Any],
    hyperparameters: dict[str, Any],
    feature_version: int,
    label_version: int | None,
    snapshot_ids: list[str],
) -> str:
    """Hash of everything that defines a model (docs/design.md invariant 5). Any change, new
    version."""
    payload = stable_json(
        {
            "model_name": model_name,
            "code": code,
            "config": config_,
            "hyperparameters": hyperparameters,
            "feature_version": feature_version,
            "label_version": label_version,
            "snapshot_ids": sorted(snapshot_ids),
        }
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def current_invocation(session: duckdb.DuckDBPyConnection) -> str:
    """The invocation id of the running dbt build, recorded by its on-run-start hook."""
    rows = session.execute(
        "select invocation_id from lineage.invocations order by recorded_at desc limit 1"
    ).fetchall()
    if not rows:
        raise RuntimeError("lineage.invocations is empty: run through `dbt build`")
    return rows[0][0]


def build_snapshot_ids(
    session: duckdb.DuckDBPyConnection, invocation_id: str, relations: list[str]
) -> dict[str, str]:
    """Relation name -> snapshot id registered in this build, for the given input relations."""
    rows = session.execute(
        "select relation_name, snapshot_id from lineage.build_snapshots "
        "where invocation_id = ? and list_contains(?, relation_name) "
        "order by registered_at",
        [invocation_id, relations],
    ).fetchall()
    found = dict(rows)
    missing = sorted(set(relations) - set(found))
    if missing:
        raise config.OperatorError(
            f"no data snapshot registered in build {invocation_id} for {', '.join(missing)}: "
            "the node reading them registers them in its pre-hooks (register_data_snapshot); "
            "add the missing relation there"
        )
    return found


def warehouse_file(session: duckdb.DuckDBPyConnection) -> Path:
    rows = session.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchall()
    return Path(rows[0][0])


def definition_hashes(session: duckdb.DuckDBPyConnection, relations: list[str]) -> dict[str, str]:
    """Relation -> definition hash of the relation as it is in the warehouse: the one recorded
    by the latest build of it (this build's, when this build rebuilt it; an earlier build's when
    only a downstream node was selected)."""
    rows = session.execute(
        "select relation_name, arg_max(definition_hash, recorded_at) "
        "from lineage.model_definitions where list_contains(?, relation_name) "
        "group by relation_name",
        [relations],
    ).fetchall()
    found = dict(rows)
    missing = sorted(set(relations) - set(found))
    if missing:
        raise config.OperatorError(
            f"no definition hash recorded for {', '.join(missing)}: they were never built; "
            "build them first, e.g. dbt build --select +<node>"
        )
    return found


def rows_hash(*frames: Any) -> str:
    """SHA-256 over each frame's column names and the multiset of its rows: independent of the
    order rows arrive in (a warehouse read without ORDER BY has none), not of their values."""
    import hashlib

    import numpy as np
    import pandas as pd

    digest = hashlib.sha256()
    for frame in frames:
        digest.update("|".join(map(str, frame.columns)).encode())
        rows = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        digest.update(np.sort(rows).tobytes())
    return digest.hexdigest()


# The builds whose rows may be served or stand (invariant 8): finished (a lineage.builds row; a
# killed build has none), from a clean tree, as a production run. The SQL twin of the macro
# finished_servable_builds (macros/build_records.sql), for Python reading outside dbt's Jinja;
# tests/python/test_scoring_by_content.py holds them equal.
FINISHED_SERVABLE_BUILDS = (
    "select invocation_id from lineage.builds "
    "where not is_dirty and coalesce(run_type, 'production') = 'production'"
)


def source_tags(commit: str | None) -> dict[str, str]:
    """MLflow's own tags for who and what ran a run, which its UI shows."""
    import getpass

    tags = {
        "mlflow.user": config.git_config("user.email") or getpass.getuser(),
        "mlflow.source.type": "JOB",
        "mlflow.source.name": f"dbt build ({config.project_dir().name})",
    }
    return tags | ({"mlflow.source.git.commit": commit} if commit else {})
