"""`customer-ml backfill publish`: a backfill's rescored past predictions into production, only
with recorded approvals, by the same roles and rules as a promotion
(customer_ml.governance.promotion).

`prepare` checks that the backfill succeeded and scores production's current past predictions in
its slice again (customer_ml.replay.backfill_diff, production attached READ_ONLY); `open_requests`
writes the changed ones to a content-addressed Parquet file beside production's artifacts and opens
one request per model in lineage.promotion_requests (`request_kind` backfill_publish) naming that
file and its sha256, and linking the diff report. Every approval re-checks the request
(`recheck`); when the model's roles have approved, `carry_out` appends the rows to
lineage.published_predictions. The originals are kept: serving (serving.fct_customer_scores) and
lineage (lineage.prediction_versions) show the published row as the current one for its
(customer, model, as_of). A backfill whose recomputation changes no prediction publishes
nothing; a backfill's features and labels never go to production.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from customer_ml import catalogue, config
from customer_ml.governance.errors import PromotionError
from customer_ml.governance.requests import append_request, read_request
from customer_ml.records import lineage, registry, store
from customer_ml.replay import backfill, backfill_diff

KIND = "backfill_publish"


@dataclass(frozen=True)
class Prepared:
    backfill_id: str
    production: Path
    record: dict[str, Any]  # the backfill's `succeeded` record
    rows: dict[str, pd.DataFrame]  # model -> the predictions to publish
    report: Path  # the diff report (customer-ml backfill diff)


def succeeded(backfill_id: str) -> tuple[Path, dict[str, Any]]:
    """The backfill's file and its `succeeded` record; PromotionError otherwise."""
    if not backfill.ID_PATTERN.fullmatch(backfill_id):
        raise PromotionError(f"{backfill_id!r} is not a backfill id")
    path = backfill.backfill_file(backfill_id)
    if not path.exists():
        raise PromotionError(f"no backfill {backfill_id} ({path} does not exist)")
    con = config.connect(path, read_only=True)
    try:
        latest = backfill_diff.latest_record(con)
    except duckdb.CatalogException:
        latest = None
    finally:
        con.close()
    if latest is None or latest["status"] != "succeeded":
        state = {None: "not started", "started": "unfinished (still running, or killed)"}.get(
            latest and latest["status"], latest and latest["status"]
        )
        raise PromotionError(
            f"backfill {backfill_id} is {state}: only a succeeded backfill publishes (run it "
            "again under a new backfill_id)"
        )
    return path, latest


def prepare(backfill_id: str) -> Prepared:
    """What publishing `backfill_id` would append, model by model. Run before production is
    opened for writing (it attaches production READ_ONLY)."""
    path, record = succeeded(backfill_id)
    con = config.connect(path, read_only=True)
    try:
        found = backfill_diff.diff(con, with_rows=True)
        rows = {
            model: _published_rows(con, model, moved, record)
            for model, moved in found["rows"].items()
        }
    finally:
        con.close()
    if not rows:
        raise PromotionError(
            f"backfill {backfill_id} changes none of production's current predictions in its "
            "slice: nothing to publish (a backfill's features and labels never go to serving)"
        )
    report = backfill_diff.write_report(path, backfill_id, found)
    return Prepared(backfill_id, Path(record["production_path"]), record, rows, report)


def _input_relation(model_name: str, feature_version: int) -> str:
    if model_name == "clv":
        return "datasets.clv_transactions_v1"
    return catalogue.entry(model_name).features(feature_version)


def _published_rows(
    con: duckdb.DuckDBPyConnection, model_name: str, moved: pd.DataFrame, record: dict[str, Any]
) -> pd.DataFrame:
    versions = sorted({int(v) for v in moved["feature_version"]})
    relations = {v: _input_relation(model_name, v) for v in versions}
    ids = lineage.build_snapshot_ids(con, record["invocation_id"], list(relations.values()))
    out = pd.DataFrame(
        {
            "replaces_prediction_id": moved["prediction_id"].astype(str),
            "backfill_id": record["backfill_id"],
            "model_name": model_name,
            "model_kind": moved["model_kind"].astype(str),
            "model_version": moved["model_version"].astype(str),
            "training_run_id": moved["training_run_id"].astype(str),
            "feature_version": moved["feature_version"].astype("int64"),
            "customer_id": moved["customer_id"].astype("int64"),
            "as_of": pd.to_datetime(moved["as_of"]).dt.date,
            "score": moved["new"].astype("float64"),
            "score_label": moved["new_label"].astype(str) if "new_label" in moved else None,
            "snapshot_id": [ids[relations[int(v)]] for v in moved["feature_version"]],
            "git_commit": record["git_commit"],
            "invocation_id": record["invocation_id"],
        }
    )
    return out.sort_values(["as_of", "customer_id"], ignore_index=True)


def _write_once(folder: Path, name: str, data: bytes) -> Path:
    """`data` as <folder>/<name>-<sha256[:16]>.parquet, written once and never overwritten."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{hashlib.sha256(data).hexdigest()[:16]}.parquet"
    if not path.exists():
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_bytes(data)
        os.replace(partial, path)
    return path


def open_requests(
    con: duckdb.DuckDBPyConnection, prepared: Prepared, key: Path
) -> list[dict[str, Any]]:
    """One request per model the backfill changes, on production opened for writing, signed
    with `key` (customer_ml.governance.requests.append_request)."""
    production = lineage.warehouse_file(con)
    if Path(production).resolve() != prepared.production.resolve():
        raise PromotionError(
            f"backfill {prepared.backfill_id} was made of {prepared.production}, not {production}"
        )
    earlier = store.read(
        con,
        "select request_id, model_name from lineage.promotion_requests "
        "where request_kind = ? and backfill_id = ? order by requested_at",
        [KIND, prepared.backfill_id],
    )
    for r in earlier:
        state = read_request(con, r["request_id"])["state"]
        if state in ("open", "carried out"):
            raise PromotionError(
                f"backfill {prepared.backfill_id}'s {r['model_name']} predictions already have "
                f"request {r['request_id']} ({state})"
            )
    report = prepared.report.read_bytes()
    opened = []
    for model_name, rows in sorted(prepared.rows.items()):
        buffer = io.BytesIO()
        rows.to_parquet(buffer, index=False)
        data = buffer.getvalue()
        folder = config.artifact_root(production) / "backfills" / prepared.backfill_id
        path = _write_once(folder, model_name, data)
        at = lineage.utc_now()
        request_id = (
            "req-"
            + hashlib.sha256(
                f"{KIND}|{model_name}|{prepared.backfill_id}|{at}".encode()
            ).hexdigest()[:12]
        )
        as_ofs = sorted({str(d) for d in rows["as_of"]})
        finished = f"{prepared.record['recorded_at']:%Y-%m-%d %H:%M}"
        roles = list(catalogue.entry(model_name).approver_roles)
        gates = [
            {"gate": "backfill succeeded", "passed": True,
             "detail": f"{prepared.backfill_id} at {finished}"},
            {"gate": "predictions changed", "passed": True,
             "detail": f"{len(rows)} at as_of {', '.join(as_ofs)}"},
        ]  # fmt: skip
        append_request(
            con,
            {
                "request_id": request_id,
                "model_name": model_name,
                "request_kind": KIND,
                "required_roles": json.dumps(roles),
                "gates": json.dumps(gates),
                "requested_at": at,
                "comparison_path": config.recorded_path(production, prepared.report),
                "comparison_sha256": hashlib.sha256(report).hexdigest(),
                "backfill_id": prepared.backfill_id,
                "predictions_path": config.recorded_path(production, path),
                "predictions_sha256": hashlib.sha256(data).hexdigest(),
            },
            key,
        )
        opened.append({"model": model_name, "request_id": request_id,
                       "predictions": len(rows), "as_of": as_ofs, "roles": roles})  # fmt: skip
    return opened


def recheck(
    con: duckdb.DuckDBPyConnection,
    request: dict[str, Any],
    snapshot_check: tuple[bool, str] | None,
    when: str,
) -> pd.DataFrame:
    """The request's rows, after checking again that its backfill succeeded, that its file is the
    one requested (sha256), and that production's data snapshots verify."""
    refused = f"request {request['request_id']} refused {when}"
    try:
        succeeded(request["backfill_id"] or "")
    except PromotionError as e:
        raise PromotionError(f"{refused}: {e}") from None
    path = config.recorded_file(lineage.warehouse_file(con), request["predictions_path"] or "")
    try:
        data = registry.read_verified(path, request["predictions_sha256"] or "")
    except (OSError, ValueError) as e:
        raise PromotionError(f"{refused}: its predictions file: {e}") from None
    if snapshot_check is not None and not snapshot_check[0]:
        raise PromotionError(f"{refused} by gate 'data snapshots verify': {snapshot_check[1]}")
    return pd.read_parquet(io.BytesIO(data))


def carry_out(
    con: duckdb.DuckDBPyConnection,
    request: dict[str, Any],
    approvers: dict[str, str],
    snapshot_check: tuple[bool, str] | None,
) -> int:
    """Append the request's rows to lineage.published_predictions; returns how many. Refused
    when another request published any of the same predictions after this one was opened."""
    rows = recheck(con, request, snapshot_check, "when carried out")
    con.register("_publishing", rows)
    try:
        [(later, by)] = con.execute(
            "select count(*), any_value(request_id) from lineage.published_predictions "
            "where published_at > ? and replaces_prediction_id in "
            "(select replaces_prediction_id from _publishing)",
            [request["requested_at"]],
        ).fetchall()
    finally:
        con.unregister("_publishing")
    if later:
        raise PromotionError(
            f"request {request['request_id']} is stale: request {by} published {later} of the "
            "same predictions after it was opened; open a new one (customer-ml backfill publish)"
        )
    key = request["request_id"] + "|"
    rows["published_prediction_id"] = [
        "pub-" + hashlib.sha256((key + p).encode()).hexdigest()[:16]
        for p in rows["replaces_prediction_id"]
    ]
    rows["request_id"] = request["request_id"]
    rows["published_by"] = json.dumps(approvers, sort_keys=True)
    rows["published_at"] = lineage.utc_now()
    return store.append(con, "published_predictions", rows)
