"""Operate the simulated year week by week, as a team would, through the commands people and
schedulers use (customer-ml and dbt, each a process of its own, on the project's clock set to the
week's Monday 06:00 with CUSTOMER_ML_NOW): load the week's data; the daily scoring selection (one
build per week); each model's training selection on its cadence (churn weekly, CLV monthly,
segments quarterly); a promotion of every new training run that passes its gates, approved by
the people of config/owners.yml with their (demo) keys; the verifications monthly and at the
end; the scenarios of customer_ml.season.year on their dates.

The season's warehouse, data and MLflow store live in its own folder (`<out>/warehouse`): a
simulated clock is refused on a warehouse that knows the real one (lineage.check_clock).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from customer_ml import catalogue, config
from customer_ml.data.generate import generate
from customer_ml.models import evaluation
from customer_ml.season.year import Year

BIN = Path(sys.executable).parent
MARKER = ".customer-ml-season"
AS_OF_START = "2024-01-01"
TABLES = {"orders": "orders", "customers": "customers", "events": "engagement_events",
          "business-events": "business_events"}  # fmt: skip
TRAINING = {"churn": lambda d: True, "clv": lambda d: d.day <= 7,
            "segments": lambda d: d.day <= 7 and d.month in (1, 4, 7, 10)}  # fmt: skip


def worth_promoting(model: str, metrics: dict[str, Any]) -> bool:
    """The season's owners review a candidate that passes its gates and promote it when there
    is no champion, or when it beats the champion, on the candidate's holdout, by at least the
    model's regression tolerance: a real improvement, not every retrain (a champion then serves
    long enough for its matured performance to be judged)."""
    entry = catalogue.entry(model)
    mine = (metrics.get("candidate") or {}).get(entry.primary_metric)
    theirs = (metrics.get("champion") or {}).get(entry.primary_metric)
    if theirs is None:
        return True
    if mine is None:
        return False
    gain = mine - theirs if entry.greater_is_better else theirs - mine
    return gain >= evaluation.allowed_slack(entry, theirs)


@dataclass
class Step:
    week: int
    clock: str
    kind: str  # load, scoring, training, promote, approve, verify, backfill, reproduce
    command: str
    status: int
    seconds: float
    invocation_id: str | None = None
    detail: str = ""


class Season:
    def __init__(
        self, year: Year, out: Path, scale: str, seed: int, progress: Callable[[str], None]
    ) -> None:
        self.year, self.out, self.scale, self.seed, self.progress = year, out, scale, seed, progress
        self.warehouse_dir = out / "warehouse"
        self.warehouse = self.warehouse_dir / "dev.duckdb"
        self.steps: list[Step] = []
        self.ticks: dict[int, int] = {}
        self.reviewed: set[str] = set()  # training runs the owners looked at
        self.project = config.project_dir()

    # --- running things ---------------------------------------------------------------------

    def tick(self, week: int) -> datetime:
        """The clock of the next step of `week`: the week's Monday 06:00, then 15 minutes per
        step, as scheduled jobs follow one another (each process's clock ticks on from there,
        and a warehouse's clock never goes backwards)."""
        self.ticks[week] = self.ticks.get(week, -1) + 1
        return self.year.clock(week) + timedelta(minutes=15 * self.ticks[week])

    def env(self, week: int, user: str = config.DEMO_REQUESTER) -> dict[str, str]:
        return {
            **os.environ,
            "CUSTOMER_ML_HOME": str(self.project),
            "PYTHONPATH": str(self.project / "src"),  # the project's own package
            "DBT_PROFILES_DIR": str(self.project / "profiles"),
            "CUSTOMER_ML_WAREHOUSE_DIR": str(self.warehouse_dir),
            config.CLOCK: self.tick(week).isoformat(),
            "CUSTOMER_ML_SIGNING_KEY": str(config.demo_key(user)),
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }

    def run(self, week: int, kind: str, args: list[str], user: str = config.DEMO_REQUESTER) -> Step:
        started = time.monotonic()
        env = self.env(week, user)
        done = subprocess.run(args, env=env, cwd=self.project, capture_output=True, text=True)
        log = self.out / "logs" / f"{len(self.steps) + 1:04d}-week{week:02d}-{kind}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ {' '.join(args)}\n# {config.CLOCK}={env[config.CLOCK]}\n"
                       f"{done.stdout}\n{done.stderr}")  # fmt: skip
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [""]
        step = Step(week, self.year.clock(week).isoformat(), kind,
                    " ".join(a if "/" not in a else Path(a).name for a in args[:6]),
                    done.returncode, round(time.monotonic() - started, 2),
                    detail=tail[0][:300])  # fmt: skip
        if args[0].endswith("dbt"):
            step.invocation_id = self.last_build()
        self.steps.append(step)
        if kind in ("first build", "scoring", "training", "load", "promote", "approve") and (
            step.status
        ):
            self.progress(f"week {week}: {kind} exit {step.status}: {step.detail}")
        return step

    def cli(self, week: int, kind: str, *args: str, user: str = config.DEMO_REQUESTER) -> Step:
        return self.run(week, kind, [str(BIN / "customer-ml"), *args], user)

    def dbt(self, week: int, kind: str, selector: str) -> Step:
        # monthly as_of dates from a year before the season (labels have matured for those by
        # week 1) to the first of the week's month
        as_of_end = self.year.clock(week).date().replace(day=1)
        vars_ = json.dumps({"as_of_start": AS_OF_START, "as_of_end": str(as_of_end)})
        return self.run(week, kind, [str(BIN / "dbt"), "build", "--target", "dev",
                                     "--selector", selector, "--vars", vars_])  # fmt: skip

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        con = config.connect(self.warehouse, read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()

    def last_build(self) -> str | None:
        if not self.warehouse.exists():
            return None
        try:
            rows = self.query("select invocation_id from lineage.builds order by clock_at desc "
                              "nulls last, finished_at desc limit 1")  # fmt: skip
        except duckdb.Error:
            return None
        return rows[0][0] if rows else None

    # --- a week -----------------------------------------------------------------------------

    def data(self, week: int, name: str, **kw: Any) -> Path:
        folder = self.out / "data" / f"week-{week:02d}-{name}"
        if not (folder / "orders.parquet").exists():
            generate(self.scale, self.seed, folder, knobs=self.year.slice_knobs(week, **kw))
        return folder

    def load(self, week: int, folder: Path, tables: tuple[str, ...] = tuple(TABLES)) -> Step:
        files = [a for t in tables for a in (f"--{t}", str(folder / f"{TABLES[t]}.parquet"))]
        return self.cli(week, "load", "load", "--target", "dev", *files)

    def week(self, week: int) -> None:
        clock = self.year.clock(week)
        self.progress(f"week {week} ({clock:%Y-%m-%d})")
        stale = self.year.scenario("stale_feed")
        if self.year.active("stale_feed", week):
            self.load(week, self.data(week, "week"), ("customers", "events", "business-events"))
        elif stale and week == (stale.until_week or stale.week) + 1:  # the feed catches up
            self.load(week, self.data(week, "week"), ("customers", "events", "business-events"))
            self.load(week, self.data(week, "catch-up", since_week=stale.week), ("orders",))
        else:
            if self.year.active("bad_load", week):
                count = "select count(*) from raw.orders"
                [(before,)] = self.query(count)
                bad = self.load(week, self.data(week, "bad", bad=True), ("orders",))
                [(after,)] = self.query(count)
                bad.kind = "bad_load"
                bad.detail += f" | raw.orders {before} -> {after} rows"
            self.load(week, self.data(week, "week"))
        if week == 1:  # the first deployment builds everything, as `make run` does
            self.dbt(week, "first build", "ci")
        else:
            self.dbt(week, "scoring", "scoring")
            for model, due in TRAINING.items():
                if due(clock.date()):
                    self.dbt(week, "training", f"{model}_training")
        self.promote_new_runs(week)
        if clock.day <= 7:
            self.verify(week)
        if self.year.active("backfill", week):
            self.backfill(week)

    def promote_new_runs(self, week: int) -> None:
        if not self.query("select 1 from information_schema.tables where table_schema = "
                          "'lineage' and table_name = 'training_runs'"):  # fmt: skip
            return  # no training build has finished yet
        runs = self.query(
            "select model_name, training_run_id, metrics_json from lineage.training_runs t "
            "where status = "
            "'success' and run_type = 'production' and invocation_id in (select invocation_id "
            "from lineage.builds) and training_run_id not in (select training_run_id from "
            "lineage.promotion_requests where training_run_id is not null) order by started_at"
        )
        for model, run, metrics in runs:
            if run in self.reviewed:  # a run refused once is not asked about again
                continue
            self.reviewed.add(run)
            if not worth_promoting(model, json.loads(metrics or "{}")):
                continue
            opened = self.cli(week, "promote", "promote", model, "--run", run, "--target", "dev",
                              "--json")  # fmt: skip
            if opened.status:
                continue
            [(request,)] = self.query("select request_id from lineage.promotion_requests where "
                                      "training_run_id = ?", [run])  # fmt: skip
            for role in json.loads(self.query("select required_roles from "
                                              "lineage.promotion_requests where request_id = ?",
                                              [request])[0][0]):  # fmt: skip
                who = config.demo_approver(role, model)
                self.cli(week, "approve", "approve", request, "--role", role, "--target", "dev",
                         user=who)  # fmt: skip

    def verify(self, week: int) -> None:
        for command in ("verify-snapshots", "verify-lineage"):
            self.cli(week, "verify", command, "--target", "dev")

    def backfill(self, week: int) -> None:
        month = self.year.clock(week).date().replace(day=1)
        closed = (month - timedelta(days=1)).replace(day=1)
        backfill_id = f"season-de-{closed:%Y%m}"
        vars_ = json.dumps({"backfill_id": backfill_id, "cohort": "country_de",
                            "as_of_start": str(closed), "as_of_end": str(closed)})  # fmt: skip
        step = self.run(week, "backfill", [str(BIN / "dbt"), "build", "--target", "backfill",
                                           "--selector", "backfill", "--vars", vars_])  # fmt: skip
        if step.status == 0:
            self.cli(week, "backfill", "backfill", "diff", backfill_id, "--json")
            self.cli(week, "backfill", "backfill", "publish", backfill_id, "--json")

    # --- the year ---------------------------------------------------------------------------

    def operate(self) -> None:
        marker = self.out / MARKER
        if self.out.exists() and any(self.out.iterdir()) and not marker.exists():
            raise config.OperatorError(
                f"--out {self.out}: not empty and not a season's folder; a season empties its "
                "folder first, so give a new one"
            )
        if self.out.exists():
            shutil.rmtree(self.out)  # a season starts from an empty warehouse
        self.out.mkdir(parents=True)
        marker.write_text("a customer-ml season's folder: the next season empties it\n")
        for week in range(1, self.year.weeks + 1):
            self.week(week)
        last = self.year.weeks
        self.verify(last)
        self.reproduce(last)

    def reproduce(self, week: int) -> None:
        """A served prediction of each model from the first, middle and last quarter of the
        year (of the weeks operated), reproduced bit for bit."""
        weeks = self.year.weeks
        for model in ("churn", "clv", "segments"):
            for quarter in sorted({1, max(1, weeks // 2), weeks}):
                found = self.query(
                    "select p.prediction_id from lineage.predictions p join lineage.builds b "
                    "using (invocation_id) where p.model_name = ? and b.clock_at < ? "
                    "order by b.clock_at desc, p.prediction_id limit 1",
                    [model, self.year.clock(quarter + 1)],  # served by the end of that week
                )
                if found:
                    step = self.cli(week, "reproduce", "reproduce", "--prediction-id",
                                    found[0][0], "--target", "dev")  # fmt: skip
                    step.detail = f"{model} week {quarter}: {step.detail}"

    def steps_json(self) -> list[dict[str, Any]]:
        return [asdict(s) for s in self.steps]
