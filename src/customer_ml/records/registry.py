"""Which model serves: the champion per model, from the append-only `lineage.promotions` records
(the source of truth; the MLflow alias `champion` mirrors it), and the artifact store.

Artifacts are written once under a new folder per training run and never overwritten: a run
writes into a staging folder and renames it into place only when complete. A rule baseline is
recorded the same way (`lineage.baseline_runs`, its parameters under baselines/<model>/<version>):
fitted once per version of its code, on production's whole population, and read, not refitted,
by every later build, backfill and reproduction.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb

from customer_ml import catalogue, config
from customer_ml.models import baselines
from customer_ml.records import lineage, store


def champion(
    session: duckdb.DuckDBPyConnection, model_name: str, *, max_age_check: bool = True
) -> dict[str, Any] | None:
    """The serving training run of `model_name`, or None when nothing was promoted.

    Reads the model's own training table (ml.ml_<model>__train), not the lineage view, which a
    build creates only after scoring has run.

    A champion older than the model's max_champion_age_days is not served: None is returned, so
    scoring falls back to the rule baseline, and a model-risk-review alert is raised once for
    that promotion (each later build says so in one line on stderr, with no new alert).
    """
    if model_name not in catalogue.names():
        raise catalogue.CatalogueError(f"unknown model {model_name!r}; not in the catalogue")
    try:
        rows = session.execute(
            f"""
            select training_runs.*, promotions.promoted_at as champion_since
            from lineage.promotions
            inner join ml.ml_{model_name}__train as training_runs
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
    if not found:
        return None
    serving = dict(zip(names, found[0], strict=True))
    max_age = catalogue.entry(model_name).policy.get("max_champion_age_days")
    if max_age_check and max_age is not None:
        age = lineage.utc_now() - serving["champion_since"]
        if age > timedelta(days=float(max_age)):
            from customer_ml.records import alerts

            raised = alerts.last_raised(
                session, model_name, "model_risk_review", serving["champion_since"],
                f"champion {serving['training_run_id']} ",
            )  # fmt: skip
            if raised is not None:
                print(
                    f"customer-ml: {model_name} champion {serving['training_run_id']} is past its "
                    f"max age ({max_age} days): the rule baseline serves (model_risk_review "
                    f"alert raised {raised})",
                    file=sys.stderr,
                )
                return None
            alerts.raise_alert(
                session,
                model_name=model_name,
                kind="model_risk_review",
                severity="critical",
                message=f"champion {serving['training_run_id']} is {age.days} days old "
                f"(max {max_age}): scoring falls back to the rule baseline until a review "
                "promotes a model",
            )
            return None
    return serving


def artifact_dir(warehouse: Path, model_name: str, training_run_id: str) -> Path:
    return config.artifact_root(warehouse) / "models" / model_name / training_run_id


def write_artifacts(
    final_dir: Path, files: dict[str, bytes], derive: Callable[[Path], None] | None = None
) -> dict[str, str]:
    """Write files into a staging folder (and `derive(staging)`, what is written from them),
    then move it to `final_dir`: all or nothing. Returns name -> sha256 of `files`.

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
    if derive is not None:
        derive(staging)
    staging.rename(final_dir)
    return {name: lineage.sha256_file(final_dir / name) for name in files}


def read_verified(path: Path, sha256: str) -> bytes:
    """Read an artifact, failing when its bytes no longer match the recorded sha256."""
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise ValueError(f"{path}: sha256 {actual} differs from the recorded {sha256}")
    return data


def _train_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every ml_*__train table (production and experiment runs)."""
    return [
        table
        for (table,) in con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_catalog = current_database() and table_name like 'ml\\_%\\_\\_train' "
            "escape '\\'"
        ).fetchall()
    ]


def training_run_ids(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Every training run recorded, production or experiment (every ml_*__train table)."""
    return {
        run
        for table in _train_tables(con)
        for (run,) in con.execute(f"select distinct training_run_id from {table}").fetchall()
    }


def mlflow_runs_of_build(con: duckdb.DuckDBPyConnection, invocation_id: str) -> list[str]:
    """The MLflow run ids of the training runs a build recorded."""
    return sorted(
        run
        for table in _train_tables(con)
        for (run,) in con.execute(
            f"select mlflow_run_id from {table} where invocation_id = ? "
            "and mlflow_run_id is not null",
            [invocation_id],
        ).fetchall()
    )


def orphan_artifacts(warehouse: Path, known: set[str]) -> list[Path]:
    """Artifact folders of no training run in `known` (training_run_ids): left by a build
    killed between writing a run's artifacts and recording the run, or a staging folder of one
    killed while writing. Nothing reads them; `verify-lineage` names them."""
    models = config.artifact_root(warehouse) / "models"
    folders = sorted(p for p in models.glob("*/*") if p.is_dir()) if models.is_dir() else []
    return [p for p in folders if p.name.startswith(".staging-") or p.name not in known]


def baseline_file(warehouse: Path, model_name: str, version: str) -> Path:
    return config.artifact_root(warehouse) / "baselines" / model_name / version / "rule.json"


def write_baseline(warehouse: Path, model_name: str, artifact: bytes) -> tuple[str, str, str]:
    """Write a fitted rule's artifact: (its version, recorded path, sha256). Its folder is named
    by its version, which hashes its bytes: one left by a build that never finished holds the
    same bytes (checked) and is kept as it is."""
    version = baselines.version(model_name, artifact)
    path = baseline_file(warehouse, model_name, version)
    sha = hashlib.sha256(artifact).hexdigest()
    if path.exists():
        read_verified(path, sha)
    else:
        write_artifacts(path.parent, {path.name: artifact})
    return version, config.recorded_path(warehouse, path), sha


def recorded_baseline(
    con: duckdb.DuckDBPyConnection,
    model_name: str,
    version: str | None = None,
    *,
    database: str | None = None,
) -> dict[str, Any] | None:
    """The record of `model_name`'s rule baseline of `version` (in the attached `database`, when
    given); without a version, the first fitted by this code in this build or in a finished,
    servable one (a reproduction seeds the fitting build's record with it:
    replay.rebuild.seed_baseline) — fitted once; invariant 8 says a killed build's record, or a
    row no build wrote, stands for nothing. None when none is recorded."""
    if version is not None:
        where, args = "model_version = ?", [model_name, version]
    else:
        where = (
            "code_hash = ? and artifact_sha256 is not null and (invocation_id = ? or "
            f"invocation_id in ({lineage.FINISHED_SERVABLE_BUILDS}))"
        )
        args = [model_name, baselines.code_hash(model_name), lineage.current_invocation(con)]
    found = store.read(
        con,
        f"select * from {database + '.' if database else ''}lineage.baseline_runs "
        f"where model_name = ? and {where} "
        "order by registered_at, training_run_id limit 1",
        args,
    )
    return found[0] if found else None


def load_baseline(warehouse: Path, record: dict[str, Any]) -> Any:
    """The fitted rule a baseline record names, its bytes checked against the recorded sha256."""
    path = config.recorded_file(warehouse, record["artifact_path"])
    return baselines.from_bytes(read_verified(path, record["artifact_sha256"]))
