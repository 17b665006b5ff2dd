"""Which model serves: the champion per model, from the append-only `lineage.promotions` records
(the source of truth; the MLflow alias `champion` mirrors it), and the artifact store.

Artifacts are written once under a new folder per training run and never overwritten: a run
writes into a staging folder and renames it into place only when complete.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import duckdb

from customer_ml import config, lineage


def champion(session: duckdb.DuckDBPyConnection, model_name: str) -> dict[str, Any] | None:
    """The serving training run of `model_name`, or None when nothing was promoted."""
    try:
        rows = session.execute(
            """
            select training_runs.*
            from lineage.promotions
            inner join lineage.training_runs
                on promotions.training_run_id = training_runs.training_run_id
            where promotions.model_name = ? and promotions.action in ('promote', 'rollback')
            order by promotions.promoted_at desc
            limit 1
            """,
            [model_name],
        )
        names = [d[0] for d in rows.description]
        found = rows.fetchall()
    except duckdb.CatalogException:
        return None
    return dict(zip(names, found[0], strict=True)) if found else None


def artifact_dir(warehouse: Path, model_name: str, training_run_id: str) -> Path:
    return config.artifact_root(warehouse) / "models" / model_name / training_run_id


def write_artifacts(final_dir: Path, files: dict[str, bytes]) -> dict[str, str]:
    """Write files into a staging folder, then move it to `final_dir`; returns name -> sha256.

    Refuses to touch an existing `final_dir`: artifacts are never overwritten.
    """
    if final_dir.exists():
        raise FileExistsError(f"{final_dir}: artifacts exist already and are never overwritten")
    staging = final_dir.parent / f".staging-{final_dir.name}-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    for name, data in files.items():
        (staging / name).write_bytes(data)
    staging.rename(final_dir)
    return {name: lineage.sha256_file(final_dir / name) for name in files}


def read_verified(path: Path, sha256: str) -> bytes:
    """Read an artifact, failing when its bytes no longer match the recorded sha256."""
    data = path.read_bytes()
    actual = lineage.hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise ValueError(f"{path}: sha256 {actual} differs from the recorded {sha256}")
    return data
