"""The promotion lifecycle on tiny data (docs/design.md invariants 6-8 and 10): experiment refused;
promoted only after both approvals by two listed people; same person twice and unlisted people
refused; a regressing candidate refused naming the gate; an injected training failure leaves
the champion serving and scoring intact, alerts, and after N failures blocks training until
`rca`; an over-age champion falls back to the baseline. And the webhook receives an alert."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import duckdb
import pytest
from conftest import cli, dbt_build, git, load_tiny, snapshot_project


def _q(wh: Path, sql: str) -> list:
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


class World:
    def __init__(self, project: Path, wh: Path) -> None:
        self.project, self.wh = project, wh

    def cli(self, *args: str, user: str = "ben@example.com"):
        return cli(self.wh, *args, "--target", "ci", project=self.project, user=user)

    def build(self, *extra: str, check: bool = True):
        return dbt_build(self.wh, *extra, project=self.project, check=check)

    def edit_config(self, old: str, new: str, message: str) -> None:
        path = self.project / "config" / "models.yml"
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new, 1))
        git(self.project, "commit", "-qam", message)

    def churn_runs(self) -> list:
        return _q(
            self.wh,
            "select training_run_id, run_type from lineage.training_runs "
            "where model_name = 'churn' order by started_at",
        )

    def serving(self) -> set:
        return set(
            _q(
                self.wh,
                "select model_kind, training_run_id from serving.fct_customer_scores "
                "where model_name = 'churn'",
            )  # fmt: skip
        )

    def request_id(self, done) -> str:
        assert done.returncode == 0, done.stderr
        return done.stdout.split()[1].rstrip(":")


@pytest.mark.e2e
def test_promotion_lifecycle(tmp_path: Path, tiny_data: Path) -> None:
    """One story in its order (each step builds on the state the previous one left), in one
    test so that no test depends on another having run first."""
    world = World(snapshot_project(tmp_path / "project"), tmp_path / "wh")
    load_tiny(world.wh, tiny_data)
    world.build("--vars", "{run_type: experiment}")
    world.build()  # production
    experiment_runs_are_isolated_and_refused(world)
    two_listed_people_must_approve(world)
    regressing_candidate_is_refused(world)
    failures_alert_escalate_suppress_and_rca_resumes(world)
    over_age_champion_falls_back_to_baseline(world)


def experiment_runs_are_isolated_and_refused(world: World) -> None:
    """Invariant 6 on an everyday target: the experiment run (var run_type) is in its own
    schema, not in lineage.training_runs, and cannot be promoted."""
    [production] = world.churn_runs()
    assert production[1] == "production"
    [(experiment, run_type)] = _q(
        world.wh, "select training_run_id, run_type from experiments.ml_churn__train"
    )
    assert run_type == "experiment" and experiment != production[0]
    assert _q(world.wh, "select count(*) from experiments.training_runs") == [(3,)]
    assert _q(
        world.wh, "select count(*) from lineage.training_runs where run_type != 'production'"
    ) == [(0,)]
    done = world.cli("promote", "churn", "--run", experiment)
    assert done.returncode == 1
    assert f"unknown training run '{experiment}'" in done.stderr
    assert "experiment runs" in done.stderr


def two_listed_people_must_approve(world: World) -> None:
    production = world.churn_runs()[0][0]
    opened = world.cli("promote", "churn", "--run", production, "--json")
    assert opened.returncode == 0, opened.stderr
    request = json.loads(opened.stdout)["request_id"]
    assert json.loads(opened.stdout)["needs_approval_by"] == ["ml_owner", "business_stakeholder"]
    # unlisted person
    done = world.cli("approve", request, "--role", "ml_owner", user="mallory@example.com")
    assert done.returncode == 1 and "lists for no one" in done.stderr
    assert "verify-snapshots" not in done.stderr  # refused before the slow check
    done = world.cli("approve", "req-mistyped", "--role", "ml_owner", user="ana@example.com")
    assert done.returncode == 1 and "unknown promotion request" in done.stderr
    assert "verify-snapshots" not in done.stderr
    # ben is listed for both roles, but one person cannot fill both
    assert (
        world.cli("approve", request, "--role", "ml_owner", user="ben@example.com").returncode == 0
    )
    assert {kind for kind, _ in world.serving()} == {"baseline"}  # not yet promoted
    done = world.cli("approve", request, "--role", "business_stakeholder", user="ben@example.com")
    assert done.returncode == 1 and "two roles need two different people" in done.stderr
    assert _q(world.wh, "select count(*) from lineage.promotions") == [(0,)]
    done = world.cli(
        "approve", request, "--role", "business_stakeholder", "--json", user="carla@example.com"
    )
    assert done.returncode == 0, done.stderr
    approved = json.loads(done.stdout)
    assert (approved["request_id"], approved["promoted"], approved["champion"]) == (
        request,
        True,
        production,
    )
    assert "it serves from the next build" in approved["message"]
    assert _q(world.wh, "select training_run_id from lineage.promotions") == [(production,)]
    # promoted, not serving yet: status says so until a build scores with it
    [churn] = [s for s in json.loads(world.cli("status", "--json").stdout) if s["model"] == "churn"]
    assert (churn["champion"], churn["serving"]) == (production, "rule baseline")
    assert "the next build serves the champion" in world.cli("status").stdout
    world.build()
    assert world.serving() == {("champion", production)}
    status = json.loads(world.cli("status", "--json").stdout)
    assert status[0]["serving"] == status[0]["champion"] == production


def regressing_candidate_is_refused(world: World) -> None:
    world.edit_config("num_leaves: 31", "num_leaves: 2", "weaker model")
    world.edit_config("num_boost_round: 400", "num_boost_round: 2", "weaker model")
    world.build()
    candidate = world.churn_runs()[-1][0]
    done = world.cli("promote", "churn", "--run", candidate)
    assert done.returncode == 1
    assert "refused by gate 'no regression vs champion'" in done.stderr


def failures_alert_escalate_suppress_and_rca_resumes(world: World) -> None:
    champion = _q(world.wh, "select training_run_id from lineage.promotions")[0][0]
    world.edit_config("objective: binary", "objective: no_such_objective", "inject a failure")
    for _attempt in (1, 2, 3):
        done = world.build(check=False)
        # the training node records the failure and returns no row (nothing downstream is
        # skipped); the build's last hook fails it, naming the failure
        assert done.returncode == 1, done.stdout[-2000:]
        assert "this build must not pass: training failed (churn)" in done.stdout
        assert " SKIP=0 " in done.stdout  # monitoring, lineage views, tests all ran
        assert world.serving() == {("champion", champion)}  # scoring ran, champion serves
    alerts = _q(world.wh, "select alert_kind, severity from lineage.alerts "
                          "where model_name = 'churn' order by raised_at")  # fmt: skip
    assert alerts == [
        ("training_failed", "warning"),
        ("training_failed", "warning"),
        ("training_failed_escalated", "critical"),
    ]
    # suppressed: no training, a critical alert again, and the build fails for it (a scheduler
    # sees it in the exit status)
    runs_before = len(world.churn_runs())
    done = world.build(check=False)
    assert done.returncode == 1 and "critical alert training_suppressed (churn)" in done.stdout
    assert len(world.churn_runs()) == runs_before
    assert _q(
        world.wh, "select alert_kind from lineage.alerts order by raised_at desc limit 1"
    ) == [("training_suppressed",)]
    runs_before = len(world.churn_runs())
    assert (
        world.cli(
            "rca", "churn", "--note", "bad objective in config", user="ana@example.com"
        ).returncode
        == 0
    )
    world.edit_config("objective: no_such_objective", "objective: binary", "fix the objective")
    # a config not trained before, so the resumed training has something new to do
    world.edit_config("learning_rate: 0.05", "learning_rate: 0.07", "new learning rate")
    world.build()
    assert len(world.churn_runs()) == runs_before + 1
    last_alert = _q(
        world.wh, "select alert_kind from lineage.alerts order by raised_at desc limit 1"
    )
    assert last_alert == [("training_suppressed",)]  # no new alert: training resumed cleanly


def over_age_champion_falls_back_to_baseline(world: World) -> None:
    world.edit_config("max_champion_age_days: 120", "max_champion_age_days: 0", "age limit 0")
    world.edit_config("max_champion_age_days: 180", "max_champion_age_days: 0", "age limit 0")
    world.build()
    kinds = {kind for kind, _ in world.serving()}
    assert kinds == {"baseline"}
    risk = "select model_name, count(*) from lineage.alerts where alert_kind = 'model_risk_review'"
    raised = _q(world.wh, f"{risk} group by 1 order by 1")
    assert raised and all(n == 1 for _, n in raised), raised
    # the next build still serves the baseline and raises nothing new: once per promotion
    world.build()
    assert {kind for kind, _ in world.serving()} == {"baseline"}
    assert _q(world.wh, f"{risk} group by 1 order by 1") == raised


def test_webhook_receives_the_alert(monkeypatch: pytest.MonkeyPatch) -> None:
    from customer_ml.records import alerts, store

    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.handle_request)
    thread.start()
    monkeypatch.setenv(alerts.WEBHOOK_ENV, f"http://127.0.0.1:{server.server_port}/alerts")
    con = duckdb.connect()
    store.create_all(con)
    alerts.raise_alert(con, model_name="churn", kind="training_failed", severity="warning",
                       message="boom", invocation_id="inv-1")  # fmt: skip
    thread.join(timeout=10)
    server.server_close()
    assert received and received[0]["alert_kind"] == "training_failed"
    assert received[0]["message"] == "boom" and received[0]["invocation_id"] == "inv-1"
    assert con.execute("select delivery from lineage.alerts").fetchall() == [("delivered",)]
