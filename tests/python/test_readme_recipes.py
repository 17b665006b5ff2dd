"""The docs' recipes, run as written: "CLV on your own transaction log" (docs/models.md; a bare
transaction log — customer_id, ordered_at, amount; some $0 purchases — loaded and built with its
command and vars, then its query; only the binary paths and the file name are substituted), and
every SQL block, marked runnable, on a built warehouse."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import duckdb
from conftest import BIN, REPO, run_env


def _section(readme: str, heading: str) -> str:
    start = readme.index(heading)
    end = readme.find("\n## ", start + len(heading))
    return readme[start : end if end > 0 else None]


def test_clv_on_your_own_transaction_log(project: Path, tiny_data: Path, tmp_path: Path) -> None:
    section = _section(
        (REPO / "docs" / "models.md").read_text(), "## CLV on your own transaction log"
    )
    shell, sql = re.findall(r"```(?:sh|sql)\n(.*?)```", section, flags=re.S)[:2]
    log = tmp_path / "my_transactions.csv"
    con = duckdb.connect()
    con.execute(
        f"copy (select customer_id, ordered_at, amount from '{tiny_data / 'orders.parquet'}' "
        f"order by ordered_at) to '{log}' (header)"
    )
    assert con.execute(f"select count(*) from '{log}' where amount = 0").fetchall()[0][0] > 0
    script = (
        shell.replace(".venv/bin/", f"{BIN}/")
        .replace("my_transactions.csv", str(log))
        .replace("$PWD", str(project))
    )
    wh = tmp_path / "wh"
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=project,
        env=run_env(wh, project),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    warehouse = duckdb.connect(str(wh / "dev.duckdb"), read_only=True)
    try:
        [(run_id, params, metrics)] = warehouse.execute(sql).fetchall()
        [(config,)] = warehouse.execute(
            f"select config_json from lineage.training_runs where training_run_id = '{run_id}'"
        ).fetchall()
        [(customers, free_purchases)] = warehouse.execute(
            "select count(distinct customer_id), count(*) filter (where amount = 0) "
            "from datasets.clv_transactions_v1 where period = 'scoring'"
        ).fetchall()
        scored = warehouse.execute("select count(*) from ml.ml_clv__score").fetchall()[0][0]
    finally:
        warehouse.close()
    assert set(json.loads(params)["scoring"]) == {"r", "alpha", "a", "b", "p", "q", "v"}
    assert "holdout_transactions_abs_relative_error" in json.loads(metrics)["candidate"]
    assert json.loads(config)["clv_time_unit"] == "days"
    # $0 purchases are purchases: kept in the transactions, and every customer known at the
    # scoring as_of is scored
    assert free_purchases > 0
    assert scored == customers


RUNNABLE = "<!-- runnable: make test runs this on a built warehouse -->"


def test_every_sql_block_of_the_readme_is_marked_runnable_and_runs(
    built: Path, tmp_path: Path
) -> None:
    """Every SQL block in the README and docs/ is marked runnable, and each of its statements
    runs as written on a built warehouse (the tiny ci build) and returns rows: a query that names a
    column or relation that no longer exists fails here."""
    import shutil

    # the README and the pages it sends readers to
    readme = "\n".join(
        p.read_text() for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    )
    blocks = re.findall(r"(.*)\n```sql\n(.*?)```", readme, flags=re.S | re.M)
    marked = re.findall(re.escape(RUNNABLE) + r"\n```sql\n(.*?)```", readme, flags=re.S)
    assert blocks and len(marked) == readme.count("```sql\n"), "an SQL block is not marked"
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    con = duckdb.connect(str(wh / "ci.duckdb"), read_only=True)
    try:
        for block in marked:
            for statement in (s.strip() for s in block.split(";")):
                if not statement or statement.startswith("--") and "\n" not in statement:
                    continue
                rows = con.execute(statement).fetchall()
                assert rows, f"no rows from the README's query:\n{statement}"
    finally:
        con.close()
