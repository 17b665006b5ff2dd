"""Approvals that prove who approved (issues 20 and 35), on an in-memory warehouse with recorded
runs and a committed copy of the project (its config/owners.yml is the root of the owners
history): `rollback` opens a request for the previous champion, approved like any promotion; the
approval matrix has the expected outcome, one line, in every case: an unlisted person, a listed
person in another role, the same person in two roles, the requester alone, an unsigned record, a
record signed by another key, a forged request row, a forged approval row, a stale request,
reject and rca by outsiders, an uncommitted owners change, an owners change in an unsigned
commit, one signed by a non-owner and one signed by an owner. Keys are the demo keys of
config/demo_keys."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import REPO, git

from customer_ml.governance import promotion, signing
from customer_ml.governance.requests import append_request
from customer_ml.records import store

OK = (True, "ok")
KEYS = REPO / "config" / "demo_keys"


def key(who: str) -> Path:
    """The demo key of `who` (ana, ben, carla, dev; mallory is listed nowhere)."""
    return KEYS / f"{who}@example.com"


def _run(run_id: str, auc: float, run_type: str = "production", model: str = "churn") -> dict:
    metrics = {"candidate": {"roc_auc": auc}, "baseline": {"roc_auc": 0.8}}
    if model == "segments":
        metrics = {"candidate": {"silhouette": auc}, "baseline": {"silhouette": 0.3}}
    return {
        "training_run_id": run_id,
        "model_name": model,
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
        "metrics_json": json.dumps(metrics),
        "mlflow_run_id": None,
    }


@pytest.fixture
def con(monkeypatch: pytest.MonkeyPatch, project: Path) -> duckdb.DuckDBPyConnection:
    import pandas as pd

    monkeypatch.setenv("CUSTOMER_ML_HOME", str(project))
    con = duckdb.connect()
    store.create_all(con)
    runs = pd.DataFrame(
        [_run("r1", 0.9), _run("r2", 0.91), _run("r3", 0.7), _run("x1", 0.95, "experiment"),
         {**_run("k1", 0.95), "invocation_id": "killed-build"}, _run("s1", 0.5, model="segments")]
    )  # fmt: skip
    con.register("runs_frame", runs)
    con.execute("create table lineage.training_runs as select * from runs_frame")
    store.append(con, "builds", {"invocation_id": "i", "target_name": "ci"})  # finished
    # The MLflow mirror of an in-memory warehouse cannot be written: _carry_out says so and the
    # records (what this test is about) are the real ones.
    return con


def _promote(con, run_id: str, by: str = "ana", model: str = "churn") -> str:
    request, _ = promotion.open_request(con, model, run_id, key=key(by), snapshot_check=OK)
    return request


def _approve(con, request: str, role: str, who: str) -> str:
    return promotion.approve(con, request, role, key=key(who), snapshot_check=OK)


def test_rollback_restores_the_previous_champion(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(promotion.PromotionError, match="no previous champion"):
        promotion.rollback(con, "churn", OK, key=key("ana"))
    for run_id in ("r1", "r2"):
        request = _promote(con, run_id)
        _approve(con, request, "ml_owner", "ana")
        _approve(con, request, "business_stakeholder", "carla")
    assert con.execute(
        "select training_run_id from lineage.promotions order by promoted_at desc limit 1"
    ).fetchall() == [("r2",)]
    request = promotion.rollback(con, "churn", OK, key=key("ana"))
    [(kind, run_id)] = con.execute(
        "select request_kind, training_run_id from lineage.promotion_requests where request_id = ?",
        [request],
    ).fetchall()
    assert (kind, run_id) == ("rollback", "r1")
    _approve(con, request, "ml_owner", "ben")
    _approve(con, request, "business_stakeholder", "carla")
    assert con.execute(
        "select training_run_id, action from lineage.promotions order by promoted_at desc limit 1"
    ).fetchall() == [("r1", "rollback")]


def test_a_rejected_request_cannot_be_approved(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = _promote(con, "r2")
    assert "rejected by carla@example.com" in promotion.reject(
        con, request, "not now", key=key("carla")
    )
    with pytest.raises(promotion.PromotionError, match="is rejected, not open"):
        _approve(con, request, "ml_owner", "ana")
    assert con.execute("select count(*) from lineage.promotions").fetchall() == [(0,)]


def _champion(con: duckdb.DuckDBPyConnection) -> str | None:
    rows = con.execute(
        "select training_run_id from lineage.promotions order by promoted_at desc limit 1"
    ).fetchall()
    return rows[0][0] if rows else None


def _approve_fully(con, request: str) -> None:
    _approve(con, request, "ml_owner", "ana")
    _approve(con, request, "business_stakeholder", "carla")


def _refused(match: str, action, *args, **kwargs) -> None:
    with pytest.raises(promotion.PromotionError, match=match):
        action(*args, **kwargs)


UNLISTED = "signed by a key config/owners.yml lists for no one"


@pytest.mark.parametrize(
    ("who", "role", "refusal"),
    [
        ("mallory", "ml_owner", UNLISTED),  # a key nobody lists
        ("carla", "ml_owner", "carla@example.com is not listed as ml_owner"),  # other role
        ("ana", "data_scientist", "role 'data_scientist' is not required"),
    ],
)
def test_only_listed_people_approve_in_their_role(con, who: str, role: str, refusal: str) -> None:
    request = _promote(con, "r1")
    _refused(refusal, _approve, con, request, role, who)
    assert con.execute("select count(*) from lineage.approvals").fetchall() == [(0,)]


def test_an_unlisted_key_cannot_open_a_request(con) -> None:
    _refused(f"request req-.*: {UNLISTED}", _promote, con, "r1", "mallory")
    _refused(f"your signing key: {UNLISTED}", promotion.check_requester, con, "churn", "r1",
             key("mallory"))  # fmt: skip
    assert con.execute("select count(*) from lineage.promotion_requests").fetchall() == [(0,)]


def test_one_person_cannot_fill_two_roles(con) -> None:
    request = _promote(con, "r1")
    _approve(con, request, "ml_owner", "ben")  # ben is listed in both roles of churn
    _refused("two roles need two different people", _approve, con, request,
             "business_stakeholder", "ben")  # fmt: skip
    assert _champion(con) is None


def test_the_requester_is_never_the_only_approver(con) -> None:
    request = _promote(con, "s1", "ana", model="segments")  # segments needs one ml_owner
    _refused("ana@example.com opened request .* may not be its only approver", _approve, con,
             request, "ml_owner", "ana")  # fmt: skip
    assert "segments champion is now s1" in _approve(con, request, "ml_owner", "ben")
    churn = _promote(con, "r1", "ana")  # two roles: the requester may fill one of them
    _approve(con, churn, "ml_owner", "ana")
    assert "champion is now r1" in _approve(con, churn, "business_stakeholder", "carla")


def test_outsiders_cannot_reject_or_file_the_rca(con) -> None:
    request = _promote(con, "r1")
    _refused(UNLISTED, promotion.reject, con, request, "no", key=key("mallory"))
    _refused(
        "dev@example.com may not reject", promotion.reject, con, request, "no", key=key("dev")
    )  # fmt: skip  (dev is listed for clv only)
    _refused(UNLISTED, promotion.rca, con, "churn", "fixed it", key=key("mallory"))
    # an approver, but not the ml_owner
    _refused("not listed as its ml_owner", promotion.rca, con, "churn", "fixed", key=key("carla"))
    assert con.execute("select count(*) from lineage.rca_notes").fetchall() == [(0,)]
    assert "recorded" in promotion.rca(con, "churn", "fixed it", key=key("ana"))
    _approve_fully(con, request)  # the request is still open: nothing was rejected
    assert _champion(con) == "r1"


def _approval_row(request: str, role: str, who: str, signature: str | None) -> dict:
    return {
        "request_id": request,
        "decision": "approve",
        "approver_role": role,
        "approver": f"{who}@example.com",
        "decided_at": promotion.lineage.utc_now(),
        "signature": signature,
    }


def _signed_approval(con, request: str, role: str, signer: str) -> str:
    from customer_ml.governance.requests import read_request

    text = promotion._approval_text(read_request(con, request), role)
    return signing.sign(text, key(signer))


@pytest.mark.parametrize(
    ("signature_by", "refusal"),
    [
        (None, "the ml_owner approval of req-.* by ana@example.com: not signed"),  # unsigned
        ("ben", "signed by ben@example.com, not by its approver"),  # another listed key
        ("mallory", UNLISTED),  # a key nobody lists
    ],
)
def test_an_approval_counts_only_when_its_approver_signed_it(
    con, signature_by: str | None, refusal: str
) -> None:
    request = _promote(con, "r1", "ben")
    signature = signature_by and _signed_approval(con, request, "ml_owner", signature_by)
    # sealed (written through the record writer), but not signed by ana
    store.append(con, "approvals", _approval_row(request, "ml_owner", "ana", signature))
    _refused(refusal, _approve, con, request, "business_stakeholder", "carla")
    assert _champion(con) is None


def test_a_forged_approval_row_is_not_honoured(con) -> None:
    request = _promote(con, "r1", "ben")
    # a real signature, inserted by SQL: never sealed
    row = _approval_row(request, "ml_owner", "ana", _signed_approval(con, request, "ml_owner",
                                                                      "ana"))  # fmt: skip
    con.execute(
        "insert into lineage.approvals (request_id, decision, approver_role, approver, "
        "decided_at, signature) values (?, ?, ?, ?, ?, ?)",
        [row[c] for c in ("request_id", "decision", "approver_role", "approver", "decided_at",
                          "signature")],
    )  # fmt: skip
    _refused("approval of req-.* by ana@example.com is not sealed", _approve, con, request,
             "business_stakeholder", "carla")  # fmt: skip
    assert _champion(con) is None


def test_a_request_row_inserted_by_sql_is_not_honoured(con) -> None:
    request = _promote(con, "r1", "ben")
    [row] = store.read(con, "select * from lineage.promotion_requests where request_id = ?",
                       [request])  # fmt: skip
    con.execute(
        "insert into lineage.promotion_requests select * replace ('req-sql' as request_id) "
        "from lineage.promotion_requests where request_id = ?",
        [request],
    )
    _refused("request req-sql is not sealed", _approve, con, "req-sql", "ml_owner", "ana")
    assert row["requested_by"] == "ben@example.com"


def _forge(con, request_id: str, run_id: str, *, model_version: str, roles: str = "[]") -> None:
    """A request row written past every gate `promote` checks, signed and sealed: what a listed
    person with write access to the warehouse could still do."""
    append_request(
        con,
        {
            "request_id": request_id,
            "model_name": "churn",
            "training_run_id": run_id,
            "model_version": model_version,
            "request_kind": "promote",
            "required_roles": roles,
            "gates": "[]",
            "requested_at": promotion.lineage.utc_now(),
        },
        key("ben"),
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
    con, run_id: str, model_version: str, refusal: str
) -> None:
    _forge(con, "req-forged", run_id, model_version=model_version)
    _refused(refusal, _approve, con, "req-forged", "ml_owner", "ana")
    assert _champion(con) is None


def test_a_forged_empty_role_list_does_not_skip_an_approver(con) -> None:
    _forge(con, "req-forged", "r1", model_version="v-r1", roles="[]")
    outcome = _approve(con, "req-forged", "ml_owner", "ana")
    assert "waiting for business_stakeholder" in outcome  # the catalogue's roles, not the row's
    assert _champion(con) is None


def test_snapshots_that_stop_verifying_stop_the_approval(con) -> None:
    request = _promote(con, "r1")
    _refused("gate 'snapshot hashes verify'", promotion.approve, con, request, "ml_owner",
             key=key("ana"), snapshot_check=(False, "ALTERED snapshot raw.orders"))  # fmt: skip


def test_a_request_opened_before_a_rollback_is_stale(con) -> None:
    _approve_fully(con, _promote(con, "r1", "ben"))
    early, now = _promote(con, "r2", "ben"), _promote(con, "r2", "ben")
    _approve_fully(con, now)
    assert _champion(con) == "r2"
    rollback = promotion.rollback(con, "churn", OK, key=key("ben"))
    _approve_fully(con, rollback)
    assert _champion(con) == "r1"
    _refused(f"request {early} is stale", _approve, con, early, "ml_owner", "ana")
    assert _champion(con) == "r1"


@pytest.fixture
def owned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project of its own whose config/ is committed (the root of the owners history)."""
    project = tmp_path / "project"
    shutil.copytree(REPO / "config", project / "config")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "owners")
    monkeypatch.setenv("CUSTOMER_ML_HOME", str(project))
    return project


def _add_mallory(project: Path) -> None:
    """Make mallory an ml_owner of churn, with her key among the signers."""
    owners = project / "config" / "owners.yml"
    public = (KEYS / "mallory@example.com.pub").read_text().split()[:2]
    text = owners.read_text().replace(
        "[ana@example.com, ben@example.com]\n    business_stakeholder: [carla",
        "[mallory@example.com, ben@example.com]\n    business_stakeholder: [carla",
        1,
    )
    text = text.replace("signers:\n", f"signers:\n  mallory@example.com: {' '.join(public)}\n")
    owners.write_text(text)


def _commit_signed_by(project: Path, who: str | None, tmp_path: Path) -> None:
    git(project, "add", "config/owners.yml")
    if who is None:
        git(project, "commit", "-qm", "owners: mallory (unsigned)")
        return
    private = tmp_path / f"{who}.key"  # ssh-keygen refuses a key others may read
    private.write_bytes(key(who).read_bytes())
    private.chmod(0o600)
    git(project, "-c", "gpg.format=ssh", "-c", f"user.signingkey={private}", "commit", "-S",
        "-qm", f"owners: mallory (signed by {who})")  # fmt: skip


def test_an_uncommitted_owners_change_is_not_honoured(con, owned: Path) -> None:
    request = _promote(con, "r1")
    _add_mallory(owned)
    for who in ("mallory", "ben"):  # the new entry, and anyone
        _refused("config/owners.yml has uncommitted changes", _approve, con, request,
                 "ml_owner", who)  # fmt: skip
    git(owned, "checkout", "--", "config/owners.yml")
    assert "approved as ml_owner" in _approve(con, request, "ml_owner", "ben")


@pytest.mark.parametrize(
    ("signed_by", "refusal"),
    [
        (None, "commit [0-9a-f]{12} changes churn.ml_owner without a signature git verifies"),
        ("carla", "signed by carla@example.com, who is not a current owner of all of them"),
        ("mallory", "without a signature git verifies as a current owner"),  # herself
    ],
)
def test_an_owners_change_no_owner_signed_is_not_honoured(
    con, owned: Path, tmp_path: Path, signed_by: str | None, refusal: str
) -> None:
    request = _promote(con, "r1")
    _add_mallory(owned)
    _commit_signed_by(owned, signed_by, tmp_path)
    for who in ("mallory", "ben"):  # the new owner, and everyone else until it is resolved
        _refused(refusal + ".*stay in force", _approve, con, request, "ml_owner", who)
    git(owned, "revert", "--no-edit", "HEAD")  # back to the owners in force: honoured again
    assert "approved as ml_owner by ben" in _approve(con, request, "ml_owner", "ben")


def test_an_owners_change_signed_by_an_owner_takes_effect(con, owned: Path, tmp_path: Path) -> None:
    request = _promote(con, "r1")
    _add_mallory(owned)
    _commit_signed_by(owned, "ben", tmp_path)  # ben owns churn.ml_owner
    assert "approved as ml_owner by mallory" in _approve(con, request, "ml_owner", "mallory")
    _refused(
        "ana@example.com is not listed as ml_owner",
        _approve,
        con,
        _promote(con, "r2"),
        "ml_owner",
        "ana",
    )  # fmt: skip  (ana was replaced)


def test_demo_keys_never_act_on_an_owners_file_that_does_not_list_them(con, owned: Path) -> None:
    """A real owners file (here: ben's key replaced, a committed root) refuses demo-champions."""
    from customer_ml.governance import demo

    owners = owned / "config" / "owners.yml"
    ben = (KEYS / "ben@example.com.pub").read_text().split()[1]
    mallory = (KEYS / "mallory@example.com.pub").read_text().split()[1]
    owners.write_text(owners.read_text().replace(ben, mallory))
    git(owned, "add", "-A")
    git(owned, "commit", "--amend", "-qm", "a real owners file")  # the root: trusted as committed
    _refused("does not list ben@example.com's demo key", demo.promote_all, con, OK)
    assert _champion(con) is None


def test_a_malformed_owners_file_refuses_in_one_line_naming_key_and_value(
    con, owned: Path, tmp_path: Path
) -> None:
    """config/owners.yml is read as OwnersFile (pydantic): a role given as one person instead of
    a list, committed (signed by an owner, even), refuses every approval naming key and value,
    and the owners in force stay until it is mended."""
    request = _promote(con, "r1")
    owners = owned / "config" / "owners.yml"
    one_person = "business_stakeholder: dev@example.com"
    owners.write_text(owners.read_text().replace("business_stakeholder: [dev@example.com]",
                                                 one_person, 1))  # fmt: skip
    _commit_signed_by(owned, "ben", tmp_path)
    message = (
        re.escape(
            "config/owners.yml: models.clv.business_stakeholder: Input should be a valid list "
            "(given: 'dev@example.com'); the owners of commit "
        )
        + "[0-9a-f]{12} stay in force"
    )
    _refused(message, _approve, con, request, "ml_owner", "ben")
    git(owned, "revert", "--no-edit", "HEAD")
    assert "approved as ml_owner by ben" in _approve(con, request, "ml_owner", "ben")
