"""What an approver reads first in a validation report: the verdict, each gate, the primary
metric in words and the customer impact against the champion; and the detail formatted for
people (no `25323.0000` counts, no dict reprs). Each check is set up to fail when the guarantee
breaks: a failed gate must show as not promotable, a moved customer must be counted."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from customer_ml.models import evaluation, reports
from customer_ml.models.protocol import Scored


def _score(model: dict[int, float], rows: pd.DataFrame, cfg: dict) -> Scored:
    """A model that is a table customer -> score (and a segment name per score, if asked)."""
    ids = rows["customer_id"].to_numpy()
    scores = np.array([model[c] for c in ids], dtype="float64")
    labels = [f"s{int(v)}" for v in scores] if cfg.get("named") else None
    return Scored(ids, pd.Series([pd.Timestamp("2026-01-01")] * len(ids)), scores, labels)


ENTRY = SimpleNamespace(
    module=SimpleNamespace(score=_score), primary_metric="roc_auc", greater_is_better=True
)
ROWS = pd.DataFrame({"customer_id": [1, 2, 3, 4]})


def test_impact_counts_moved_scores_and_flipped_decisions() -> None:
    candidate = {1: 0.9, 2: 0.46, 3: 0.2, 4: 0.55}
    champion = {1: 0.7, 2: 0.55, 3: 0.25, 4: 0.52}
    cfg = {"impact_score_change": 0.1, "decision_threshold": 0.5}
    got = evaluation.impact(ENTRY, {"candidate": candidate, "champion": champion}, ROWS, cfg)
    distribution = got.pop("distribution")
    assert distribution["candidate"]["mean"] == pytest.approx(0.5275)
    assert distribution["champion"]["p50"] == pytest.approx(0.535)
    assert got == {
        "against": "champion",
        "customers": 4,
        "score_change": 0.1,
        "moved": 1,  # customer 1 (by 0.2); customer 2 by 0.09
        "decision_threshold": 0.5,
        "flipped_up": 0,
        "flipped_down": 1,  # customer 2 drops below 0.5
        "campaign_size": {"candidate": 2, "champion": 3},
    }
    none = evaluation.impact(ENTRY, {"candidate": candidate, "champion": None}, ROWS, cfg)
    assert none["note"].startswith("no champion")


def test_without_a_champion_the_impact_is_against_the_rule_that_serves_in_business_terms() -> None:
    candidate = {1: 0.9, 2: 0.46, 3: 0.2, 4: 0.55}
    rule = {1: 0.6, 2: 0.7, 3: 0.1, 4: 0.4}
    cfg = {"decision_threshold": 0.5, "score_unit": "currency"}
    models = {"candidate": candidate, "champion": None, "serving": rule}
    got = evaluation.impact(ENTRY, models, ROWS, cfg)
    assert got["against"] == "rule baseline" and got["customers"] == 4
    assert got["campaign_size"] == {"candidate": 2, "rule baseline": 2}  # 1, 4 vs 1, 2
    assert (got["flipped_up"], got["flipped_down"]) == (1, 1)
    assert got["total_value"] == pytest.approx({"candidate": 2.11, "rule baseline": 1.8})
    page = reports.summary_html(reports.summary(ENTRY, {}, [], got))
    assert "Customer impact against rule baseline" in page
    assert "campaign size" in page and "total value over the horizon" in page


def test_impact_of_named_scores_is_a_migration_matrix() -> None:
    candidate, champion = {1: 0, 2: 1, 3: 1, 4: 2}, {1: 0, 2: 0, 3: 1, 4: 1}
    got = evaluation.impact(
        ENTRY, {"candidate": candidate, "champion": champion}, ROWS, {"named": True}
    )
    assert got["moved"] == 2
    assert got["migration"] == {
        "s0": {"s0": 1, "s1": 1, "s2": 0},
        "s1": {"s0": 0, "s1": 1, "s2": 1},
    }


def _page(verdicts) -> str:
    metrics = {
        "candidate": {"roc_auc": 0.91, "rows": 25323.0},
        "baseline": {"roc_auc": 0.82, "rows": 25323.0},
        "champion": {"roc_auc": 0.95, "rows": 25323.0},
    }
    impact = {"customers": 12345, "score_change": 0.1, "moved": 1200}
    summary = reports.summary(ENTRY, metrics, verdicts, impact)
    _, page = reports.table_report(
        title="t",
        facts={"categories": {"plan": ["basic", "pro"]}, "train_rows": 25323},
        metrics=metrics,
        tables={"by frequency": pd.DataFrame({"frequency": [1.0, 2.0], "actual": [0.5, 1.25]})},
        summary=summary,
    )
    return page.decode()


def test_the_report_opens_with_the_verdict_and_reads_as_people_write() -> None:
    failing = [
        ("no regression vs baseline", True, "roc_auc 0.9100 vs 0.8200"),
        ("no regression vs champion", False, "roc_auc 0.9100 vs 0.9500"),
    ]
    page = _page(failing)
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    assert headings[0] == "Verdict: not promotable (no regression vs champion)"
    assert (
        "roc_auc: candidate 0.9100, baseline 0.8200, champion 0.9500 "
        "(higher is better, on the same rows)" in page
    )
    assert "FAILED" in page and "1,200 would" in page and "12,345 customers" in page
    assert "25,323" in page and "25323.0000" not in page and "25323.0" not in page
    assert "plan: basic, pro" in page and "{&#39;plan&#39;" not in page and "{'plan'" not in page

    passing = [(name, True, detail) for name, _, detail in failing]
    assert re.findall(r"<h2>(.*?)</h2>", _page(passing))[0] == "Verdict: ready for approval"


def test_a_candidate_trained_while_a_champion_serves_reports_its_customer_impact(
    built, tmp_path
) -> None:
    """A CLV candidate (another penalizer) trained while a champion serves: its report's
    summary compares the two on every customer the champion would score."""
    import json
    import shutil

    import duckdb
    from conftest import dbt_build, promote_by_record

    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    champion = promote_by_record(wh, "clv")
    dbt_build(wh, "--select", "ml_clv__train", "--vars", "{clv_penalizer: 0.01}")
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    [(challenger, path, served)] = con.execute(
        "select training_run_id, report_path, champion_training_run_id from lineage.training_runs "
        "where model_name = 'clv' and training_run_id <> ?",
        [champion],
    ).fetchall()
    customers = con.execute(
        "select count(*) from datasets.clv_transactions_v1 where period = 'scoring'"
    ).fetchall()[0][0]
    con.close()
    assert served == champion
    from customer_ml import config

    report = config.recorded_file(wh / "ci.duckdb", path)
    summary = json.loads(report.with_suffix(".json").read_text())["summary"]
    assert 0 < summary["impact"]["customers"] <= customers
    assert summary["impact"]["score_change"] == 100
    assert "moved" in summary["impact"]
    page = report.read_text()
    assert page.index("Verdict: ") < page.index("Customer impact") < page.index("Holdout metrics")

    # the side-by-side comparison, and the promotion request that links to it
    from conftest import cli

    assert cli(wh, "compare", "clv", "--challenger", champion, "--target", "ci").stderr == (
        f"customer-ml: compare: {champion} is clv's champion\n"
    )
    done = cli(wh, "compare", "clv", "--challenger", challenger, "--target", "ci", "--json")
    assert done.returncode == 0, done.stderr
    compared = json.loads(done.stdout)
    assert compared["champion"] == champion
    side_by_side = Path(compared["report"]).read_text()
    assert f"challenger {challenger} vs champion" in side_by_side
    assert "Verdict: " in side_by_side and "customers scored by both" in side_by_side
    done = cli(wh, "promote", "clv", "--run", challenger, "--target", "ci", "--json")
    assert done.returncode == 0, done.stderr
    request = json.loads(done.stdout)
    on_request = Path(request["comparison"])  # the request's own page: its gates, then the same
    assert on_request.name == f"{request['request_id']}.html"
    text = on_request.read_text()
    assert "<h2>Promotion gates, as checked when the request opened</h2>" in text
    assert side_by_side.split("<h2>Verdict", 1)[1] in text


def test_every_models_report_has_plots(built: Path) -> None:
    """Issue 36: segments' report had none. Each model's validation report carries figures; the
    segments' show every segment's customers."""
    import duckdb

    from customer_ml import config

    con = duckdb.connect(str(built / "ci.duckdb"), read_only=True)
    try:
        reports = {
            model: con.execute(
                f"select report_path, fitted_params_json from ml.ml_{model}__train"
            ).fetchone()
            for model in ("churn", "clv", "segments")
        }
    finally:
        con.close()
    figures = {}
    for model, (path, _) in reports.items():
        page = config.recorded_file(built / "ci.duckdb", path).read_text()
        figures[model] = page.count('<img src="data:image/png;base64,')
    assert min(figures.values()) >= 1 and figures["segments"] == 2, figures
    assert len(json.loads(reports["segments"][1])["segments"]) >= 2
