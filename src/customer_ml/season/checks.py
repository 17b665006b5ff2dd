"""Expected against observed: for each scenario of the year the reaction the system drew, read
from its records (lineage.retraining_decisions, lineage.alerts) and from the steps the season
ran; and the end-of-year checks (verifications, reproductions, scoring time over the weeks).
`customer-ml season` exits 0 only when every check passed."""

from __future__ import annotations

import json
import statistics
from typing import Any

from customer_ml.season.operate import Season


def _check(name: str, week: int | None, expected: str, observed: str, passed: bool) -> dict:
    return {"check": name, "week": week, "expected": expected, "observed": observed,
            "passed": bool(passed)}  # fmt: skip


def _decisions(season: Season, since_week: int, until_week: int | None = None) -> list[tuple]:
    until = season.year.clock((until_week or season.year.weeks) + 1)
    return season.query(
        "select model_name, action, reasons_json, decided_at from lineage.retraining_decisions "
        "where decided_at >= ? and decided_at < ? order by decided_at",
        [season.year.clock(since_week), until],
    )


def _first(rows: list[tuple], model: str | None, action: str | None, text: str) -> tuple | None:
    return next((r for r in rows if (model is None or r[0] == model)
                 and (action is None or r[1] == action) and text in r[2]), None)  # fmt: skip


def _said(row: tuple | None, otherwise: str) -> str:
    if row is None:
        return otherwise
    reason = next((r for r in json.loads(row[2])), "")
    return f"{row[0]} {row[1]} on {row[3]:%Y-%m-%d}: {reason[:160]}"


def scenario_checks(season: Season) -> list[dict[str, Any]]:
    out = []
    for s in season.year.scenarios:
        rows = _decisions(season, s.week)
        if s.name == "campaigns":
            cited = _first(rows, None, None, "(campaign:")
            out.append(_check(s.name, s.week, s.expected, _said(cited, "no decision cites a "
                              "campaign"), cited is None))  # fmt: skip
        elif s.name == "drift":
            # a trigger of its own (feature drift), or evolved data with the cadence due
            # (moderate drift): either way the decision names the drifted amount features
            hit = next((r for r in rows if r[0] in ("churn", "clv") and r[1] == "train"
                        and "drift" in r[2] and "amount" in r[2]), None)  # fmt: skip
            out.append(_check(s.name, s.week, s.expected, _said(hit, "no drift-driven training"),
                              hit is not None))  # fmt: skip
        elif s.name == "concept_shift":
            hit = _first(rows, "churn", None, "sustained degradation")
            out.append(_check(s.name, s.week, s.expected, _said(hit, "degradation never fired"),
                              hit is not None))  # fmt: skip
        elif s.name == "business_event":
            clv = _first(rows, "clv", "train", "names clv")
            others = [r for r in rows if r[0] != "clv" and "pricing change" in r[2]]
            observed = _said(clv, "CLV did not train for it") + (
                f"; also cited by {others[0][0]}"
                if others
                else "; churn and segments did not cite it"
            )
            out.append(_check(s.name, s.week, s.expected, observed, clv is not None and not others))
        elif s.name == "stale_feed":
            rows = _decisions(season, s.week, (s.until_week or s.week))
            hit = _first(rows, None, "suppressed", "feature freshness SLA")
            [(alerts,)] = season.query(
                "select count(*) from lineage.alerts where alert_kind = "
                "'training_suppressed_stale_feed' and raised_at >= ?",
                [season.year.clock(s.week)],
            )
            observed = (
                _said(hit, "never suppressed for freshness") + f"; {alerts} stale-feed alert(s)"
            )
            out.append(_check(s.name, s.week, s.expected, observed, hit is not None and alerts > 0))
        elif s.name == "bad_load":
            bad = [x for x in season.steps if x.kind == "bad_load"]
            good = [x for x in season.steps if x.kind == "load" and x.week == s.week]
            held = bool(bad) and bad[0].status == 1 and _unchanged(bad[0].detail)
            observed = (f"exit {bad[0].status}: {bad[0].detail}" if bad else "no bad load ran") + (
                f"; the good file: exit {good[-1].status}" if good else "")  # fmt: skip
            out.append(_check(s.name, s.week, s.expected, observed,
                              held and bool(good) and good[-1].status == 0))  # fmt: skip
        elif s.name == "backfill":
            steps = [x for x in season.steps if x.kind == "backfill"]
            observed = "; ".join(f"{' '.join(x.command.split()[1:3])} exit {x.status}"
                                 for x in steps) or "no backfill ran"  # fmt: skip
            ok = len(steps) == 3 and all(x.status == 0 or "nothing to publish" in x.detail
                                         for x in steps)  # fmt: skip
            out.append(_check(s.name, s.week, s.expected, observed, ok))
    return out


def _unchanged(detail: str) -> bool:
    """`raw.orders N -> N rows` in a bad load's detail: nothing was loaded."""
    counts = detail.rsplit("raw.orders ", 1)[-1].removesuffix(" rows").split(" -> ")
    return len(counts) == 2 and counts[0] == counts[1]


def scoring_slope(season: Season) -> dict[str, Any]:
    """The weekly scoring build's seconds against the weeks behind it: the least-squares slope
    (seconds per week), and the last quarter's median over the first's (week 1, which builds
    everything, left out)."""
    points = [(s.week, s.seconds) for s in season.steps if s.kind == "scoring" and s.week > 1]
    if len(points) < 4:
        return {"slope_seconds_per_week": None, "ratio_last_to_first_quarter": None,
                "points": points}  # fmt: skip
    weeks, secs = zip(*points, strict=True)
    slope = statistics.linear_regression(weeks, secs).slope
    q = max(1, len(points) // 4)
    ratio = statistics.median(secs[-q:]) / statistics.median(secs[:q])
    return {"slope_seconds_per_week": round(slope, 3),
            "ratio_last_to_first_quarter": round(ratio, 3), "points": points}  # fmt: skip


def end_checks(season: Season) -> list[dict[str, Any]]:
    last = season.year.weeks
    out = []
    for command in ("verify-snapshots", "verify-lineage"):
        step = next((s for s in reversed(season.steps) if s.kind == "verify"
                     and command in s.command), None)  # fmt: skip
        out.append(_check(command, last, "passes at the end of the year",
                          f"exit {step.status}: {step.detail}" if step else "not run",
                          step is not None and step.status == 0))  # fmt: skip
    reproduced = [s for s in season.steps if s.kind == "reproduce"]
    failed = [s for s in reproduced if s.status != 0]
    out.append(_check("reproduce", last, "a prediction of each model from the first, middle and "
                      "last part of the year reproduces bit for bit",
                      f"{len(reproduced) - len(failed)} of {len(reproduced)} match"
                      + (f"; first mismatch: {failed[0].detail}" if failed else ""),
                      bool(reproduced) and not failed))  # fmt: skip
    scoring = [s for s in season.steps if s.kind == "scoring"]
    red = [s for s in scoring if s.status != 0]
    out.append(_check("scoring builds", None, "every weekly scoring build succeeds",
                      f"{len(scoring) - len(red)} of {len(scoring)} green"
                      + (f"; week {red[0].week}: {red[0].detail}" if red else ""),
                      bool(scoring) and not red))  # fmt: skip
    slope = scoring_slope(season)
    ratio = slope["ratio_last_to_first_quarter"]
    out.append(_check("scoring time", None, "does not grow with the weeks behind it (last "
                      "quarter's median within 1.5x the first's)",
                      f"slope {slope['slope_seconds_per_week']} s/week, ratio {ratio}",
                      ratio is None or ratio <= 1.5))  # fmt: skip
    return out
