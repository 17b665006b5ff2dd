"""`customer-ml compare MODEL --challenger RUN`: a challenger side by side with what serves (the
champion, or the rule baseline without one) on the same holdout, from what the challenger's
training run recorded when it measured them (customer_ml.models.evaluation: candidate, baseline
and champion on one holdout; customer impact at the latest as_of). Nothing is recomputed, so the
comparison is exactly what the gates judged; a challenger trained against an earlier champion is
refused with the retraining that would make it comparable.

The report (HTML) starts with every promotion gate (customer_ml.governance.gates): as they
stand now, or for a promotion request as checked when it opened. It is written under
`<artifacts>/comparisons/`, named by its challenger, champion and content (a request's page by
the request), never overwritten, and a promotion request of the challenger links to its own.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from customer_ml import catalogue, config
from customer_ml.governance import gates as promotion_gates
from customer_ml.records import registry, store

# the one gate a comparison does not check (it runs dbt on the warehouse, which the comparison
# holds open): a request checks it when it opens, and `customer-ml verify-snapshots` at any time
SNAPSHOTS_NOT_CHECKED = (
    None,
    "checked when a promotion request opens (or now: customer-ml verify-snapshots)",
)


class CompareError(ValueError):
    """The comparison cannot be made as asked (one line for the operator)."""


@dataclass(frozen=True)
class Comparison:
    path: Path
    sha256: str
    summary: dict[str, Any]
    challenger: str
    champion: str


def _run(con: duckdb.DuckDBPyConnection, model_name: str, run_id: str) -> dict[str, Any]:
    found = store.read(
        con, f"select * from ml.ml_{model_name}__train where training_run_id = ?", [run_id]
    )
    if not found:
        raise CompareError(f"no {model_name} training run {run_id!r} (customer-ml runs lists them)")
    return found[0]


def _rule_baseline(
    con: duckdb.DuckDBPyConnection, model_name: str, challenger: dict[str, Any]
) -> dict[str, Any]:
    """What serves without a champion, as the other side of a comparison: the model's rule
    baseline as recorded (none yet: the first scoring build fits it), which every training run
    measures on its own holdout (metrics "baseline")."""
    record = registry.recorded_baseline(con, model_name)
    version = record["model_version"] if record else "rule baseline (not fitted yet)"
    return {"training_run_id": version, "model_version": version, "kind": "rule baseline",
            "feature_version": challenger.get("feature_version")}  # fmt: skip


def compare(
    con: duckdb.DuckDBPyConnection,
    warehouse: Path,
    model_name: str,
    challenger_id: str,
    request: tuple[str, list[tuple[str, bool, str]]] | None = None,
) -> Comparison:
    """The challenger against what serves now, as a page under comparisons/; for a promotion
    `request` (its id and every gate as checked when it opened), that request's own page, which
    shows the gates first."""
    entry = catalogue.entry(model_name)
    challenger = _run(con, model_name, challenger_id)
    if challenger["status"] != "success":
        raise CompareError(f"{challenger_id} did not train successfully ({challenger['status']})")
    champion = registry.champion(con, model_name, max_age_check=False) or _rule_baseline(
        con, model_name, challenger
    )
    if champion["training_run_id"] == challenger_id:
        raise CompareError(f"{challenger_id} is {model_name}'s champion")
    if champion.get("kind") != "rule baseline" and (
        challenger["champion_training_run_id"] != champion["training_run_id"]
    ):
        raise CompareError(
            f"{challenger_id} was measured against "
            f"{challenger['champion_training_run_id'] or 'no champion'}, but the champion is "
            f"{champion['training_run_id']}: retrain it while this champion serves "
            "(dbt build --selector training --vars '{retrain: force}') to compare on one holdout"
        )
    report = config.recorded_file(warehouse, challenger["report_path"])
    registry.read_verified(report, challenger["report_sha256"])
    summary = json.loads(report.with_suffix(".json").read_text())["summary"]
    if request:
        shown = ("as checked when the request opened", request[1])
    else:
        shown = ("as they stand now", standing_gates(con, challenger_id))
    data = _page(entry, challenger, champion, summary, shown).encode()
    folder = config.artifact_root(warehouse) / "comparisons"
    folder.mkdir(parents=True, exist_ok=True)
    name = request[0] if request else (
        f"{challenger_id}__vs__{champion['training_run_id']}."
        f"{hashlib.sha256(data).hexdigest()[:12]}"
    )  # fmt: skip
    path = folder / f"{name}.html"
    if path.exists() and path.read_bytes() != data:
        raise CompareError(f"{path} exists with other content: artifacts are never overwritten")
    if not path.exists():
        path.write_bytes(data)
    return Comparison(
        path, hashlib.sha256(data).hexdigest(), summary, challenger_id, champion["training_run_id"]
    )


def standing_gates(
    con: duckdb.DuckDBPyConnection, training_run_id: str
) -> list[tuple[str, bool | None, str]]:
    """Every promotion gate of a recorded training run as it stands now (the snapshot check
    aside: SNAPSHOTS_NOT_CHECKED)."""
    run = promotion_gates.recorded_run(con, training_run_id)
    if run is None:
        return [("recorded in lineage.training_runs", False, "not a production training run")]
    return promotion_gates.gates(con, run, snapshot_check=SNAPSHOTS_NOT_CHECKED)


def _page(
    entry: catalogue.Entry,
    challenger: dict[str, Any],
    champion: dict[str, Any],
    summary: dict[str, Any],
    gates: tuple[str, list[tuple[str, bool | None, str]]],
) -> str:
    from customer_ml.models import reports

    when, checked = gates
    shown = {True: ("pass", "passed"), False: ("fail", "FAILED"), None: ("", "not checked here")}
    gate_table = (
        f"<h2>Promotion gates, {html.escape(when)}</h2>"
        "<table><tr><th>Gate</th><th>Result</th><th>Detail</th></tr>"
        + "".join(
            f'<tr><td>{html.escape(gate)}</td><td class="{shown[ok][0]}">{shown[ok][1]}</td>'
            f"<td>{html.escape(detail)}</td></tr>"
            for gate, ok, detail in checked
        )
        + "</table>"
    )

    metrics = json.loads(challenger["metrics_json"])
    facts = ("training_run_id", "model_version", "started_at", "feature_version",
             "label_version", "git_commit", "snapshot_ids")  # fmt: skip
    rows = "".join(
        f"<tr><th>{html.escape(f)}</th><td>{reports.cell(challenger.get(f))}</td>"
        f"<td>{reports.cell(champion.get(f))}</td></tr>"
        for f in facts
    )
    title = f"{entry.name}: challenger {challenger['training_run_id']} vs champion"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{reports.STYLE}</style></head>
<body><h1>{html.escape(title)} {html.escape(champion["training_run_id"])}</h1>
{gate_table}
{reports.summary_html(summary)}
<h2>Metrics on the challenger's holdout (the same rows for all three)</h2>
{reports.metrics_table(metrics)}
<h2>The two runs</h2>
<table><tr><th></th><th>challenger</th><th>champion</th></tr>{rows}</table>
</body></html>
"""


def for_request(
    con: duckdb.DuckDBPyConnection,
    model_name: str,
    training_run_id: str,
    request_id: str,
    gates: list[tuple[str, bool, str]],
) -> tuple[str, str] | None:
    """(recorded path, sha256) of the page a promotion request links to: its `gates` and the
    comparison against the champion, or the rule baseline that serves without one; None for an
    in-memory warehouse (no artifacts), or for a run measured against another champion."""
    [(path,)] = con.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchall()
    if path is None:
        return None
    try:
        made = compare(con, Path(path), model_name, training_run_id, (request_id, gates))
    except CompareError:
        return None
    return config.recorded_path(path, made.path), made.sha256
