"""dbt-duckdb plugin: creates the lineage tables (customer_ml.records.store) when a build opens the
warehouse, and gives the connection a `log_build(payload, snapshot_ids)` SQL function, which the
on-run-end hook calls to mirror each plain `dbt build` into MLflow.

The function returns a JSON object (git state, node and test counts, MLflow run id) that the hook
appends to `lineage.builds`, the source of truth.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
from typing import Any

import duckdb
from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from customer_ml import config
from customer_ml.records import alerts, chain, lineage, store

NODE_OK = {"success"}
NODE_FAILED = {"error", "runtime error"}
TEST_OK = {"pass", "warn"}
TEST_FAILED = {"fail", "error"}


def summarize(nodes: list[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(
        ["nodes_succeeded", "nodes_failed", "nodes_skipped", "tests_passed", "tests_failed"], 0
    )
    for node in nodes:
        status = node["status"].lower()
        if node["resource_type"] in ("test", "unit_test"):
            if status in TEST_OK:
                counts["tests_passed"] += 1
            elif status in TEST_FAILED:
                counts["tests_failed"] += 1
            else:
                counts["nodes_skipped"] += 1
        elif status in NODE_OK:
            counts["nodes_succeeded"] += 1
        elif status in NODE_FAILED:
            counts["nodes_failed"] += 1
        else:
            counts["nodes_skipped"] += 1
    return counts


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.plugin_config = plugin_config
        # Checked when the build starts, before any node runs (an error here stops the build
        # whole): the webhook, not when the first alert fires mid-build; the --vars, not when a
        # training node reads them (an operator error, never a training failure).
        alerts.check_webhook()
        config.simulated_start()  # a malformed CUSTOMER_ML_NOW is one line, before any node
        from dbt.flags import get_flags

        from customer_ml.pipeline import build_vars

        given = dict(getattr(get_flags(), "VARS", None) or {})
        build_vars.check_build_vars(given)
        from customer_ml.pipeline import costs, quotas, retraining_policy
        from customer_ml.replay import backfill

        # A backfill's vars (customer_ml.replay.backfill), checked here: its id names its file.
        self.backfill = backfill.spec(
            given, on_backfill_target=plugin_config.get("role") == "backfill"
        )

        quotas.check()
        costs.check()
        retraining_policy.check()

    def update_connection_config(self, creds: Any, config: dict[str, Any]) -> None:
        """Called just before dbt opens the warehouse: wait while another process holds it, like
        every CLI write (config.connect: up to CUSTOMER_ML_LOCK_TIMEOUT, then one line naming
        the holder), instead of failing at once."""
        from customer_ml import config as settings

        path = str(getattr(creds, "path", "") or "")
        if getattr(self, "backfill", None):
            from pathlib import Path

            from customer_ml.replay import backfill

            expected = backfill.backfill_file(self.backfill["backfill_id"])
            if Path(path).resolve() != expected:
                raise settings.OperatorError(
                    f"target backfill opens {path}, not {expected}: the profile must name "
                    "backfills/<backfill_id>.duckdb"
                )
            expected.parent.mkdir(parents=True, exist_ok=True)
        if path and path != ":memory:" and not path.startswith("md:"):
            settings.connect(path).close()

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        config.set_duckdb_resources(
            conn, self.plugin_config.get("memory_default", config.DUCKDB_MEMORY_DEFAULT)
        )
        warehouse = lineage.warehouse_file(conn)
        # The lineage tables come from their one declaration, before any hook writes to them.
        store.create_all(conn)
        lineage.check_clock(conn)
        if getattr(self, "backfill", None):
            from customer_ml.replay import backfill

            backfill.prepare(conn, self.backfill)

        def log_build(payload: str, snapshot_ids: str) -> str:
            config.fault_point("record")
            build = json.loads(payload)
            git = lineage.git_state()
            record = {
                "invocation_id": build["invocation_id"],
                "target_name": build["target_name"],
                "run_started_at": build["run_started_at"],
                "git_commit": git.commit,
                "is_dirty": git.is_dirty,
                "run_type": build["run_type"],
                "snapshot_ids": snapshot_ids,
                "nodes": build["nodes"],
                **summarize(build["nodes"]),
                "clock_at": str(lineage.utc_now()) if config.simulated_start() else None,
            }
            cursor = conn.cursor()
            try:
                from customer_ml.governance import champions
                from customer_ml.pipeline import retraining
                from customer_ml.records import registry

                retraining.record_skipped_by_failures(cursor, build["nodes"], build["run_type"])
                if not self.backfill:  # a backfill's file has no registry of its own
                    champions.check_registry_aliases(cursor)
                    from customer_ml.replay import backfill_files

                    backfill_files.record_in_production(cursor, warehouse)
                record["chain_head"] = chain.head(cursor)
                record["training_mlflow_run_ids"] = registry.mlflow_runs_of_build(
                    cursor, build["invocation_id"]
                )
                record["retraining"] = {
                    model: {"action": action, "reasons": json.loads(reasons)}
                    for model, action, reasons in cursor.execute(
                        "select model_name, action, reasons_json from "
                        "lineage.retraining_decisions where invocation_id = ? order by decided_at",
                        [build["invocation_id"]],
                    ).fetchall()
                }
            finally:
                cursor.close()
            from customer_ml.records import tracking

            record["mlflow_run_id"] = tracking.log_build(warehouse, record)
            return json.dumps(record)

        def stage_analyst_copy(published: str, staging: str) -> str:
            """The analyst copy's new file starts as a byte copy of the published one, when there
            is one (macros/analyst_copy.sql); readers of the published file are not disturbed.
            Staging files of builds killed while publishing are removed first (one build writes
            at a time, and this one's does not exist yet, so any is a leftover)."""
            for leftover in glob.glob(glob.escape(published) + ".*"):
                if re.fullmatch(r"\.[0-9a-f-]{36}(\.wal)?", leftover[len(published) :]):
                    os.remove(leftover)
            if not os.path.exists(published):
                return "new"
            shutil.copyfile(published, staging)
            os.chmod(staging, 0o644)
            try:  # a damaged publication is not built on: the copy starts empty instead
                duckdb.connect(staging).close()
            except duckdb.Error:
                os.remove(staging)
                return "new"
            return "copied"

        def publish(staging: str, published: str) -> str:
            """The analyst copy written (macros/analyst_copy.sql) replaces the published one in
            one rename, read-only: nothing but the next build's copy of it changes what analysts
            read."""
            os.chmod(staging, 0o444)
            os.replace(staging, published)
            return published

        def seal(invocation_id: str) -> str:
            """At the build's end: seal the rows this build wrote (customer_ml.records.chain) and
            anchor the new head on the build's MLflow run."""
            from customer_ml.records import tracking

            cursor = conn.cursor()
            try:
                interrupted = [i for i in chain.interrupted_seals(cursor) if i != invocation_id]
                if interrupted:  # rare: MLflow is asked only then
                    anchored = {i for i, _ in tracking.chain_anchors(warehouse)}
                    interrupted = [i for i in interrupted if i in anchored]
                n = chain.seal_build(cursor, invocation_id, interrupted)
                head = chain.head(cursor)
                run = cursor.execute(
                    "select mlflow_run_id from lineage.builds where invocation_id = ?",
                    [invocation_id],
                ).fetchall()
            finally:
                cursor.close()
            if n and run and run[0][0]:
                tracking.anchor_sealed_head(warehouse, run[0][0], head)
            return f"sealed {n} rows"

        def verify_sealed(_: str) -> list[str]:
            """The chain's problems among sealed rows (a build's own rows are not sealed yet)."""
            cursor = conn.cursor()
            try:
                return chain.verify(cursor, include_unsealed=False)
            finally:
                cursor.close()

        def backfill_finish(invocation_id: str, status: str) -> str:
            """At a backfill build's end: its closing record (customer_ml.replay.backfill)."""
            from customer_ml.replay import backfill

            cursor = conn.cursor()
            try:
                return backfill.finish(cursor, invocation_id, status == "succeeded")
            finally:
                cursor.close()

        def tree_is_clean() -> bool:
            """Whether the project's git tree is clean now (untracked files count as dirty)."""
            return not lineage.git_state().is_dirty

        for name, function, arity, returns in (
            ("log_build", log_build, 2, "VARCHAR"),
            ("customer_ml_stage_analyst_copy", stage_analyst_copy, 2, "VARCHAR"),
            ("customer_ml_publish", publish, 2, "VARCHAR"),
            ("customer_ml_seal", seal, 1, "VARCHAR"),
            ("customer_ml_verify_sealed", verify_sealed, 1, "VARCHAR[]"),
            ("customer_ml_tree_is_clean", tree_is_clean, 0, "BOOLEAN"),
            ("customer_ml_backfill_finish", backfill_finish, 2, "VARCHAR"),
        ):
            try:
                conn.create_function(
                    name, function, ["VARCHAR"] * arity, returns, side_effects=True
                )
            except Exception as e:  # already registered on this shared connection
                if "already" not in str(e).lower():
                    raise
