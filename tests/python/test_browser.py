"""What a person sees, checked in a real browser (headless Chromium from Debian's packages, which
`make browser` installs): the MLflow UI shows the champion alias on the registered model's
version, the dbt docs site shows a lineage source's column descriptions, and a validation report
opens with its verdict. Screenshots go to target/browser/ (not committed).

Chromium is driven from its command line (--dump-dom for the rendered page, --screenshot for the
picture), so the check needs no Python browser driver.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import BIN, PROJECT, REPO, cli, run_env

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = REPO / "target" / "browser"
# The flags this machine's closed network needs (no background connections), and time for a
# single-page app to fetch its data and render.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=20000",
    "--window-size=1400,1000",
]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _serving(args: list[str], url: str, cwd: Path) -> Iterator[None]:
    """A server on 127.0.0.1 until the block ends; waits until `url` answers."""
    process = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(url, timeout=5)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"{args[0]} did not serve {url}: {process.stderr.read().decode()[-2000:]}"
                    ) from None
                time.sleep(1)
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def _look(url: str, name: str, profile: Path) -> str:
    """The page's visible text as Chromium renders it, and its screenshot under target/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}"]
    shot = SCREENSHOTS / f"{name}.png"
    subprocess.run([*base, f"--screenshot={shot}", url], capture_output=True, timeout=180)
    assert shot.is_file() and shot.stat().st_size > 10_000, f"no screenshot of {url}"
    dom = subprocess.run(
        [*base, "--dump-dom", url], capture_output=True, text=True, timeout=180, check=True
    ).stdout
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return " ".join(re.sub(r"<[^>]+>", " ", dom).split())


def test_what_people_look_for_is_on_their_screens(built: Path, tmp_path: Path) -> None:
    assert Path(CHROMIUM).is_file(), "no Chromium: `make browser` installs Debian's chromium"
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    # champions as `make run` makes them: requests, signed approvals, each request's page
    done = cli(wh, "demo-champions", "--target", "ci")
    assert done.returncode == 0, done.stderr
    import duckdb

    from customer_ml import config
    from customer_ml.records import tracking

    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    try:
        [(run_id, mlflow_run_id, report, request, gates)] = con.execute(
            "select t.training_run_id, t.mlflow_run_id, t.report_path, r.comparison_path, "
            "r.gates from ml.ml_churn__train t join lineage.promotion_requests r "
            "using (training_run_id)"
        ).fetchall()
    finally:
        con.close()
    report = config.recorded_file(wh / "ci.duckdb", report)
    request = config.recorded_file(wh / "ci.duckdb", request)
    client = tracking.client_for(wh / "ci.duckdb")
    champion = client.get_model_version_by_alias("customer-ml-churn", "champion")
    experiment = client.get_run(mlflow_run_id).info.experiment_id
    model_id = champion.source.removeprefix("models:/")
    profile = tmp_path / "chromium-profile"

    # the MLflow UI, as `make ui` serves it: the registered model shows its champion version
    port = _port()
    mlflow_ui = [str(BIN / "mlflow"), "ui", "--host", "127.0.0.1", "--port", str(port),
                 "--backend-store-uri", f"sqlite:///{wh / 'ci.mlflow.db'}"]  # fmt: skip
    with _serving(mlflow_ui, f"http://127.0.0.1:{port}/health", tmp_path):
        text = _look(
            f"http://127.0.0.1:{port}/#/models/customer-ml-churn", "mlflow_champion", profile
        )
        assert "customer-ml-churn" in text, text[:2000]
        assert re.search(rf"Version {champion.version}\b", text), text[:2000]
        assert "champion" in text, text[:2000]
        # the training run's page lists its logged model; the logged model's page its metrics
        text = _look(
            f"http://127.0.0.1:{port}/#/experiments/{experiment}/runs/{mlflow_run_id}",
            "mlflow_training_run",
            profile,
        )
        for shown in (run_id, "Logged models (1)", "Parent run build", "customer-ml-churn v"):
            assert shown in text, (shown, text[:3000])
        text = _look(
            f"http://127.0.0.1:{port}/#/experiments/{experiment}/models/{model_id}",
            "mlflow_logged_model",
            profile,
        )
        for shown in (
            model_id,
            "candidate_roc_auc",
            run_id,
            f"customer-ml-churn v{champion.version}",
        ):
            assert shown in text, (shown, text[:3000])

    # the dbt docs site: a lineage source's columns with their descriptions
    site = wh / "target"
    subprocess.run(
        [str(BIN / "dbt"), "docs", "generate", "--target", "ci", "--target-path", str(site),
         "--log-path", str(wh / "logs")],
        env=run_env(wh), cwd=PROJECT or REPO, check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    manifest = json.loads((site / "manifest.json").read_text())
    source = manifest["sources"]["source.customer_ml.lineage.data_snapshots"]
    described = source["columns"]["content_hash"]["description"]
    port = _port()
    http = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with _serving(http, f"http://127.0.0.1:{port}/index.html", site):
        text = _look(
            f"http://127.0.0.1:{port}/#!/source/source.customer_ml.lineage.data_snapshots",
            "dbt_docs_lineage_source",
            profile,
        )
    assert "data_snapshots" in text and "content_hash" in text, text[:2000]
    assert " ".join(described.split())[:60] in text, text[:2000]

    # the request's page: every promotion gate with its result, then the impact box
    text = _look(request.as_uri(), "promotion_request", profile)
    for gate in json.loads(gates):
        assert f"{gate['gate']} passed" in text, (gate, text[:3000])
    assert "Customer impact against rule baseline" in text and "campaign size" in text, text[:3000]

    # the analyst copy's column descriptions, as duckdb_columns() gives them to an analyst
    con = duckdb.connect(str(wh / "ci.analyst.duckdb"), read_only=True)
    try:
        columns = con.execute(
            "select column_name, comment from duckdb_columns() where schema_name = 'serving' "
            "and table_name = 'fct_customer_scores' order by column_index"
        ).fetchall()
    finally:
        con.close()
    import html

    page = tmp_path / "analyst_copy_columns.html"
    page.write_text(
        "<h1>serving.fct_customer_scores in the analyst copy: duckdb_columns()</h1><table>"
        + "".join(
            f"<tr><td>{html.escape(c)}</td><td>{html.escape(d or '')}</td></tr>" for c, d in columns
        )  # fmt: skip
        + "</table>"
    )
    text = _look(page.as_uri(), "analyst_copy_columns", profile)
    described = dict(columns)["churn_probability"]
    assert described and " ".join(described.split())[:60] in text, text[:2000]

    # the champion's validation report opens with its verdict
    text = _look(report.as_uri(), "validation_report", profile)
    assert re.search(r"Verdict: (ready for approval|not promotable)", text), text[:2000]
    assert text.index("Verdict:") < text.index("Holdout metrics")
