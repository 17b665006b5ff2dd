"""Whether a model trains in this build: one decision per model per build, recorded with every
reason and the evidence in `lineage.retraining_decisions` (issue 17). Training is never purely
schedule-driven.

- **Train** on an explicit trigger: the model's first run; a logic change (code, config,
  hyperparameters, feature or label definition or version differ from its last successful run);
  a business event loaded since that run whose `affected_models` names the model (a forced
  retrain is such an event, with its reason in `name`). An experiment run, and `--vars
  '{retrain: force}'` (what `reproduce` replays with), always train.
- **Train** on data: the share of features whose PSI (customer_ml.pipeline.drift; the reference is
  the model's drift relation at the as_of its last run saw, the current one its latest as_of) is
  above `psi_significant` reaches `drifted_share`; or the cadence says the model is due
  (`cadence_days` since its last run) *and* the data evolved (at least `min_new_matured_labels`
  labels matured since, or some feature's PSI is at least `psi_moderate`). Due without evolution
  is `skip`, with that reason.
- **Suppressed**: the feed is stale (the newest order loaded more than `freshness_sla_days` ago);
  or, for data-driven triggers only, the serving model was promoted less than
  `stabilization_days` ago (an explicit change is a reviewed decision and still trains). The
  suppression after repeated failures (customer_ml.pipeline.failures, until a root-cause note) stays
  where it was and is recorded here too.

Policy lives under `retraining:` of each model in config/models.yml and is checked when a build
starts (customer_ml.pipeline.retraining_policy). A training node that dbt skipped because something
upstream failed in the build (an input data-quality test, say) is recorded at the build's end as
`suppressed`, naming the failed tests and nodes (`record_skipped_by_failures`).
- **Train** on sustained degradation (a data trigger): the serving model's ROC AUC on matured
  predictions (its predictions joined to the labels realized since), per as_of window, is below
  its training holdout's by more than `degradation_tolerance` in each of the last
  `degradation_windows` windows (models judged by ROC AUC: churn; the others record "not
  measured").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb

from customer_ml import catalogue
from customer_ml.pipeline import drift, monitoring, performance
from customer_ml.pipeline.retraining_policy import drift_relation, policy
from customer_ml.records import lineage, store
from customer_ml.records.chain import columns_of


@dataclass
class Decision:
    action: str  # train | skip | suppressed
    reasons: list[str]
    evidence: dict[str, Any] = field(default_factory=dict)
    data_as_of: Any = None


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> dict | None:
    return (store.read(con, sql, params) or [None])[0]


def decide(
    session: duckdb.DuckDBPyConnection,
    ctx: Any,
    *,
    this: str | None,
    retrain: str = "policy",
    now: datetime | None = None,
) -> Decision:
    """The decision for the run `ctx` (customer_ml.pipeline.training_context.Context) would be;
    `this` is the model's training table (None before its first run)."""
    entry = ctx.entry
    rules = policy(entry.name)
    now = (now or lineage.utc_now()).replace(tzinfo=None)
    relation = drift_relation(rules, ctx.feature_version)
    data_as_of = monitoring.latest_as_of(session, relation)
    evidence: dict[str, Any] = {
        "drift_relation": relation,
        "data_as_of": str(data_as_of),
        "now": str(now),  # the clock it was decided by (lineage.utc_now; CUSTOMER_ML_NOW)
    }

    def decided(action: str, reasons: list[str]) -> Decision:
        return Decision(action, reasons, evidence, data_as_of)

    if ctx.run_type == "experiment":
        return decided("train", ["experiment run requested (run_type experiment)"])
    if retrain == "force":
        return decided("train", ["forced with --vars '{retrain: force}'"])
    last = (
        _one(
            session,
            # a run of a build that never finished (killed) is no last run: never promotable
            f"select * from {this} where status = 'success' and invocation_id in "
            "(select invocation_id from lineage.builds) order by started_at desc limit 1",
        )
        if this
        else None
    )
    explicit: list[str] = []
    if last is None:
        explicit.append(f"first training run of {entry.name}")
    else:
        evidence["last_run"] = last["training_run_id"]
        changed = _logic_changes(ctx, last)
        if changed:
            explicit.append(
                f"logic change since run {last['training_run_id']}: {', '.join(changed)} differ"
            )
            evidence["logic_changes"] = changed
        events = monitoring.business_events_since(session, entry.name, last["started_at"])
        for e in events:
            event = f"{e['event_id']} ({e['event_type']}: {e['name']})"
            explicit.append(f"business event {event} names {entry.name}")
        if events:
            evidence["business_events"] = [e["event_id"] for e in events]

    suppress = _freshness(session, entry, rules, now, data_as_of, evidence)
    if suppress:
        return decided("suppressed", suppress + [f"would train: {r}" for r in explicit])
    if explicit:
        return decided("train", explicit)

    data_driven, evolved = _data_evolution(session, ctx, last, rules, relation, evidence)
    data_driven += _degradation(session, ctx, rules, evidence)
    since = now - last["started_at"]
    due = since >= timedelta(days=rules["cadence_days"])
    evidence["days_since_last_run"] = round(since.total_seconds() / 86400, 2)
    if due and evolved:
        data_driven.append(
            f"cadence due ({since.days} days since the last run, cadence "
            f"{rules['cadence_days']:g}) and the data evolved: {'; '.join(evolved)}"
        )
    if data_driven:
        promoted = _one(
            session,
            "select promoted_at from lineage.promotions where model_name = ? "
            "order by promoted_at desc limit 1",
            [entry.name],
        )
        if promoted and now - promoted["promoted_at"] < timedelta(days=rules["stabilization_days"]):
            return decided(
                "suppressed",
                [
                    f"stabilizing: promoted {promoted['promoted_at']:%Y-%m-%d %H:%M}, within "
                    f"{rules['stabilization_days']:g} days"
                ]
                + [f"would train: {r}" for r in data_driven],
            )
        return decided("train", data_driven)
    if due:
        return decided(
            "skip",
            [f"cadence due ({since.days} days since the last run) but the data did not evolve"],
        )
    next_due = last["started_at"] + timedelta(days=rules["cadence_days"])
    return decided(
        "skip",
        [f"no trigger; next due {next_due:%Y-%m-%d}"]
        + [f"seen, acted on when the cadence is due: {e}" for e in evolved],
    )


LOGIC_FIELDS = (
    "code_hash",
    "config_json",
    "hyperparameters_json",
    "feature_version",
    "label_version",
    "feature_definition_hash",
    "label_definition_hash",
)


def _logic_changes(ctx: Any, last: dict[str, Any]) -> list[str]:
    features, labels = ctx.entry.features(ctx.feature_version), ctx.entry.labels(ctx.label_version)
    now = {
        "code_hash": ctx.code,
        "config_json": lineage.stable_json(ctx.cfg),
        "hyperparameters_json": lineage.stable_json(ctx.hyperparameters),
        "feature_version": ctx.feature_version,
        "label_version": ctx.label_version,
        "feature_definition_hash": ctx.definitions.get(features),
        "label_definition_hash": ctx.definitions.get(labels) if labels else None,
    }
    return [f for f in LOGIC_FIELDS if str(now[f]) != str(last.get(f))]


STALE = "feature freshness SLA"  # how a stale-feed reason starts

# The raw feeds a model may read, with the event time that says how far each one's data reaches
# (customers are a dimension: only their loads are timed).
FEEDS = {"raw.orders": "ordered_at", "raw.engagement_events": "occurred_at", "raw.customers": None}


def _freshness(con, entry, rules, now, data_as_of, evidence) -> list[str]:
    """Why the data is too stale to train on, for every raw feed the model reads: its newest
    load older than the SLA, or its data ending more than the SLA before the as_of being
    built. Empty when every feed is fresh."""
    sla_days = rules["freshness_sla_days"]
    sla = timedelta(days=sla_days)
    stale: list[str] = []
    feeds: dict[str, Any] = {}
    for feed in [f for f in entry.training_inputs if f in FEEDS]:
        event = FEEDS[feed]
        [(loaded, newest)] = con.execute(
            f"select max(_loaded_at), {f'max({event})' if event else 'null'} from {feed}"
        ).fetchall()
        if loaded is None:
            stale.append(f"{feed}: nothing loaded")
            continue
        age = now - loaded.replace(tzinfo=None)
        feeds[feed] = {"loaded_days_ago": round(age.total_seconds() / 86400, 2),
                       "data_through": str(newest) if newest is not None else None}  # fmt: skip
        if age > sla:
            stale.append(f"{feed}: the newest load was {age.days} days ago")
        elif newest is not None and data_as_of is not None and newest.date() < data_as_of - sla:
            stale.append(
                f"{feed}: its data ends {newest:%Y-%m-%d}, {(data_as_of - newest.date()).days} "
                f"days before the as_of being built ({data_as_of})"
            )
    evidence["feeds"] = feeds
    if "raw.orders" in feeds:
        evidence["newest_orders_loaded_days_ago"] = feeds["raw.orders"]["loaded_days_ago"]
    if stale:
        return [f"{STALE} ({sla_days:g} days): " + "; ".join(stale)]
    return []


def _data_evolution(con, ctx, last, rules, relation, evidence) -> tuple[list[str], list[str]]:
    """(data-driven triggers, ways the data evolved) since the last run."""
    reference_as_of = monitoring.trained_on_as_of(con, ctx.entry.name, last)
    evidence["reference_as_of"] = str(reference_as_of)
    triggers: list[str] = []
    evolved: list[str] = []
    current_as_of = evidence["data_as_of"]
    if reference_as_of is not None and str(reference_as_of) != current_as_of:
        scores = drift.between(con, relation, reference_as_of, current_as_of)
        scores = {k: round(v, 4) for k, (_, v) in scores.items() if v == v}
        evidence["psi"] = scores
        significant = sorted(k for k, v in scores.items() if v > rules["psi_significant"])
        moderate = sorted(k for k, v in scores.items() if v >= rules["psi_moderate"])
        share = len(significant) / len(scores) if scores else 0.0
        if significant and share >= rules["drifted_share"]:
            triggers.append(
                f"feature drift: {len(significant)} of {len(scores)} features above PSI "
                f"{rules['psi_significant']:g}: "
                + ", ".join(f"{k} {scores[k]:.3f}" for k in significant)
            )
        elif moderate:
            below = (
                f" ({len(significant)} of {len(scores)} above PSI {rules['psi_significant']:g}, "
                f"under the {rules['drifted_share']:.0%} share that triggers)"
                if significant
                else ""
            )
            evolved.append(
                f"moderate drift (PSI >= {rules['psi_moderate']:g}) in "
                + ", ".join(f"{k} {scores[k]:.3f}" for k in moderate)
                + below
            )
    labels = ctx.entry.labels(ctx.label_version)
    labelled_through = last.get("validation_as_of_max")
    if labels and labelled_through is not None and "as_of" in columns_of(con, labels):
        [(new,)] = con.execute(
            f"select count(*) from {labels} where as_of > ?", [labelled_through]
        ).fetchall()
        evidence["new_matured_labels"] = int(new)
        if new and new >= rules["min_new_matured_labels"]:
            evolved.append(f"{new} labels matured since the last run")
    return triggers, evolved


def _degradation(con, ctx, rules, evidence) -> list[str]:
    """The sustained-degradation trigger, if it fires (customer_ml.pipeline.monitoring.performance:
    the same windows as monitoring.model_performance)."""
    windows = performance.performance(con, ctx.entry.name)
    judged = [
        w for w in windows if w["reference_role"] == "champion" and w["holdout_value"] is not None
    ]
    if not judged:
        evidence["performance"] = "not measured (no champion, or no holdout reference)"
        return []
    last, k = judged[-1], int(rules["degradation_windows"])
    evidence["performance"] = {
        "metric": last["metric"],
        "holdout": last["holdout_value"],
        "windows": [(str(w["window_as_of"])[:10], round(w["value"], 4)) for w in judged],
    }
    if not last["is_sustained_degradation"]:
        return []
    floor = last["holdout_value"] - last["tolerance"]
    return [
        f"sustained degradation: {last['metric']} below {floor:.4f} (holdout "
        f"{last['holdout_value']:.4f} - {last['tolerance']:g}) in the last {k} windows: "
        + ", ".join(f"{a} {v:.3f}" for a, v in evidence["performance"]["windows"][-k:])
    ]


def record(session: duckdb.DuckDBPyConnection, model_name: str, run_type: str, d: Decision) -> None:
    store.append(
        session,
        "retraining_decisions",
        {
            "model_name": model_name,
            "invocation_id": lineage.current_invocation(session),
            "run_type": run_type,
            "action": d.action,
            "reasons_json": json.dumps(d.reasons),
            "evidence_json": json.dumps(d.evidence, default=str, sort_keys=True),
            "data_as_of": d.data_as_of,
            "decided_at": lineage.utc_now(),
        },
    )
    print(f"customer-ml: {model_name}: {d.action}: {'; '.join(d.reasons)}")


def check_training_sla(
    session: duckdb.DuckDBPyConnection, model_name: str, wall_seconds: float
) -> bool:
    """A training run that took longer than the model's training SLA (`training_sla_minutes`)
    is alerted (`training_sla_exceeded`, recorded in lineage.alerts); its quota's max_seconds,
    when it is reached, terminates it instead (customer_ml.pipeline.quotas)."""
    sla = policy(model_name)["training_sla_minutes"]
    if wall_seconds <= sla * 60:
        return False
    from customer_ml.records import alerts

    alerts.raise_alert(
        session,
        model_name=model_name,
        kind="training_sla_exceeded",
        severity="warning",
        message=f"training took {wall_seconds / 60:.1f} min, over its SLA of {sla:g} min "
        "(config/models.yml retraining.training_sla_minutes)",
        invocation_id=lineage.current_invocation(session),
    )
    return True


def record_skipped_by_failures(
    con: duckdb.DuckDBPyConnection, nodes: list[dict[str, Any]], run_type: str
) -> None:
    """At a build's end (the dbt plugin's log_build): a training node dbt skipped because an
    upstream node or test failed decided nothing itself; record it as suppressed, naming every
    test and node that failed in the build."""
    failed = [n for n in nodes if str(n["status"]).lower() in ("fail", "error", "runtime error")]
    tests = [n["unique_id"].split(".")[2] for n in failed if "test" in n["resource_type"]]
    others = [n["unique_id"].split(".")[-1] for n in failed if "test" not in n["resource_type"]]
    if not failed:
        return
    reason = "upstream failures in this build: " + "; ".join(
        ([f"failed tests {', '.join(tests)}"] if tests else [])
        + ([f"failed nodes {', '.join(others)}"] if others else [])
    )
    for model in catalogue.names():
        skipped = any(
            n["unique_id"].split(".")[-1] == f"ml_{model}__train"
            and str(n["status"]).lower() == "skipped"
            for n in nodes
        )
        if skipped:
            evidence = {"failed_tests": tests, "failed_nodes": others}
            record(con, model, run_type, Decision("suppressed", [reason], evidence))
