"""Approvals that cannot be bypassed (issue 20 item 3), on an in-memory warehouse with recorded
runs: `rollback` opens a request for the previous champion, approved like any promotion; the
approval matrix (unlisted, wrong role, same person twice, reject and rca by outsiders, forged and
stale requests, an uncommitted owners change) has the expected outcome in every case."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import REPO, git

from customer_ml.governance import promotion
from customer_ml.records import store

OK = (True, "ok")


def _run(run_id: str, auc: float, run_type: str = "production") -> dict:
    return {
        "training_run_id": run_id,
        "model_name": "churn",
        "model_version": f"v-{run_id}",
        "status": "success",
        "run_type": run_type,
        "is_dirty": False,
        "git_commit": "c" * 40,
        "snapshot_ids": "{}",
        "lock_hash": "l",
        "code_hash": "h",
        "artifact_path": "/nonexistent/model.txt",
        "artifact_sha256": "s",
        "invocation_id": "i",
        "metrics_json": json.dumps({"candidate": {"roc_auc": auc}, "baseline": {"roc_auc": 0.8}}),
        "mlflow_run_id": None,
    }


@pytest.fixture
def con(monkeypatch: pytest.MonkeyPatch) -> duckdb.DuckDBPyConnection:
    import pandas as pd

    con = duckdb.connect()
    store.create_all(con)
    runs = pd.DataFrame(
        [_run("r1", 0.9), _run("r2", 0.91), _run("r3", 0.7), _run("x1", 0.95, "experiment"),
         {**_run("k1", 0.95), "invocation_id": "killed-build"}]
    )  # fmt: skip
    con.register("runs_frame", runs)
    con.execute("create table lineage.training_runs as select * from runs_frame")
    store.append(con, "builds", {"invocation_id": "i", "target_name": "ci"})  # finished
    # The MLflow mirror of an in-memory warehouse cannot be written: _carry_out says so and the
    # records (what this test is about) are the real ones.
    return con


def _promote(con, run_id: str, kind: str = "promote") -> str:
    request, _ = promotion.open_request(
        con, "churn", run_id, kind=kind, snapshot_check=(True, "ok")
    )
    return request


def test_rollback_restores_the_previous_champion(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(promotion.PromotionError, match="no previous champion"):
        promotion.rollback(con, "churn", (True, "ok"))
    for run_id in ("r1", "r2"):
        request = _promote(con, run_id)
        for user, role in (("ana@example.com", "ml_owner"), ("carla@example.com",
                                                              "business_stakeholder")):  # fmt: skip
            monkeypatch.setenv("CUSTOMER_ML_USER", user)
            promotion.approve(con, request, role, snapshot_check=(True, "ok"))
    assert con.execute(
        "select training_run_id from lineage.promotions order by promoted_at desc limit 1"
    ).fetchall() == [("r2",)]
    request = promotion.rollback(con, "churn", (True, "ok"))
    [(kind, run_id)] = con.execute(
        "select request_kind, training_run_id from lineage.promotion_requests where request_id = ?",
        [request],
    ).fetchall()
    assert (kind, run_id) == ("rollback", "r1")
    monkeypatch.setenv("CUSTOMER_ML_USER", "ben@example.com")
    promotion.approve(con, request, "ml_owner", snapshot_check=(True, "ok"))
    monkeypatch.setenv("CUSTOMER_ML_USER", "carla@example.com")
    promotion.approve(con, request, "business_stakeholder", snapshot_check=(True, "ok"))
    assert con.execute(
        "select training_run_id, action from lineage.promotions order by promoted_at desc limit 1"
    ).fetchall() == [("r1", "rollback")]


def test_a_rejected_request_cannot_be_approved(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = _promote(con, "r2")
    monkeypatch.setenv("CUSTOMER_ML_USER", "carla@example.com")
    assert "rejected by carla@example.com" in promotion.reject(con, request, "not now")
    monkeypatch.setenv("CUSTOMER_ML_USER", "ana@example.com")
    with pytest.raises(promotion.PromotionError, match="is rejected, not open"):
        promotion.approve(con, request, "ml_owner", snapshot_check=(True, "ok"))
    assert con.execute("select count(*) from lineage.promotions").fetchall() == [(0,)]


def _as(monkeypatch: pytest.MonkeyPatch, user: str) -> None:
    monkeypatch.setenv("CUSTOMER_ML_USER", user)


def _champion(con: duckdb.DuckDBPyConnection) -> str | None:
    rows = con.execute(
        "select training_run_id from lineage.promotions order by promoted_at desc limit 1"
    ).fetchall()
    return rows[0][0] if rows else None


def _approve_fully(con, monkeypatch: pytest.MonkeyPatch, request: str) -> None:
    _as(monkeypatch, "ana@example.com")
    promotion.approve(con, request, "ml_owner", snapshot_check=OK)
    _as(monkeypatch, "carla@example.com")
    promotion.approve(con, request, "business_stakeholder", snapshot_check=OK)


def _refused(match: str, action, *args, **kwargs) -> None:
    with pytest.raises(promotion.PromotionError, match=match):
        action(*args, **kwargs)


@pytest.mark.parametrize(
    ("user", "role", "refusal"),
    [
        ("mallory@example.com", "ml_owner", "not listed as ml_owner"),  # unlisted
        ("carla@example.com", "ml_owner", "not listed as ml_owner"),  # listed, other role
        ("ana@example.com", "data_scientist", "role 'data_scientist' is not required"),
    ],
)
def test_only_listed_people_approve_in_their_role(
    con, monkeypatch: pytest.MonkeyPatch, user: str, role: str, refusal: str
) -> None:
    request = _promote(con, "r1")
    _as(monkeypatch, user)
    _refused(refusal, promotion.approve, con, request, role, snapshot_check=OK)
    assert con.execute("select count(*) from lineage.approvals").fetchall() == [(0,)]


def test_one_person_cannot_fill_two_roles(con, monkeypatch: pytest.MonkeyPatch) -> None:
    request = _promote(con, "r1")
    _as(monkeypatch, "ben@example.com")  # listed in both roles of churn
    promotion.approve(con, request, "ml_owner", snapshot_check=OK)
    _refused("two roles need two different people", promotion.approve, con, request,
             "business_stakeholder", snapshot_check=OK)  # fmt: skip
    assert _champion(con) is None


def test_outsiders_cannot_reject_or_file_the_rca(con, monkeypatch: pytest.MonkeyPatch) -> None:
    request = _promote(con, "r1")
    _as(monkeypatch, "mallory@example.com")
    _refused("may not reject", promotion.reject, con, request, "no")
    _refused("may not file the root-cause note", promotion.rca, con, "churn", "fixed it")
    _as(monkeypatch, "carla@example.com")  # an approver, but not the ml_owner
    _refused("not listed as its ml_owner", promotion.rca, con, "churn", "fixed it")
    assert con.execute("select count(*) from lineage.rca_notes").fetchall() == [(0,)]
    _as(monkeypatch, "ana@example.com")
    assert "recorded" in promotion.rca(con, "churn", "fixed it")
    _approve_fully(con, monkeypatch, request)  # the request is still open: nothing was rejected
    assert _champion(con) == "r1"


def _forge(con, request_id: str, run_id: str, *, model_version: str, roles: str = "[]") -> None:
    """A request row written by hand, past every gate `promote` checks."""
    store.append(
        con,
        "promotion_requests",
        {
            "request_id": request_id,
            "model_name": "churn",
            "training_run_id": run_id,
            "model_version": model_version,
            "request_kind": "promote",
            "requested_by": "mallory@example.com",
            "required_roles": roles,
            "gates": "[]",
            "requested_at": promotion.lineage.utc_now(),
        },
    )


@pytest.mark.parametrize(
    ("run_id", "model_version", "refusal"),
    [
        ("x1", "v-x1", "refused at approval by gate 'production run type'"),  # an experiment
        ("r3", "v-r3", "refused at approval by gate 'no regression"),  # below the baseline
        ("r1", "v-forged", "it names model_version v-forged"),
        ("ghost", "v-ghost", "unknown training run 'ghost'"),
        ("k1", "v-k1", "gate 'build finished': build killed-build never finished"),
    ],
)
def test_a_forged_request_fails_naming_the_gate(
    con, monkeypatch: pytest.MonkeyPatch, run_id: str, model_version: str, refusal: str
) -> None:
    _forge(con, "req-forged", run_id, model_version=model_version)
    _as(monkeypatch, "ana@example.com")
    _refused(refusal, promotion.approve, con, "req-forged", "ml_owner", snapshot_check=OK)
    assert _champion(con) is None


def test_a_forged_empty_role_list_does_not_skip_an_approver(
    con, monkeypatch: pytest.MonkeyPatch
) -> None:
    _forge(con, "req-forged", "r1", model_version="v-r1", roles="[]")
    _as(monkeypatch, "ana@example.com")
    outcome = promotion.approve(con, "req-forged", "ml_owner", snapshot_check=OK)
    assert "waiting for business_stakeholder" in outcome  # the catalogue's roles, not the row's
    assert _champion(con) is None


def test_snapshots_that_stop_verifying_stop_the_approval(
    con, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = _promote(con, "r1")
    _as(monkeypatch, "ana@example.com")
    _refused("gate 'snapshot hashes verify'", promotion.approve, con, request, "ml_owner",
             snapshot_check=(False, "ALTERED snapshot raw.orders"))  # fmt: skip


def test_a_request_opened_before_a_rollback_is_stale(con, monkeypatch: pytest.MonkeyPatch) -> None:
    _approve_fully(con, monkeypatch, _promote(con, "r1"))
    early, now = _promote(con, "r2"), _promote(con, "r2")
    _approve_fully(con, monkeypatch, now)
    assert _champion(con) == "r2"
    rollback = promotion.rollback(con, "churn", OK)
    _approve_fully(con, monkeypatch, rollback)
    assert _champion(con) == "r1"
    _as(monkeypatch, "ana@example.com")
    _refused(f"request {early} is stale", promotion.approve, con, early, "ml_owner",
             snapshot_check=OK)  # fmt: skip
    assert _champion(con) == "r1"


def test_an_uncommitted_owners_change_is_not_honoured(
    con, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    shutil.copytree(REPO / "config", project / "config")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "owners")
    monkeypatch.setenv("CUSTOMER_ML_HOME", str(project))
    request = _promote(con, "r1")
    owners = project / "config" / "owners.yml"
    owners.write_text(owners.read_text().replace("[ana@example.com,", "[mallory@example.com,"))
    for user in ("mallory@example.com", "ben@example.com"):  # the new entry, and anyone
        _as(monkeypatch, user)
        _refused("config/owners.yml has uncommitted changes", promotion.approve, con, request,
                 "ml_owner", snapshot_check=OK)  # fmt: skip
    git(project, "checkout", "--", "config/owners.yml")
    _as(monkeypatch, "ben@example.com")
    assert "approved as ml_owner" in promotion.approve(con, request, "ml_owner", snapshot_check=OK)
