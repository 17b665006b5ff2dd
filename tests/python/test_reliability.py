"""Issue 20's fast guarantees: no single raw row can poison the pipeline."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import duckdb
import pytest
from conftest import dbt_build, promote_by_record

IDLE = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)  # a notebook's connection, left open
print(con.execute("select count(*) from lineage.builds").fetchall()[0][0], flush=True)
time.sleep(float(sys.argv[2]))
print(con.execute("select count(*) from lineage.builds").fetchall()[0][0])
"""


POISON = [
    # (what, the row's values after order_id, customer_id) -- each breaks one loader rule
    ("NaN amount", "timestamp '2025-06-01', 'nan'::double, timestamp '2025-06-01'"),
    ("2^70 amount", "timestamp '2025-06-01', 1180591620717411303424.0, timestamp '2025-06-01'"),
    ("far-future order", "timestamp '9999-12-31', 5.0, timestamp '9999-12-31'"),
    ("known before it happened", "timestamp '2025-06-01', 5.0, timestamp '2025-05-01'"),
]


def test_a_poisoned_raw_row_is_excluded_counted_and_warned(built: Path, tmp_path: Path) -> None:
    """Rows inserted into raw behind the loader's back: the build stays green (a warning), staging
    leaves them out, monitoring.raw_rows_excluded names each problem, and data_through does not
    move to 9999. An idle notebook connection to the analyst copy does not block that build,
    which publishes the copy anew."""
    import subprocess
    import sys

    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    notebook = subprocess.Popen(
        [sys.executable, "-c", IDLE, str(wh / "ci.analyst.duckdb"), "600"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert notebook.stdout.readline().strip() == "1"  # open before the build starts
    con = duckdb.connect(str(wh / "ci.duckdb"))
    through_before = con.execute("select max(as_of) from labels.churn_labels_v1").fetchall()
    customer = con.execute("select min(customer_id) from raw.orders").fetchall()[0][0]
    for i, (_, values) in enumerate(POISON):
        con.execute(
            "insert into raw.orders (order_id, customer_id, ordered_at, amount, _available_at, "
            f"channel, _loaded_at, _load_id) values ({-1 - i}, {customer}, {values}, 'web', "
            "timestamp '2026-01-23', 'forged')"
        )
    con.close()

    try:
        done = dbt_build(wh, "--select", "+churn_labels", "raw_rows_excluded")
    finally:
        notebook.kill()
    warned = [line for line in done.stdout.splitlines() if "is_empty_raw_rows_excluded" in line]
    assert any("WARN 3" in line for line in warned), done.stdout[-3000:]

    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    excluded = con.execute(
        "select problem, n_rows, load_ids from monitoring.raw_rows_excluded order by problem"
    ).fetchall()
    staged = con.execute("select count(*) from staging.stg_shop__orders where order_id < 0")
    staged = staged.fetchall()[0][0]
    through_after = con.execute("select max(as_of) from labels.churn_labels_v1").fetchall()
    con.close()
    assert staged == 0
    assert excluded == [
        ("_available_at before the event", 1, "forged"),
        ("amount not finite, negative or above max_amount", 2, "forged"),
        ("event time after the load", 1, "forged"),
    ]
    assert through_after == through_before
    analysts = duckdb.connect(str(wh / "ci.analyst.duckdb"), read_only=True)
    published = analysts.execute("select sum(n_rows) from monitoring.raw_rows_excluded")
    assert published.fetchall() == [(4,)]
    analysts.close()


# --- alerts never hang or fail a build, and never leak the webhook's secrets (item 8) ---

SECRETS = ("pa55word", "T0KEN-IN-PATH", "K3Y-IN-QUERY")


def _endpoint(answer) -> tuple[int, threading.Event]:
    """A TCP server on 127.0.0.1 that runs `answer(connection)` for each connection."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                answer(conn, stop)
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1], stop


def _drip(conn, stop) -> None:
    for byte in b"HTTP/1.1 200 OK\r\n" * 100:  # one byte a second: each read is quick
        if stop.wait(1.0):
            return
        try:
            conn.send(bytes([byte]))
        except OSError:  # the client gave up (its deadline)
            return


def _not_http(conn, stop) -> None:
    conn.send(b"SSH-2.0-OpenSSH_9.6\r\n")


def _error_500(conn, stop) -> None:
    conn.send(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")


def _down_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def _bad_webhook(kind: str) -> tuple[str, int, threading.Event]:
    """(URL with secrets in it, port, the event that stops its server) of a bad endpoint."""
    stop = threading.Event()
    if kind == "down":
        port = _down_port()
    else:
        answer = {"slow-drip": _drip, "not-http": _not_http, "http-500": _error_500}[kind]
        port, stop = _endpoint(answer)
    url = f"http://ops:{SECRETS[0]}@127.0.0.1:{port}/hooks/{SECRETS[1]}?key={SECRETS[2]}"
    return url, port, stop


@pytest.mark.parametrize("kind", ["down", "slow-drip", "not-http", "http-500"])
def test_a_bad_webhook_is_recorded_not_raised_and_keeps_its_secrets(
    kind: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from customer_ml.records import alerts, store

    url, port, stop = _bad_webhook(kind)
    monkeypatch.setenv(alerts.WEBHOOK_ENV, url)
    con = duckdb.connect()
    store.create_all(con)
    started = time.monotonic()
    try:
        alerts.raise_alert(con, model_name="churn", kind="training_failed", severity="warning",
                           message="boom")  # fmt: skip
    finally:
        stop.set()
    elapsed = time.monotonic() - started
    [(delivery, detail)] = con.execute(
        "select delivery, delivery_detail from lineage.alerts"
    ).fetchall()
    printed = capsys.readouterr()
    assert delivery == "failed", detail
    assert f"http://127.0.0.1:{port}/***" in detail
    assert elapsed < alerts.DEADLINE_S + 5  # a deadline (a hang would fail here), not a timing
    for secret in SECRETS:
        assert secret not in printed.out + printed.err + detail


@pytest.mark.reliability  # four builds: `make reliability`
def test_a_bad_webhook_changes_no_build_outcome(built: Path, tmp_path: Path) -> None:
    """The same four endpoints, inside `dbt build`: the champion's artifact is gone, so scoring
    raises a critical alert (and serves the baseline); each build runs to its end and fails for
    that alert alone (the last on-run-end hook exits 1 on a critical alert, webhook or not), its
    alert is recorded as not delivered, and no secret reaches the build's output."""
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    promote_by_record(wh, "churn")
    shutil.move(wh / "ci.artifacts" / "models" / "churn", tmp_path / "moved")
    outcomes = {}
    for kind in ("down", "slow-drip", "not-http", "http-500"):
        url, _, stop = _bad_webhook(kind)
        try:
            done = dbt_build(wh, "--select", "ml_churn__score", check=False, timeout=600,
                             env={"CUSTOMER_ML_ALERT_WEBHOOK": url})  # fmt: skip
        finally:
            stop.set()
        con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
        alerts = con.execute(
            "select alert_kind, delivery, delivery_detail from lineage.alerts where invocation_id "
            "= (select invocation_id from lineage.builds order by finished_at desc limit 1)"
        ).fetchall()
        con.close()
        leaked = [s for s in SECRETS if s in done.stdout + done.stderr + str(alerts)]
        outcomes[kind] = (done.returncode, [(a[0], a[1]) for a in alerts], leaked)
    expected = (1, [("champion_artifact_unusable", "failed")], [])
    assert outcomes == dict.fromkeys(outcomes, expected), done.stdout[-3000:]


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://ops:pa55word@example.com/x",
        "gopher://example.com/",
        "http://",
        "http://example.com:notaport/",
        "not a url",
    ],
)
def test_only_http_webhooks_are_accepted(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from customer_ml.config import OperatorError
    from customer_ml.records import alerts, store

    monkeypatch.setenv(alerts.WEBHOOK_ENV, url)
    with pytest.raises(OperatorError, match="not an http:// or https:// URL") as caught:
        alerts.check_webhook()
    assert "pa55word" not in str(caught.value)
    con = duckdb.connect()
    store.create_all(con)
    alerts.raise_alert(
        con, model_name="churn", kind="training_failed", severity="warning", message="boom"
    )  # fmt: skip: raising an alert still never raises
    assert con.execute("select delivery from lineage.alerts").fetchall() == [("failed",)]


# --- analysts are never blocked and never block (item 6) ---

READER = """
import sys, time, duckdb
path, stop = sys.argv[1], sys.argv[2]
reads = errors = 0
import os
while not os.path.exists(stop):
    try:
        con = duckdb.connect(path, read_only=True)
        con.execute("select count(*) from lineage.builds").fetchall()
        con.execute("select count(*) from serving.fct_customer_scores").fetchall()
        con.close()
        reads += 1
    except Exception as e:
        errors += 1
        print(type(e).__name__, str(e).splitlines()[0], file=sys.stderr)
    time.sleep(0.05)
print(reads, errors)
"""


@pytest.mark.reliability
def test_sixteen_readers_and_an_idle_notebook_during_a_build(built: Path, tmp_path: Path) -> None:
    """The published analyst copy serves 16 polling readers during a build with 0 errors, an
    idle read-only connection to it does not block the build, and the build publishes anew."""
    import subprocess
    import sys

    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    analyst = wh / "ci.analyst.duckdb"
    stop = tmp_path / "stop"
    idle = subprocess.Popen(
        [sys.executable, "-c", IDLE, str(analyst), "600"], stdout=subprocess.PIPE, text=True
    )
    assert idle.stdout.readline().strip() == "1"  # connected before the build starts
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(analyst), str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(16)
    ]
    try:
        dbt_build(wh)  # fails the test if a reader or the idle connection blocks it
    finally:
        stop.touch()
        outcomes = [reader.communicate(timeout=60) for reader in readers]
        idle.kill()
    counts = [tuple(map(int, out.split())) for out, _ in outcomes]
    assert sum(errors for _, errors in counts) == 0, [err for _, err in outcomes if err][:3]
    assert all(reads > 0 for reads, _ in counts)
    con = duckdb.connect(str(analyst), read_only=True)
    assert con.execute("select count(*) from lineage.builds").fetchall() == [(2,)]
    con.close()


# --- a build's records count only once it finished (item 5) ---


def test_predictions_of_a_killed_build_are_never_served(built: Path, tmp_path: Path) -> None:
    """A prediction written by a build that never recorded its end (killed after scoring): newer
    than every other, for the model version that serves, it is still not served."""
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    con = duckdb.connect(str(wh / "ci.duckdb"))
    con.execute(
        "insert into ml.ml_churn__score select * replace ('killed-build' as invocation_id, "
        "'forged-prediction' as prediction_id, as_of + interval 31 day as as_of) "
        "from ml.ml_churn__score order by as_of desc, customer_id limit 1"
    )
    con.close()
    dbt_build(wh, "--select", "fct_customer_scores")
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    served = con.execute(
        "select count(*) from serving.fct_customer_scores where invocation_id = 'killed-build'"
    ).fetchall()
    recorded = con.execute(
        "select count(*) from lineage.predictions where prediction_id = 'forged-prediction'"
    ).fetchall()
    con.close()
    assert recorded == [(1,)]  # the row is there (append-only), and it is not served
    assert served == [(0,)]


# --- tamper-evident lineage (item 4) ---

TAMPERING = {
    "altered prediction": (
        "update ml.ml_churn__score set score = score + 0.01 where prediction_id = "
        "(select min(prediction_id) from ml.ml_churn__score)",
        ["ml.ml_churn__score: a row sealed in seal", "ml.ml_churn__score: 1 row(s) never sealed"],
    ),
    "deleted build": (
        "delete from lineage.builds",
        ["lineage.builds: a row sealed in seal"],
    ),
    "inserted approval": (
        "insert into lineage.approvals (request_id, decision, approver_role, approver) "
        "values ('req-forged', 'approve', 'ml_owner', 'mallory@example.com')",
        ["lineage.approvals: 1 row(s) never sealed (inserted by hand), first: (req-forged"],
    ),
    "altered seal": (
        "update lineage.seals set n_rows = n_rows + 1 where seal_seq = 2",
        ["lineage.seals: seal 2"],
    ),
    "deleted seal": (
        "delete from lineage.seals where seal_seq = 1",
        ["lineage.seals: seal 2"],
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_each_tampering_is_named(built: Path, tmp_path: Path, case: str) -> None:
    from customer_ml.records import chain

    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    con = duckdb.connect(str(wh / "ci.duckdb"))
    assert chain.verify(con) == []  # a finished build left nothing unsealed
    statement, expected = TAMPERING[case]
    con.execute(statement)
    problems = chain.verify(con)
    con.close()
    for start in expected:
        assert any(p.startswith(start) for p in problems), problems


def test_the_build_fails_on_a_broken_chain_and_full_refresh_keeps_the_records(
    built: Path, tmp_path: Path
) -> None:
    """`dbt build --full-refresh` leaves the append-only ml.* records as they were (the chain
    still verifies); the build's own test then fails naming an altered sealed row."""
    from conftest import cli

    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    count = "select count(*) from ml.ml_churn__score"
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    before = con.execute(count).fetchall()
    con.close()
    dbt_build(wh, "--full-refresh", "--select", "ml_churn__score")
    done = cli(wh, "verify-lineage", "--target", "ci")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nothing unsealed" in done.stdout
    con = duckdb.connect(str(wh / "ci.duckdb"))
    assert con.execute(count).fetchall() == before
    con.execute(TAMPERING["altered prediction"][0])
    con.close()
    failed = dbt_build(wh, "--select", "assert_lineage_chain_verifies", check=False)
    assert failed.returncode != 0
    assert "FAIL 1 assert_lineage_chain_verifies" in failed.stdout
    done = cli(wh, "verify-lineage", "--target", "ci")
    assert done.returncode == 1
    assert "BROKEN ml.ml_churn__score: a row sealed in seal" in done.stdout


@pytest.mark.parametrize("damage", ["missing", "altered"])
def test_an_unusable_champion_artifact_falls_back_to_the_baseline(
    tmp_path: Path, damage: str
) -> None:
    """Scoring with a champion whose artifact was moved away or altered serves the rule baseline
    and raises a critical alert instead of failing the build."""
    import hashlib

    from customer_ml.pipeline import scoring
    from customer_ml.records import store

    artifact = tmp_path / "model.txt"
    artifact.write_bytes(b"a model")
    sha = hashlib.sha256(b"a model").hexdigest()
    if damage == "missing":
        artifact.unlink()
    else:
        artifact.write_bytes(b"another model")
    con = duckdb.connect(str(tmp_path / "ci.duckdb"))
    store.create_all(con)
    store.append(con, "invocations", {"invocation_id": "inv-1", "recorded_at": "2026-01-01"})
    con.execute("create schema ml")
    con.execute(  # recorded relative to the warehouse's folder, as training records it
        "create table ml.ml_churn__train as select 'r1' as training_run_id, 'v1' as "
        f"model_version, 'model.txt' as artifact_path, '{sha}' as artifact_sha256"
    )
    store.append(
        con,
        "promotions",
        {"model_name": "churn", "training_run_id": "r1", "action": "promote",
         "promoted_at": promotion_time()},
    )  # fmt: skip
    assert scoring.serving_champion(con, "churn") is None  # the rule baseline serves
    [(kind, severity, message)] = con.execute(
        "select alert_kind, severity, message from lineage.alerts"
    ).fetchall()
    assert (kind, severity) == ("champion_artifact_unusable", "critical")
    assert "champion r1 not served" in message


def promotion_time():
    from customer_ml.records import lineage

    return lineage.utc_now()


def test_an_untracked_file_makes_the_tree_dirty(tmp_path: Path) -> None:
    """An untracked macro override changes what a build does: the tree is dirty (production
    training refuses it); an ignored file (generated output) does not count."""
    from conftest import git

    from customer_ml.records import lineage

    (tmp_path / ".gitignore").write_text("warehouse/\n")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "init")
    (tmp_path / "warehouse").mkdir()
    (tmp_path / "warehouse" / "dev.duckdb").write_text("generated")
    assert not lineage.git_state(tmp_path).is_dirty
    (tmp_path / "macros").mkdir()
    (tmp_path / "macros" / "override.sql").write_text("{% macro x() %}{% endmacro %}")
    assert lineage.git_state(tmp_path).is_dirty


def test_rows_of_a_killed_build_are_named_as_unfinished_not_as_tampering(
    built: Path, tmp_path: Path
) -> None:
    from customer_ml.records import chain

    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    con = duckdb.connect(str(wh / "ci.duckdb"))
    # what a build killed after scoring leaves: its invocation and predictions, no build record
    con.execute(
        "insert into lineage.invocations (invocation_id, target_name) values ('killed-x', 'ci')"
    )
    con.execute(
        "insert into ml.ml_churn__score select * replace ('killed-x' as invocation_id, "
        "'p-killed' as prediction_id) from ml.ml_churn__score limit 2"
    )
    assert chain.verify(con) == []
    assert chain.killed_builds(con) == [("killed-x", "ml.ml_churn__score", 2)]
    # the same rows claiming a finished build are tampering
    con.execute("update ml.ml_churn__score set invocation_id = 'never-ran' "
                "where prediction_id = 'p-killed'")  # fmt: skip
    assert any(p.startswith("ml.ml_churn__score: 2 row(s) never sealed") for p in chain.verify(con))
    con.close()


def test_a_chain_rewritten_consistently_fails_on_its_mlflow_anchor(
    built: Path, tmp_path: Path
) -> None:
    """Rewriting every seal so the chain verifies on its own (what someone with write access to
    the warehouse could do) is caught: the next build anchored the old head in MLflow."""
    from conftest import cli

    from customer_ml.records import chain, store

    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    dbt_build(wh, "--select", "fct_customer_scores")  # anchors the first build's head
    assert cli(wh, "verify-lineage", "--target", "ci").returncode == 0
    con = duckdb.connect(str(wh / "ci.duckdb"))
    con.execute("drop table lineage.sealed_rows")
    con.execute("drop table lineage.seals")
    store.create_all(con)
    chain.adopt(con, "mallory@example.com")
    assert chain.verify(con) == []  # consistent inside the warehouse
    con.close()
    done = cli(wh, "verify-lineage", "--target", "ci")
    assert done.returncode == 1
    # named by the anchors: a rewritten seal, or (fewer seals than anchored) a missing one
    assert "BROKEN lineage.seals: seal" in done.stdout and "anchored in MLflow" in done.stdout


@pytest.mark.parametrize("rows_too", [False, True])
def test_deleting_the_newest_seals_fails_verify_lineage(
    built: Path, tmp_path: Path, rows_too: bool
) -> None:
    """The newest seals deleted (with or without the sealed_rows that point at them) leave a
    chain that verifies inside the warehouse; the head the last build anchored in MLflow after
    its seals, and the dangling sealed rows, name it."""
    from conftest import cli

    from customer_ml.records import chain

    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    assert cli(wh, "verify-lineage", "--target", "ci").returncode == 0
    con = duckdb.connect(str(wh / "ci.duckdb"))
    [(last,)] = con.execute("select max(seal_seq) from lineage.seals").fetchall()
    con.execute("delete from lineage.seals where seal_seq >= ?", [last - 1])
    if rows_too:
        con.execute("delete from lineage.sealed_rows where seal_seq >= ?", [last - 1])
    else:
        assert any("point at seal" in p for p in chain.verify(con))
    con.close()
    done = cli(wh, "verify-lineage", "--target", "ci")
    assert done.returncode == 1
    assert f"seal {last}, which build" in done.stdout and "were deleted" in done.stdout, done.stdout


def test_artifact_folders_of_no_training_run_are_named(built: Path, tmp_path: Path) -> None:
    """A build killed after writing a run's artifacts and before recording the run leaves a
    folder no record points at (or a staging folder): verify-lineage names each, and passes."""
    from conftest import cli

    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    models = wh / "ci.artifacts" / "models" / "churn"
    recorded = sorted(p.name for p in models.iterdir())
    (models / "run-of-a-killed-build").mkdir()
    (models / ".staging-run-x-123").mkdir()
    from customer_ml.records import tracking

    tracking.log_training(
        wh / "ci.duckdb", model_name="churn", run_type="production",
        tags={"training_run_id": "run-of-a-killed-build"}, params={}, metrics={},
        artifact_dir=models / "run-of-a-killed-build",
    )  # fmt: skip
    done = cli(wh, "verify-lineage", "--target", "ci")
    assert done.returncode == 0, done.stdout + done.stderr
    named = [line for line in done.stdout.splitlines() if line.startswith("ORPHAN artifact")]
    assert [line.split()[3].rstrip(":").rsplit("/", 1)[1] for line in named] == [
        ".staging-run-x-123",
        "run-of-a-killed-build",
    ]
    assert "2 orphan artifact folder(s); 1 orphan MLflow run(s)" in done.stdout
    [run] = [line for line in done.stdout.splitlines() if line.startswith("ORPHAN MLflow")]
    assert "(run-of-a-killed-build)" in run
    assert recorded and not any(r in done.stdout for r in recorded)


# --- kill -9 during dbt build, then a rebuild (item 5; `make reliability`) ---


def _builds_with_kills(wh: Path, points: int) -> list[str]:
    """Kill `points` builds at moments spread over a build's duration, each followed by a build
    that must pass; each build trains anew (a new clv_penalizer), so the kills land in real
    writes. Returns one line per kill for the report."""
    import os
    import signal
    import subprocess

    from conftest import BIN, run_env

    def penalizer(i: int) -> float:
        # distinct per build, so each trains anew; small, so BG/NBD converges on the tiny data
        return round(0.001 + i * 1e-5, 6)

    def command(i: int) -> list[str]:
        paths = ["--target-path", str(wh / "target"), "--log-path", str(wh / "logs")]
        vars_ = ["--vars", f"{{clv_penalizer: {penalizer(i)}}}"]
        return [str(BIN / "dbt"), "build", "--target", "ci", *paths, *vars_]

    import conftest

    env = run_env(wh)
    started = time.monotonic()
    subprocess.run(command(1), env=env, cwd=conftest.PROJECT, check=True, capture_output=True)
    duration = time.monotonic() - started
    report = []
    for point in range(points):
        at = duration * (point + 1) / (points + 1)
        build = subprocess.Popen(
            command(100 + point), env=env, cwd=conftest.PROJECT, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        time.sleep(at)
        if build.poll() is None:
            os.killpg(build.pid, signal.SIGKILL)
        build.wait()
        report.append(f"kill at {at:.1f} s of {duration:.1f} s: exit {build.returncode}")
        done = dbt_build(wh, "--vars", f"{{clv_penalizer: {penalizer(200 + point)}}}")
        assert "Completed successfully" in done.stdout
    return report


@pytest.mark.reliability
def test_kill_9_during_builds_loses_and_duplicates_nothing(built: Path, tmp_path: Path) -> None:
    import os

    from conftest import cli

    from customer_ml.records import chain

    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    points = int(os.environ.get("KILL_POINTS", "20"))
    report = _builds_with_kills(wh, points)
    print("\n".join(report))
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    finished = "(select invocation_id from lineage.builds)"
    unfinished = (
        f"(select invocation_id from lineage.invocations where invocation_id not in {finished})"
    )
    for relation, key in (("lineage.predictions", "prediction_id"),
                          ("lineage.training_runs", "training_run_id")):  # fmt: skip
        [(n, distinct, orphans)] = con.execute(
            f"select count(*), count(distinct {key}), count(*) filter (where invocation_id not "
            f"in {finished} and invocation_id not in {unfinished}) from {relation}"
        ).fetchall()
        assert n == distinct, f"{relation}: duplicated {key}"
        assert orphans == 0, f"{relation}: rows of no known build"
    served_from_unfinished = con.execute(
        f"select count(*) from serving.fct_customer_scores where invocation_id in {unfinished}"
    ).fetchall()
    leftovers = con.execute(
        "select count(*) from information_schema.tables where table_name like '%dbt_tmp%'"
    ).fetchall()
    problems = chain.verify(con)
    con.close()
    assert served_from_unfinished == [(0,)]
    assert leftovers == [(0,)]
    assert problems == []
    for command in ("verify-snapshots", "verify-lineage"):
        done = cli(wh, command, "--target", "ci")
        assert done.returncode == 0, done.stdout + done.stderr


def _served(wh: Path) -> list[tuple]:
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    try:
        return con.execute(
            "select model_name, customer_id, score, invocation_id from "
            "serving.fct_customer_scores order by 1, 2"
        ).fetchall()
    finally:
        con.close()


@pytest.mark.reliability  # two builds from an empty warehouse: `make reliability`
def test_a_build_killed_after_scoring_and_training_changes_nothing_later(
    tiny_data: Path, tmp_path: Path
) -> None:
    """A first build killed (kill -9, CUSTOMER_ML_KILL_AT=record) after every model trained and
    scored, before it was recorded: the next build trains every model again (the killed runs are
    not "trained already") and scores and serves every customer (the killed predictions are not
    "already there"); verify-lineage passes and names the killed build as unfinished."""
    from conftest import cli, load_tiny

    wh = tmp_path / "wh"
    load_tiny(wh, tiny_data)
    killed = dbt_build(wh, check=False, env={"CUSTOMER_ML_KILL_AT": "record"})
    assert killed.returncode == -9, killed.stdout[-2000:]
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    [(trained_killed,)] = con.execute(
        "select count(*) from ml.ml_churn__train where status = 'success'"
    ).fetchall()
    [(scored_killed,)] = con.execute("select count(*) from ml.ml_churn__score").fetchall()
    con.close()
    assert trained_killed == 1 and scored_killed > 0  # the kill came after training and scoring
    dbt_build(wh)
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    for model in ("churn", "clv", "segments"):
        [(runs, versions, finished)] = con.execute(
            f"select count(*), count(distinct model_version), count(*) filter (where "
            f"invocation_id in (select invocation_id from lineage.builds)) "
            f"from ml.ml_{model}__train where status = 'success'"
        ).fetchall()
        assert (runs, versions, finished) == (2, 1, 1), model  # trained again, same version
    [(scored, customers)] = con.execute(
        "select count(*), count(distinct customer_id) from ml.ml_churn__score where "
        "invocation_id in (select invocation_id from lineage.builds)"
    ).fetchall()
    con.close()
    assert scored == customers == scored_killed  # everyone the killed build scored, scored again
    served = _served(wh)
    assert served and not any(i is None for *_, i in served)
    done = cli(wh, "verify-lineage", "--target", "ci")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "UNFINISHED build" in done.stdout


@pytest.mark.reliability  # two builds: `make reliability`
def test_a_build_killed_inside_the_seal_hook_is_sealed_by_the_next(
    built: Path, tmp_path: Path
) -> None:
    """A build killed inside its seal hook (CUSTOMER_ML_KILL_AT=seal, after its first seal) has
    finished (a lineage.builds row) with rows never sealed: verify-lineage passes and names it as
    stopped while sealing (not "inserted by hand"); the next build seals its rows; a builds row
    forged with SQL (no MLflow run) gets no such pass."""
    from conftest import cli

    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    killed = dbt_build(wh, "--select", "fct_customer_scores", check=False,
                       env={"CUSTOMER_ML_KILL_AT": "seal"})  # fmt: skip
    assert killed.returncode == -9, killed.stdout[-2000:]
    done = cli(wh, "verify-lineage", "--target", "ci")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "UNSEALED build" in done.stdout and "stopped while sealing" in done.stdout
    dbt_build(wh, "--select", "fct_customer_scores")
    done = cli(wh, "verify-lineage", "--target", "ci")
    assert done.returncode == 0 and "UNSEALED" not in done.stdout, done.stdout + done.stderr
    con = duckdb.connect(str(wh / "ci.duckdb"))
    con.execute("insert into lineage.builds (invocation_id, target_name) values ('forged', 'ci')")
    con.close()
    done = cli(wh, "verify-lineage", "--target", "ci")
    assert done.returncode == 1 and "never sealed (inserted by hand)" in done.stdout


def test_a_build_leaves_no_temporary_relations(built: Path) -> None:
    con = duckdb.connect(str(built / "ci.duckdb"), read_only=True)
    leftovers = con.execute(
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_name like '%dbt_tmp%' or table_name like '%dbt_backup%'"
    ).fetchall()
    con.close()
    assert leftovers == []


def test_a_held_warehouse_makes_cli_writes_wait_then_fail_in_one_line(tmp_path: Path) -> None:
    """A second writer (a load while another load or a build runs, or a notebook holding the
    file) waits up to CUSTOMER_ML_LOCK_TIMEOUT, then gets one line naming the holder."""
    import subprocess
    import sys

    from conftest import BIN, run_env

    wh = tmp_path / "ci.duckdb"
    duckdb.connect(str(wh)).close()
    hold = "import sys, time, duckdb; c = duckdb.connect(sys.argv[1]); print(1, flush=True); "
    hold += "time.sleep(600)"
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(wh)], stdout=subprocess.PIPE, text=True
    )
    try:
        holder.stdout.readline()
        orders = tmp_path / "o.csv"
        orders.write_text("customer_id,ordered_at,amount\n1,2025-01-01,3\n")
        env = {**run_env(tmp_path), "CUSTOMER_ML_LOCK_TIMEOUT": "1"}
        started = time.monotonic()
        done = subprocess.run(
            [str(BIN / "customer-ml"), "load", "--warehouse", str(wh), "--orders", str(orders)],
            env=env,
            capture_output=True,
            text=True,
        )
        waited = time.monotonic() - started
    finally:
        holder.kill()
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"(PID {holder.pid})" in done.stderr and "waited 1 s" in done.stderr, done.stderr
    assert waited >= 1  # it waited before giving up


@pytest.mark.reliability  # two builds, ~90 s: `make reliability`
def test_a_build_waits_for_a_held_warehouse(built: Path, tmp_path: Path) -> None:
    """dbt build waits for the lock like the CLI: a notebook that lets go within the timeout
    delays the build, one that holds on fails it with a line naming the holder."""
    import subprocess
    import sys

    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    hold = "import sys, time, duckdb; c = duckdb.connect(sys.argv[1], read_only=True); "
    hold += "print(1, flush=True); time.sleep(float(sys.argv[2]))"
    outcomes = []
    for held_s, timeout_s in ((4, "120"), (600, "2")):
        holder = subprocess.Popen(
            [sys.executable, "-c", hold, str(wh / "ci.duckdb"), str(held_s)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            holder.stdout.readline()
            done = dbt_build(
                wh, "--select", "raw_rows_excluded", check=False,
                env={"CUSTOMER_ML_LOCK_TIMEOUT": timeout_s},
            )  # fmt: skip
        finally:
            holder.kill()
            holder.wait()
        outcomes.append((done.returncode == 0, f"(PID {holder.pid})" in done.stdout))
    assert outcomes == [(True, False), (False, True)], done.stdout[-3000:]
    assert "waited 2 s" in done.stdout


@pytest.mark.parametrize(
    "tail",
    ["/hooks/Sekr1tPath?token=Sekr1tToken withspace", "/hooks/x?token=Sekr1tToken\r\nX-Evil: 1",
     "/hooks/x?token=Sekr1tToken\tand%20more", "/h?token=Sekr1tToken#frag\u00e9ment"],
)  # fmt: skip
def test_a_malformed_webhook_url_keeps_its_secrets(
    tail: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """http.client quotes only part of a URL it refuses (a space, CR/LF): whatever the URL holds,
    no part of it beyond scheme, host and port reaches stderr or the record (issue 35)."""
    from customer_ml.records import alerts, store

    url = f"http://user:Sekr1tPass@127.0.0.1:{_down_port()}{tail}"
    monkeypatch.setenv(alerts.WEBHOOK_ENV, url)
    con = duckdb.connect()
    store.create_all(con)
    alerts.raise_alert(con, model_name="churn", kind="training_failed", severity="warning",
                       message="boom")  # fmt: skip
    [(delivery, detail)] = con.execute(
        "select delivery, delivery_detail from lineage.alerts"
    ).fetchall()
    printed = capsys.readouterr()
    assert delivery == "failed"
    for secret in ("Sekr1t", "withspace", "Evil", "frag", "more"):
        assert secret not in printed.out + printed.err + detail, (secret, detail)
