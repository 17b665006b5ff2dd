"""What the year shows: one self-contained HTML page (figures embedded), the figures as PNG
files, and the same facts as JSON: per model and week the decision with its reason, PSI per
feature against the thresholds, matured performance per window against the champion's holdout,
champions over time, alerts, each week's build times and rows written, and the table of
expected against observed reactions."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from customer_ml.season.operate import Season

ACTIONS = {"train": "tab:green", "skip": "tab:gray", "suppressed": "tab:red"}


def facts(season: Season, checks: list[dict], slope: dict) -> dict[str, Any]:
    q = season.query
    decisions = [
        {"decided_at": str(d), "model": m, "action": a, "reasons": json.loads(r),
         "psi": json.loads(e or "{}").get("psi", {})}
        for d, m, a, r, e in q("select decided_at, model_name, action, reasons_json, "
                               "evidence_json from lineage.retraining_decisions "
                               "where run_type = 'production' order by decided_at")
    ]  # fmt: skip
    performance = [
        {"model": m, "window_as_of": str(w), "metric": k, "value": v, "holdout": h,
         "reference_role": role}
        for m, w, k, v, h, role in q("select model_name, window_as_of, metric, value, "
                                     "holdout_value, reference_role from "
                                     "monitoring.model_performance order by 1, 2")
    ]  # fmt: skip
    champions = [{"model": m, "run": r, "action": a, "at": str(t)} for m, r, a, t in q(
        "select model_name, training_run_id, action, promoted_at from lineage.promotions "
        "order by promoted_at")]  # fmt: skip
    alerts = [
        {"at": str(t), "model": m, "kind": k, "severity": s, "message": msg}
        for t, m, k, s, msg in q("select raised_at, model_name, alert_kind, severity, message "
                                 "from lineage.alerts order by raised_at")
    ]  # fmt: skip
    written = dict(q("select invocation_id, count(*) from lineage.predictions group by 1"))
    builds = [
        {"week": s.week, "kind": s.kind, "command": s.command, "seconds": s.seconds,
         "status": s.status, "rows_written": written.get(s.invocation_id, 0)}
        for s in season.steps if s.kind in ("scoring", "training")
    ]  # fmt: skip
    return {"weeks": season.year.weeks, "start": str(season.year.clock(1)),
            "scenarios": [s.__dict__ for s in season.year.scenarios], "checks": checks,
            "scoring_slope": slope, "decisions": decisions, "performance": performance,
            "champions": champions, "alerts": alerts, "builds": builds,
            "passed": all(c["passed"] for c in checks)}  # fmt: skip


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def figures(f: dict[str, Any]) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    out: dict[str, bytes] = {}
    d = pd.DataFrame(f["decisions"])
    fig, ax = plt.subplots(figsize=(11, 2.8))
    if not d.empty:
        d["at"] = pd.to_datetime(d["decided_at"])
        models = sorted(d["model"].unique())
        for action, colour in ACTIONS.items():
            part = d[d["action"] == action]
            ax.scatter(part["at"], part["model"].map(models.index), c=colour, label=action, s=18)
        ax.set_yticks(range(len(models)), models)
    ax.set_title("Retraining decisions per model")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, fontsize=8)
    fig.autofmt_xdate()
    out["decisions"] = _png(fig)
    fig, ax = plt.subplots(figsize=(11, 3.2))
    psi = [(r["decided_at"], k, v) for r in f["decisions"] if r["model"] == "churn"
           for k, v in r["psi"].items()]  # fmt: skip
    if psi:
        p = pd.DataFrame(psi, columns=["at", "feature", "psi"])
        p["at"] = pd.to_datetime(p["at"])
        for feature, part in p.groupby("feature"):
            ax.plot(part["at"], part["psi"], marker=".", lw=0.8, label=feature)
        ax.legend(fontsize=6, ncol=4)
    for level, style in ((0.1, ":"), (0.25, "--")):
        ax.axhline(level, color="black", ls=style, lw=0.8)
    ax.set_title("Churn: PSI per feature at each decision (dotted 0.1 moderate, dashed 0.25)")
    out["psi"] = _png(fig)
    fig, ax = plt.subplots(figsize=(11, 3.2))
    perf = pd.DataFrame(f["performance"])
    if not perf.empty:
        for model, part in perf.groupby("model"):
            ax.plot(pd.to_datetime(part["window_as_of"]), part["value"], marker="o", label=model)
            ax.plot(pd.to_datetime(part["window_as_of"]), part["holdout"], ls="--", lw=0.8,
                    label=f"{model} holdout")  # fmt: skip
        ax.legend(fontsize=7)
    ax.set_title("Matured performance per window against the champion's holdout")
    out["performance"] = _png(fig)
    fig, ax = plt.subplots(figsize=(11, 3.2))
    b = pd.DataFrame(f["builds"])
    if not b.empty:
        for kind, part in b.groupby("kind"):
            ax.plot(part["week"], part["seconds"], marker=".", label=f"{kind} build (s)")
        ax2 = ax.twinx()
        s = b[b["kind"] == "scoring"]
        ax2.bar(s["week"], s["rows_written"], alpha=0.25, color="tab:blue")
        ax2.set_ylabel("predictions written")
        ax.set_xlabel("week")
        ax.legend(fontsize=7, loc="upper right")
    slope = f["scoring_slope"]["slope_seconds_per_week"]
    ax.set_title(f"Build time per week (scoring slope {slope} s/week) and rows written")
    out["builds"] = _png(fig)
    plt.close("all")
    return out


def write(season: Season, f: dict[str, Any]) -> Path:
    """report.json, the PNG figures and report.html in `<out>/report`; returns the HTML."""
    folder = season.out / "report"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(f, indent=2, default=str))
    pngs = figures(f)
    for name, data in pngs.items():
        (folder / f"{name}.png").write_bytes(data)
    e = html.escape
    rows = "".join(
        f"<tr class={'ok' if c['passed'] else 'bad'}><td>{e(c['check'])}</td>"
        f"<td>{c['week'] or ''}</td><td>{e(c['expected'])}</td><td>{e(c['observed'])}</td>"
        f"<td>{'pass' if c['passed'] else 'FAIL'}</td></tr>"
        for c in f["checks"]
    )
    scen = "".join(f"<li>week {s['week']} ({e(s['name'])}): {e(s['what'])}</li>"
                   for s in f["scenarios"])  # fmt: skip
    champs = "".join(f"<li>{e(c['at'][:16])} {e(c['model'])}: {e(c['action'])} {e(c['run'])}</li>"
                     for c in f["champions"]) or "<li>none</li>"  # fmt: skip
    alerts = (
        "".join(
            f"<li>{e(a['at'][:16])} {e(a['severity'])} {e(a['kind'])}: {e(a['message'][:200])}</li>"
            for a in f["alerts"]
        )
        or "<li>none</li>"
    )
    imgs = "".join(f"<img alt='{n}' src='data:image/png;base64,"
                   f"{base64.b64encode(d).decode()}'>" for n, d in pngs.items())  # fmt: skip
    verdict = "every expected reaction observed" if f["passed"] else "SOME CHECKS FAILED"
    page = f"""<!doctype html><meta charset=utf-8><title>customer-ml season</title>
<style>body{{font:14px sans-serif;margin:2em;max-width:1200px}}td,th{{padding:4px 8px;
vertical-align:top;border-bottom:1px solid #ddd}}.ok td:last-child{{color:green}}
.bad td:last-child{{color:#b00;font-weight:bold}}img{{max-width:100%;display:block}}</style>
<h1>A year of operation: {e(verdict)}</h1>
<p>{f["weeks"]} weeks from {e(f["start"][:10])} on the project's clock. Scenarios:</p>
<ul>{scen}</ul><h2>Expected against observed</h2>
<table><tr><th>check</th><th>week</th><th>expected</th><th>observed</th><th></th></tr>{rows}
</table><h2>Figures</h2>{imgs}<h2>Champions over time</h2><ul>{champs}</ul>
<h2>Alerts</h2><ul>{alerts}</ul>"""
    (folder / "report.html").write_text(page)
    return folder / "report.html"
