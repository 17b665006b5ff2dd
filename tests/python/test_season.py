"""`customer-ml season` (issue 34): the short season `make test` keeps (five weeks, a stale feed)
exits 0 only when its scenario drew the expected reaction and the end-of-year checks passed; a
missing reaction fails its check, shown by breaking it on purpose. The full year is
`make season`."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from customer_ml.records import store
from customer_ml.season import checks
from customer_ml.season.operate import Season
from customer_ml.season.year import year


def _season(tmp_path: Path, *, reacted: bool) -> Season:
    """A short season's records as they would be after its stale weeks: with the suppression
    and its alert when `reacted`, with neither otherwise."""
    season = Season(year(5), tmp_path, "tiny", 7, print)
    season.warehouse.parent.mkdir(parents=True)
    con = duckdb.connect(str(season.warehouse))
    store.create_all(con)
    at = season.year.clock(3) + timedelta(hours=1)
    action, reason = (
        ("suppressed", "feature freshness SLA (3 days): raw.orders: the newest load was 7 days ago")
        if reacted
        else ("skip", "no trigger; next due 2025-01-27")
    )
    store.append(con, "retraining_decisions", {
        "model_name": "churn", "invocation_id": "b3", "run_type": "production", "action": action,
        "reasons_json": json.dumps([reason]), "evidence_json": "{}", "decided_at": at,
    })  # fmt: skip
    if reacted:
        store.append(con, "alerts", {"alert_id": "a1", "model_name": "churn", "raised_at": at,
                                     "alert_kind": "training_suppressed_stale_feed"})  # fmt: skip
    con.close()
    return season


def test_the_stale_feed_check_passes_only_when_the_system_reacted(tmp_path: Path) -> None:
    [passed] = checks.scenario_checks(_season(tmp_path / "a", reacted=True))
    assert passed["passed"] and passed["observed"].startswith("churn suppressed on 2025-01-20")
    [failed] = checks.scenario_checks(_season(tmp_path / "b", reacted=False))
    assert not failed["passed"]
    assert failed["observed"] == "never suppressed for freshness; 0 stale-feed alert(s)"


def test_the_scoring_time_check_fails_when_builds_grow_with_the_weeks(tmp_path: Path) -> None:
    from customer_ml.season.operate import Step

    season = Season(year(5), tmp_path, "tiny", 7, print)
    season.steps = [Step(w, "", "scoring", "dbt", 0, 20.0 * w) for w in range(1, 10)]
    slope = checks.scoring_slope(season)
    assert slope["slope_seconds_per_week"] == pytest.approx(20.0)
    assert slope["ratio_last_to_first_quarter"] > 1.5
    season.steps = [Step(w, "", "scoring", "dbt", 0, 20.0) for w in range(1, 10)]
    assert checks.scoring_slope(season)["ratio_last_to_first_quarter"] == 1.0


def test_a_season_never_empties_a_folder_it_did_not_make(tmp_path: Path) -> None:
    from customer_ml import config

    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(config.OperatorError, match="not empty and not a season's folder"):
        Season(year(5), tmp_path, "tiny", 7, print).operate()
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_a_short_season_draws_the_expected_reactions(tmp_path: Path) -> None:
    """Five simulated weeks from an empty warehouse, a stale feed in weeks 3 and 4: exit 0, and
    the report (HTML, PNG figures, JSON) written."""
    from conftest import cli

    done = cli(tmp_path, "season", "--weeks", "5", "--out", str(tmp_path / "season"), "--json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    facts = json.loads(done.stdout)
    assert facts["passed"] and {c["check"] for c in facts["checks"]} >= {
        "stale_feed", "verify-lineage", "verify-snapshots", "reproduce", "scoring time",
    }  # fmt: skip
    report = tmp_path / "season" / "report"
    assert (report / "report.html").stat().st_size > 10_000
    assert {p.name for p in report.glob("*.png")} == {
        "decisions.png", "psi.png", "performance.png", "builds.png",
    }  # fmt: skip
