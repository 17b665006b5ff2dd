"""Recreate a training run or a prediction from its lineage records alone, and compare.

For a training run: check out its recorded commit in an isolated working copy (the user's
checkout is untouched), compare the environment with the commit's lock file, copy the raw rows
each input snapshot covered (`_loaded_at` <= its watermark) from the production warehouse,
opened read-only, into a throwaway warehouse, replay the build with its recorded vars, and compare
snapshot ids and hashes, definition hashes, the training dataset's hash and the model artifact's
sha256. For a prediction: reproduce the model that made it (the training run, or the rule
baseline at the recorded commit), replay the scoring build the same way with that model serving,
and compare the score bit for bit.

Every comparison is reported as match or mismatch with both values; the verdict is exact.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from customer_ml import config
from customer_ml.records import chain, lineage, registry, store
from customer_ml.replay.provenance import load_prediction, load_training_run, open_production
from customer_ml.replay.rebuild import (  # ReproduceError: raised here, caught by the CLI as rep.*
    Progress,
    ReproduceError,  # noqa: F401
    checkout,
    environment_differences,
    replay,
    seed_baseline,
    seed_champion,
)


@dataclass
class Check:
    name: str
    recorded: Any
    reproduced: Any

    @property
    def matches(self) -> bool:
        return self.recorded == self.reproduced

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "status": "match" if self.matches else "mismatch",
            "recorded": self.recorded,
            "reproduced": self.reproduced,
        }


@dataclass
class Report:
    subject: str
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return bool(self.checks) and all(c.matches for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "verdict": "match" if self.matches else "mismatch",
            "checks": [c.as_dict() for c in self.checks],
            "notes": self.notes,
        }


def _describe_snapshot(snapshot: dict | None) -> str:
    snapshot = snapshot or {}
    return (
        f"{snapshot.get('snapshot_id')} ({snapshot.get('row_count')} rows, hash "
        f"{snapshot.get('content_hash')})"
    )


def _snapshot_checks(
    report: Report, recorded: dict[str, dict | None], rebuilt: dict[str, dict | None]
) -> None:
    for relation in sorted(recorded):
        report.checks.append(
            Check(
                f"snapshot {relation}",
                _describe_snapshot(recorded[relation]),
                _describe_snapshot(rebuilt.get(relation)),
            )
        )


def _latest_run(con: duckdb.DuckDBPyConnection, model_name: str, model_version: str) -> dict | None:
    """The latest run of `model_version` in a rebuilt warehouse, with its `snapshots`: read from
    the training node's own table (the replay builds that node and its upstream, not the
    lineage views below it). Without one (an input moved, so the version did), the replay's
    latest run of the model: every check is still computed, and says which input moved."""
    relation = f"ml.ml_{model_name}__train"
    rows = store.read(
        con,
        f"select * from {relation} where status = 'success' order by model_version = ? desc, "
        "started_at desc limit 1",
        [model_version],
    )
    return store.training_run(con, rows[0]["training_run_id"], relation) if rows else None


def _environment(report: Report, code: Path, recorded_lock_hash: str | None) -> None:
    """Compare the lock file at the commit with the recorded hash (when one was recorded) and
    the running environment with the lock file (a note: it may still reproduce)."""
    lock = config.lock_file(code)
    lock_hash = lineage.sha256_file(lock) if lock.exists() else "missing"
    if recorded_lock_hash is not None:
        report.checks.append(Check("lock file hash at the commit", recorded_lock_hash, lock_hash))
    differences = environment_differences(lock) if lock.exists() else ["no lock file"]
    if differences:
        report.notes.append(
            f"environment differs from the lock in {len(differences)} package(s): "
            + ", ".join(differences[:8])
            + "; reproducing anyway, the comparison below decides"
        )
    else:
        report.notes.append("environment matches the lock file")


def reproduce_training_run(
    production_path: Path,
    training_run_id: str,
    *,
    project: Path | None = None,
    progress: Progress = lambda _: None,
    workdir: Path | None = None,
) -> tuple[Report, Path | None]:
    """Reproduce a training run; returns the report and the rebuilt warehouse."""
    project = project or config.project_dir()
    production = open_production(production_path)
    try:
        run = load_training_run(production, training_run_id)
        report = Report(f"training run {training_run_id}")
        report.checks.append(
            Check(
                "record in the lineage hash chain",
                "intact",
                chain.check_record(
                    production,
                    f"ml.ml_{run['model_name']}__train",
                    "training_run_id = ?",
                    [training_run_id],
                ),
            )
        )
        workdir = workdir or Path(tempfile.mkdtemp(prefix="customer-ml-reproduce-"))
        progress(f"checking out commit {run['git_commit'][:12]} in an isolated working copy")
        code = checkout(project, run["git_commit"], workdir / "code")
        _environment(report, code, run["lock_hash"])
        # The champion when the run trained is part of what it saw (its metrics; for segments,
        # the ids it aligned to): the replay starts with the same champion.
        champion_id = run.get("champion_training_run_id")
        champion = load_training_run(production, champion_id) if champion_id else None
        rebuilt_path, _, failures = replay(
            production,
            production_path,
            run["invocation_id"],
            code,
            workdir,
            progress,
            run_type=run["run_type"],
            prepare=(lambda warehouse: seed_champion(warehouse, champion, production_path))
            if champion
            else None,
            node=f"ml_{run['model_name']}__train",
        )
        if failures:
            report.notes.append("the replayed build had failures: " + "; ".join(failures[:5]))
        recorded_snapshots = run["snapshots"]
    finally:
        production.close()
    progress("comparing")
    rebuilt = duckdb.connect(str(rebuilt_path), read_only=True)
    try:
        again = _latest_run(rebuilt, run["model_name"], run["model_version"])
        rebuilt_snapshots = again["snapshots"] if again else {}
    finally:
        rebuilt.close()
    _snapshot_checks(report, recorded_snapshots, rebuilt_snapshots)
    for dataset in sorted(r for r in recorded_snapshots if r.startswith("datasets.")):
        report.checks.append(
            Check(
                f"training dataset hash ({dataset})",
                (recorded_snapshots[dataset] or {}).get("content_hash"),
                (rebuilt_snapshots.get(dataset) or {}).get("content_hash"),
            )
        )
    for name in ("feature_definition_hash", "label_definition_hash", "model_version"):
        report.checks.append(
            Check(name.replace("_", " "), run[name], again.get(name) if again else None)
        )
    if run.get("training_rows_hash") is not None:  # recorded since the training child (issue 18)
        report.checks.append(
            Check(
                "training rows hash (the sample the row cap kept)",
                run["training_rows_hash"],
                again.get("training_rows_hash") if again else None,
            )
        )
    report.checks.append(
        Check(
            "model artifact sha256",
            run["artifact_sha256"],
            again.get("artifact_sha256") if again else None,
        )
    )
    if again is None:
        report.notes.append(f"the replayed build trained no {run['model_name']} model")
    elif again["model_version"] != run["model_version"]:
        moved = [c.name for c in report.checks if not c.matches and "snapshot" in c.name]
        raw = [m for m in moved if m.startswith("snapshot raw.")]  # where a change comes in
        derived = [m for m in moved if m not in raw]
        report.notes.append(
            f"the replayed build trained model_version {again['model_version']}, not the "
            f"recorded {run['model_version']}: compared with it"
            + (f"; the inputs that moved: {', '.join(raw or derived)}" if moved else "")
            + (f" (and what is derived from them: {', '.join(derived)})" if raw and derived else "")
        )
    return report, rebuilt_path


def reproduce_prediction(
    production_path: Path,
    prediction_id: str,
    *,
    project: Path | None = None,
    progress: Progress = lambda _: None,
    workdir: Path | None = None,
) -> Report:
    project = project or config.project_dir()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="customer-ml-reproduce-"))
    production = open_production(production_path)
    try:
        prediction = load_prediction(production, prediction_id)
        sealed = chain.check_record(
            production,
            f"ml.ml_{prediction['model_name']}__score",
            "prediction_id = ?",
            [prediction_id],
        )
    finally:
        production.close()
    report = Report(f"prediction {prediction_id}")
    report.checks.append(Check("record in the lineage hash chain", "intact", sealed))
    champion_record = None
    if prediction["model_kind"] != "baseline":
        progress(f"reproducing training run {prediction['training_run_id']} first")
        training, rebuilt = reproduce_training_run(
            production_path,
            prediction["training_run_id"],
            project=project,
            progress=progress,
            workdir=workdir / "training",
        )
        report.checks.extend(training.checks)
        report.notes.extend(training.notes)
        con = duckdb.connect(str(rebuilt), read_only=True)
        champion_record = _latest_run(con, prediction["model_name"], prediction["model_version"])
        con.close()
        if champion_record is None:
            report.checks.append(Check("model retrained", True, False))
            return report

    production = open_production(production_path)
    try:
        prepare = None
        if champion_record:
            prepare = lambda warehouse: seed_champion(warehouse, champion_record, rebuilt)  # noqa: E731
        elif fitted := _fitted_rule(production, production_path, prediction, report):
            prepare = lambda warehouse: seed_baseline(warehouse, *fitted, production_path)  # noqa: E731
        progress(f"checking out commit {prediction['git_commit'][:12]} for the scoring build")
        code = checkout(project, prediction["git_commit"], workdir / "scoring-code")
        if champion_record is None:
            _environment(report, code, None)
        rebuilt_path, inputs, failures = replay(
            production,
            production_path,
            prediction["invocation_id"],
            code,
            workdir,
            progress,
            prepare=prepare,
            node=f"ml_{prediction['model_name']}__score",
        )
        if failures:
            report.notes.append("the replayed build had failures: " + "; ".join(failures[:5]))
    finally:
        production.close()
    progress("comparing")
    rebuilt = duckdb.connect(str(rebuilt_path), read_only=True)
    try:
        try:
            # the replayed node's row for the same customer and as_of (its id names the
            # replayed build, not the recorded one: prediction_id); the replay builds the
            # scoring node and its upstream, not lineage.predictions below it
            same_customer = store.read(
                rebuilt,
                f"select * from ml.ml_{prediction['model_name']}__score "
                "where customer_id = ? and cast(as_of as date) = ?",
                [prediction["customer_id"], prediction["as_of"]],
            )
        except duckdb.CatalogException:
            report.checks.append(Check("replayed scoring build produced predictions", True, False))
            return report
        snapshot = store.read(
            rebuilt,
            "select * from lineage.data_snapshots where snapshot_id = ?",
            [prediction["snapshot_id"]],
        )
    finally:
        rebuilt.close()
    # The scoring input is the relation of the prediction's recorded data snapshot.
    recorded_input = next(
        (i for i in inputs.values() if i["snapshot_id"] == prediction["snapshot_id"]), None
    )
    recorded_hash = recorded_input["content_hash"] if recorded_input else None
    if snapshot:
        rebuilt_input = f"{snapshot[0]['snapshot_id']} (hash {snapshot[0]['content_hash']})"
    else:
        rebuilt_input = same_customer[0]["snapshot_id"] if same_customer else None
    report.checks.append(
        Check(
            "scoring input snapshot",
            f"{prediction['snapshot_id']} (hash {recorded_hash})",
            rebuilt_input,
        )
    )
    reproduced = same_customer[0] if same_customer else None
    if prediction.get("input_hash"):
        report.checks.append(
            Check(
                "input row (content hash)",
                prediction["input_hash"],
                reproduced and reproduced.get("input_hash"),
            )
        )
    report.checks.append(
        Check(
            "model version", prediction["model_version"], reproduced and reproduced["model_version"]
        )
    )
    report.checks.append(
        Check(
            "prediction (float64, hex)",
            float(prediction["score"]).hex(),
            float(reproduced["score"]).hex() if reproduced else None,
        )
    )
    return report


def _fitted_rule(
    production: duckdb.DuckDBPyConnection,
    production_path: Path,
    prediction: dict[str, Any],
    report: Report,
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The recorded rule baseline a prediction's replay scores with and the record of the
    finished build that fitted it, when an earlier build did (the build that fitted it is
    replayed fitting it again: its version, which hashes the fitted parameters, then shows the
    fit reproduced); its artifact's sha256 checked."""
    record = registry.recorded_baseline(
        production, prediction["model_name"], prediction["model_version"]
    )
    if not record or not record.get("artifact_path"):
        return None  # a rule recorded before rules were fitted once: the replay refits it
    try:
        registry.load_baseline(production_path, record)
        intact = record["artifact_sha256"]
    except (OSError, ValueError) as e:
        intact = f"{type(e).__name__}: {e}"
    sha = record["artifact_sha256"]
    report.checks.append(Check("rule baseline artifact (sha256)", sha, intact))
    if record["invocation_id"] == prediction["invocation_id"]:
        return None
    fitted_by = store.read(
        production,
        "select * from lineage.builds where invocation_id = ?",
        [record["invocation_id"]],
    )
    if not fitted_by:  # no finished build fitted it: production never served it
        report.notes.append(f"the rule baseline {record['model_version']} has no finished build")
        return None
    return record, fitted_by[0]


def cleanup(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
