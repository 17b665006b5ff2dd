"""The CLI's conventions for scripts: `--version`, and one line on stderr for an operator error."""

from __future__ import annotations

import tomllib

import pytest
from click.testing import CliRunner
from conftest import REPO

from customer_ml.cli.app import main


def test_version_is_the_projects() -> None:
    with open(REPO / "pyproject.toml", "rb") as f:
        version = tomllib.load(f)["project"]["version"]
    done = CliRunner().invoke(main, ["--version"])
    assert done.exit_code == 0
    assert done.output.splitlines()[0].startswith(f"customer-ml {version} at ")


def test_an_unknown_target_is_one_line() -> None:
    done = CliRunner().invoke(main, ["where", "--target", "backfill"])
    assert done.exit_code == 2
    assert "'backfill' is not one of 'dev', 'ci', 'experiment'" in done.output


def test_runs_lists_training_runs_and_report_finds_each_report(built, tmp_path) -> None:
    import json
    import shutil

    from conftest import cli

    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    done = cli(wh, "runs", "--target", "ci", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert sorted(r["model"] for r in rows) == ["churn", "clv", "segments"]
    churn = next(r for r in rows if r["model"] == "churn")
    assert churn["status"] == "success" and churn["primary_metric"] == "roc_auc"
    assert 0.5 < churn["candidate"] <= 1 and isinstance(churn["gates_pass"], bool)
    only = json.loads(cli(wh, "runs", "--target", "ci", "--model", "clv", "--json").stdout)
    assert [r["model"] for r in only] == ["clv"]
    text = cli(wh, "runs", "--target", "ci").stdout
    assert churn["training_run_id"] in text and "roc_auc" in text and "rule baseline" in text

    done = cli(wh, "report", churn["training_run_id"], "--target", "ci", "--json")
    assert done.returncode == 0, done.stderr
    path = json.loads(done.stdout)["path"]
    assert path.endswith("validation_report.html") and "churn" in open(path).read().lower()

    for args, message in [
        (["runs", "--model", "nope"], "runs: unknown model 'nope'"),
        (["report", "no-such-run"], "report: no training run 'no-such-run'"),
    ]:
        done = cli(wh, *args, "--target", "ci")
        assert done.returncode == 1 and done.stderr.startswith(f"customer-ml: {message}")
    with open(path, "a") as report:
        report.write("<!-- edited -->")
    done = cli(wh, "report", churn["training_run_id"], "--target", "ci")
    assert done.returncode == 1 and "differs from what training run" in done.stderr


def test_every_command_has_json_output(tmp_path) -> None:
    import json

    import click

    def commands(group: click.Group, prefix: str = ""):
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                yield from commands(command, f"{prefix}{name} ")
            else:
                yield f"{prefix}{name}", command

    found = dict(commands(main))
    assert {"generate", "load", "runs", "report", "status", "backfill diff"} <= set(found)
    lacking = [n for n, c in found.items() if not any("--json" in p.opts for p in c.params)]
    assert lacking == []
    done = CliRunner().invoke(
        main, ["generate", "--scale", "tiny", "--seed", "3", "--out", str(tmp_path), "--json"]
    )
    assert done.exit_code == 0, done.output
    files = json.loads(done.output)["files"]
    assert files["orders"]["rows"] > 0 and files["orders"]["path"].endswith("orders.parquet")


def test_an_error_with_json_is_json_on_stdout_too(tmp_path) -> None:
    """A script that asked for --json reads JSON whatever happened; people still get the line."""
    import json

    from conftest import cli

    done = cli(tmp_path, "runs", "--model", "nope", "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"].startswith("runs: unknown model 'nope'")
    assert done.stderr.startswith("customer-ml: runs: unknown model 'nope'")
    plain = cli(tmp_path, "runs", "--model", "nope")
    assert plain.returncode == 1 and plain.stdout == ""


def test_decisions_lists_every_decision_with_its_reasons(tmp_path) -> None:
    """`customer-ml decisions [MODEL] [--since DATE]`: why a model did or did not retrain, from
    lineage.retraining_decisions, oldest first; a decision of a build that never finished says
    so."""
    import json
    from datetime import datetime

    import duckdb

    from customer_ml.records import store

    wh = tmp_path / "ci.duckdb"
    con = duckdb.connect(str(wh))
    store.create_all(con)
    for day, model, action, reasons, build in (
        (1, "churn", "train", ["first training run of churn"], "b1"),
        (8, "churn", "skip", ["no trigger; next due 2026-01-08"], "b2"),
        (8, "clv", "suppressed", ["feature freshness SLA: ..."], "b2"),
        (9, "churn", "train", ["forced with --vars '{retrain: force}'"], "killed"),
    ):
        store.append(con, "retraining_decisions", {
            "model_name": model, "invocation_id": build, "run_type": "production",
            "action": action, "reasons_json": json.dumps(reasons), "evidence_json": "{}",
            "decided_at": datetime(2026, 1, day, 6),
        })  # fmt: skip
    for build in ("b1", "b2"):
        store.append(con, "builds", {"invocation_id": build, "target_name": "ci"})
    con.close()
    args = ["decisions", "--warehouse", str(wh)]
    done = CliRunner().invoke(main, [*args, "churn", "--since", "2026-01-02", "--json"])
    assert done.exit_code == 0, done.output
    rows = json.loads(done.output)
    assert [(r["action"], r["build_finished"]) for r in rows] == [("skip", True), ("train", False)]
    assert rows[0]["reasons"] == ["no trigger; next due 2026-01-08"]
    table = CliRunner().invoke(main, args).output
    assert "suppressed" in table and "feature freshness SLA" in table
    assert "train (build never finished)" in table
    assert CliRunner().invoke(main, [*args, "churnn"]).exit_code == 2  # a typo: usage error


def test_compare_without_a_champion_is_against_the_rule_baseline(built, tmp_path) -> None:
    """Issue 35: `compare` refused when no champion served; it compares with what serves, the
    rule baseline, from what the challenger's training recorded of it."""
    import json
    import shutil
    from pathlib import Path

    from conftest import cli

    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    [churn] = [r for r in json.loads(cli(wh, "runs", "--target", "ci", "--json").stdout)
               if r["model"] == "churn"]  # fmt: skip
    done = cli(wh, "compare", "churn", "--challenger", churn["training_run_id"], "--target",
               "ci", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    made = json.loads(done.stdout)
    assert made["champion"].startswith("baseline-churn-")
    assert Path(made["report"]).is_file()


def test_compare_shows_every_promotion_gate_as_it_stands(built, tmp_path) -> None:
    """Issue 36 item 5: the page an approver reads starts with every promotion gate and its
    current result, not only the training report's own gates; a gate that fails shows FAILED,
    and the page made before is kept (artifacts are never overwritten)."""
    import json
    import shutil
    from pathlib import Path

    import duckdb
    from conftest import cli

    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    [churn] = [r for r in json.loads(cli(wh, "runs", "--target", "ci", "--json").stdout)
               if r["model"] == "churn"]  # fmt: skip
    args = ["compare", "churn", "--challenger", churn["training_run_id"], "--target", "ci",
            "--json"]  # fmt: skip
    first = Path(json.loads(cli(wh, *args).stdout)["report"])
    page = first.read_text()
    for gate in ("training run succeeded", "production run type", "clean tree", "build finished",
                 "complete lineage", "snapshot hashes verify", "evaluation complete"):  # fmt: skip
        assert f"<td>{gate}</td>" in page, gate
    assert "Promotion gates, as they stand now" in page
    assert 'class="fail">FAILED' not in page
    assert "not checked here" in page  # the snapshot hashes: checked when a request opens
    # the run's build as if it had been killed: its gate fails on the next page
    con = duckdb.connect(str(wh / "ci.duckdb"))
    con.execute(
        "delete from lineage.builds where invocation_id = (select invocation_id from "
        "lineage.training_runs where training_run_id = ?)",
        [churn["training_run_id"]],
    )
    con.close()
    done = cli(wh, *args)
    assert done.returncode == 0, done.stderr
    second = Path(json.loads(done.stdout)["report"])
    assert second != first and first.read_text() == page
    assert '<td>build finished</td><td class="fail">FAILED' in second.read_text()


def test_demo_champions_promote_every_model_through_signed_approvals(built, tmp_path) -> None:
    """`make run` ends with `customer-ml demo-champions`: each model's run promoted by the demo's
    people, a request and its signed approvals like anyone's; run again, nothing changes."""
    import json
    import shutil

    import duckdb
    from conftest import cli

    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    done = cli(wh, "demo-champions", "--target", "ci", "--json")
    assert done.returncode == 0, done.stderr
    lines = json.loads(done.stdout)["models"]
    assert [line.split(":")[0] for line in lines if "is the champion (request" in line] == [
        "churn", "clv", "segments"]  # fmt: skip
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    try:
        approvals = con.execute(
            "select approver, approver_role from lineage.approvals a join lineage.promotions p "
            "using (request_id) where a.signature is not null order by 1, 2"
        ).fetchall()
        requesters = con.execute("select distinct requested_by from lineage.promotion_requests"
                                 ).fetchall()  # fmt: skip
        requests = con.execute(
            "select request_id, gates, comparison_path from lineage.promotion_requests"
        ).fetchall()
    finally:
        con.close()
    assert requesters == [("ben@example.com",)]
    # what each approver decided from: the request's page, every gate with its result first,
    # then the impact against what served (the rule baseline)
    from customer_ml import config

    assert len(requests) == 3
    for request_id, gates, page in requests:
        text = config.recorded_file(wh / "ci.duckdb", page).read_text()
        assert page.endswith(f"{request_id}.html")
        checked = json.loads(gates)
        assert len(checked) == 9, checked
        rows = text.split("Promotion gates, as checked when the request opened")[1]
        for gate in checked:
            assert f'<td>{gate["gate"]}</td><td class="pass">passed</td>' in rows, gate
        assert rows.index("Verdict:") < rows.index("Customer impact against rule baseline")
    assert approvals == [
        ("ana@example.com", "ml_owner"), ("ana@example.com", "ml_owner"),
        ("ana@example.com", "ml_owner"), ("carla@example.com", "business_stakeholder"),
        ("dev@example.com", "business_stakeholder"),
    ]  # fmt: skip
    again = cli(wh, "demo-champions", "--target", "ci", "--json")
    assert all("already the champion" in line for line in json.loads(again.stdout)["models"])


def test_h_is_help_and_help_names_the_environment() -> None:
    done = CliRunner().invoke(main, ["-h"])
    assert done.exit_code == 0 and "CUSTOMER_ML_SIGNING_KEY" in done.output
    assert CliRunner().invoke(main, ["season", "-h"]).exit_code == 0


def test_outside_a_checkout_the_advice_says_where_to_run(tmp_path) -> None:
    done = CliRunner().invoke(main, ["where"], env={"CUSTOMER_ML_HOME": str(tmp_path),
                                                    "CUSTOMER_ML_WAREHOUSE_DIR": ""})  # fmt: skip
    assert done.exit_code == 1
    assert "is not a customer-ml checkout (no dbt_project.yml)" in done.output
    assert "make run" not in done.output


def test_project_dir_overrides_the_environment_and_names_a_wrong_folder(tmp_path) -> None:

    env = {"CUSTOMER_ML_HOME": str(tmp_path), "CUSTOMER_ML_WAREHOUSE_DIR": ""}
    done = CliRunner().invoke(main, ["--project-dir", str(REPO), "--version"], env=env)
    assert done.exit_code == 0, done.output
    assert f"in {REPO.resolve()}" in done.output and "dbt-duckdb " in done.output
    done = CliRunner().invoke(main, ["--project-dir", str(tmp_path), "where"], env=env)
    assert done.exit_code == 2
    assert "is not a customer-ml checkout (no dbt_project.yml)" in done.output


@pytest.mark.parametrize("quiet", [False, True])
def test_quiet_leaves_out_progress(quiet: bool, capsys: pytest.CaptureFixture) -> None:
    import click

    from customer_ml.cli.base import steps

    with click.Context(main) as ctx:
        ctx.params["quiet"] = quiet
        with steps("working") as progress:
            progress("step one")
    assert ("step one" in capsys.readouterr().err) is not quiet
