"""Validation reports a person can read in a minute: one HTML page (plots and metric tables) and
the same facts as JSON, per training run. The page opens with a summary an approver decides
from (`summary`: verdict, each gate, the primary metric in words, customer impact against the
champion), rendered with Jinja2; the detail follows, formatted for people (counts as integers,
no dict reprs).

Plots are rendered with matplotlib's Agg backend without timestamps in the PNG metadata, so the
same inputs give the same report bytes.
"""

from __future__ import annotations

import base64
import html
import io
import json
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from jinja2 import Environment  # noqa: E402
from sklearn import metrics as skm  # noqa: E402

SUMMARY = Environment(autoescape=True).from_string(
    """<section class="summary {{ 'pass' if s.passed else 'fail' }}">
<h2>Verdict: {{ s.verdict }}</h2>
<p class="primary">{{ s.primary }}</p>
<table><tr><th>Gate at training</th><th>Result</th><th>Detail</th></tr>
{% for g in s.gates %}<tr><td>{{ g.check }}</td>
<td class="{{ 'pass' if g.passed else 'fail' }}">{{ 'passed' if g.passed else 'FAILED' }}</td>
<td>{{ g.detail }}</td></tr>{% endfor %}</table>
<h3>Customer impact against {{ s.impact.against or "what serves now" }}</h3>
{% if s.impact.note %}<p>{{ s.impact.note }}</p>{% else %}<ul>
<li>{{ "{:,}".format(s.impact.customers) }} customers scored by both at the latest as_of</li>
{% if s.impact.moved is defined %}<li>{{ "{:,}".format(s.impact.moved) }} would
{% if s.impact.migration %}change segment{% else %}see their score move by more than
{{ s.impact.score_change }}{% endif %}</li>{% endif %}
{% if s.impact.decision_threshold is defined %}<li>decisions that flip at a score of
{{ s.impact.decision_threshold }}: {{ "{:,}".format(s.impact.flipped_up) }} newly at or above,
{{ "{:,}".format(s.impact.flipped_down) }} newly below</li>
<li>campaign size (customers at or above {{ s.impact.decision_threshold }}):
{% for who, n in s.impact.campaign_size.items() %}{{ who }} {{ "{:,}".format(n) }}
{{- ", " if not loop.last }}{% endfor %}</li>{% endif %}
{% if s.impact.total_value %}<li>total value over the horizon:
{% for who, v in s.impact.total_value.items() %}{{ who }} {{ "{:,.0f}".format(v) }}
{{- ", " if not loop.last }}{% endfor %}</li>{% endif %}</ul>
{% if s.impact.distribution and not s.impact.migration %}<table><tr><th>scores</th>
{% for k in ["mean", "p10", "p50", "p90"] %}<th>{{ k }}</th>{% endfor %}</tr>
{% for group, d in s.impact.distribution.items() %}<tr><th>{{ group }}</th>
{% for k in ["mean", "p10", "p50", "p90"] %}<td class="num">{{ "%.4f"|format(d[k]) }}</td>
{% endfor %}</tr>{% endfor %}</table>{% endif %}
{% if s.impact.migration %}<table><tr><th>{{ s.impact.against }} \\ candidate</th>
{% for to in s.impact.migration_columns %}<th>{{ to }}</th>{% endfor %}</tr>
{% for from, row in s.impact.migration.items() %}<tr><th>{{ from }}</th>
{% for to in s.impact.migration_columns %}<td>{{ "{:,}".format(row.get(to, 0)) }}</td>
{% endfor %}</tr>{% endfor %}</table>{% endif %}{% endif %}
</section>"""
)
STYLE = """body{font-family:sans-serif;margin:2em;max-width:1100px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:left}td.num{text-align:right}figure{display:inline-block;margin:0.5em}
.summary{border:2px solid #888;padding:0 1em 1em;margin-bottom:2em}
.summary.pass{border-color:#2a7}.summary.fail{border-color:#c33}
td.pass{color:#2a7;font-weight:bold}td.fail{color:#c33;font-weight:bold}
.primary{font-size:1.15em}"""


def summary(
    entry: Any,
    metrics: dict[str, dict[str, Any]],
    verdicts: list[tuple[str, bool, str]],
    impact: dict[str, Any],
) -> dict[str, Any]:
    """What an approver reads first: the verdict, each gate's result, candidate vs baseline vs
    champion on the primary metric in plain words, and customer impact
    (customer_ml.models.evaluation .impact)."""
    primary = entry.primary_metric
    passed = all(ok for _, ok, _ in verdicts)
    failed = [name for name, ok, _ in verdicts if not ok]
    values = []
    for group in ("candidate", "baseline", "champion"):
        value = metrics.get(group, {}).get(primary)
        if isinstance(value, int | float):
            values.append(f"{group} {value:.4f}")
        elif group in metrics:
            values.append(f"{group} not comparable")
    direction = "higher" if entry.greater_is_better else "lower"
    return {
        "passed": passed,
        "verdict": "ready for approval" if passed else f"not promotable ({'; '.join(failed)})",
        "primary": f"{primary}: {', '.join(values)} ({direction} is better, on the same rows)",
        "gates": [{"check": n, "passed": ok, "detail": d} for n, ok, d in verdicts],
        "impact": impact,
    }


def summary_html(s: dict[str, Any]) -> str:
    impact = dict(s["impact"])
    if impact.get("migration"):
        impact["migration_columns"] = sorted(
            {t for row in impact["migration"].values() for t in row}
        )
    return SUMMARY.render(s={**s, "impact": impact})


def cell(value: Any) -> str:
    """A value as a person reads it: whole numbers with thousands separators, other numbers
    with 4 decimals, mappings and lists as `key: value` lines, never a repr."""
    if isinstance(value, bool) or value is None:
        return html.escape(str(value))
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        if np.isfinite(value) and float(value).is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{float(value):.4f}"
    if isinstance(value, dict):
        return "<br>".join(f"{html.escape(str(k))}: {cell(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value)
    return html.escape(str(value))


def png(fig) -> str:
    """A matplotlib figure as base64 PNG (no timestamp: the same figure, the same bytes)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _classifier_plots(y: np.ndarray, scores: dict[str, np.ndarray]) -> dict[str, str]:
    plots = {}
    fig, ax = plt.subplots(figsize=(5, 4))
    for name, p in scores.items():
        fpr, tpr, _ = skm.roc_curve(y, p)
        ax.plot(fpr, tpr, label=f"{name} (AUC {skm.roc_auc_score(y, p):.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.legend(loc="lower right")
    plots["ROC curve"] = png(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    for name, p in scores.items():
        precision, recall, _ = skm.precision_recall_curve(y, p)
        ax.plot(recall, precision, label=f"{name} (AP {skm.average_precision_score(y, p):.3f})")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall")
    ax.legend(loc="lower left")
    plots["Precision-recall curve"] = png(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    for name, p in scores.items():
        bins = np.clip((np.asarray(p) * 10).astype(int), 0, 9)
        frame = pd.DataFrame({"bin": bins, "p": p, "y": y}).groupby("bin").mean()
        ax.plot(frame["p"], frame["y"], "o-", label=name)
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set(xlabel="mean predicted", ylabel="observed rate", title="Calibration (deciles)")
    ax.legend(loc="upper left")
    plots["Calibration curve"] = png(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    for name, p in scores.items():
        order = np.argsort(-np.asarray(p), kind="stable")
        gain = np.cumsum(y[order]) / max(y.sum(), 1)
        ax.plot(np.arange(1, len(y) + 1) / len(y), gain, label=name)
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set(xlabel="share of customers targeted", ylabel="share of churners", title="Gain")
    ax.legend(loc="lower right")
    plots["Cumulative gain"] = png(fig)
    return plots


def _bar(values: pd.Series, title: str) -> str:
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(values) + 1))
    ax.barh(values.index[::-1], values.to_numpy()[::-1])
    ax.set(title=title)
    fig.tight_layout()
    return png(fig)


def segment_figures(assigned: pd.DataFrame, x: str, y: str, sample: int = 3000) -> tuple[str, ...]:
    """PNGs of segments (`assigned`: one row per customer with segment_name, x and y): customers
    per segment, and where a sample of customers (every segment, seeded) lies on x and y."""
    sizes = assigned["segment_name"].value_counts().sort_index()
    shown = assigned.sample(min(sample, len(assigned)), random_state=0)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, rows in shown.groupby("segment_name"):
        ax.scatter(rows[x], rows[y], s=6, alpha=0.6, label=str(name))
    ax.set(xlabel=x, ylabel=y, yscale="symlog", title=f"{len(shown):,} customers by segment")
    ax.legend(fontsize=7, markerscale=2)
    fig.tight_layout()
    return _bar(sizes, "Customers per segment"), png(fig)


def _frame_html(frame: pd.DataFrame) -> str:
    """A table of numbers as people read it (customer_ml.models.reports.cell per value)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{cell(v)}</td>' for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def metrics_table(groups: dict[str, dict[str, Any]]) -> str:
    """Metrics as one row per metric and one column per group (candidate, baseline, champion):
    however many metrics a model has, the table stays as wide as the groups."""
    metrics = sorted({k for values in groups.values() for k in values})
    head = "".join(f"<th>{html.escape(g)}</th>" for g in groups)
    body = "".join(
        f"<tr><th>{html.escape(m)}</th>"
        + "".join(f'<td class="num">{cell(v.get(m, ""))}</td>' for v in groups.values())
        + "</tr>"
        for m in metrics
    )
    return f"<table><tr><th>metric</th>{head}</tr>{body}</table>"


def classifier_report(
    *,
    title: str,
    facts: dict[str, Any],
    y: np.ndarray,
    scores: dict[str, np.ndarray],
    metrics: dict[str, dict[str, float]],
    importance: pd.DataFrame,
    contributions: pd.Series,
    summary: dict[str, Any],
) -> tuple[bytes, bytes]:
    """(JSON, HTML) of a binary classifier's validation on its holdout."""
    y = np.asarray(y, dtype=int)
    plots = _classifier_plots(y, scores)
    plots["Feature importance (gain)"] = _bar(
        importance.set_index("feature")["gain"], "Feature importance (gain)"
    )
    plots["Mean |contribution| per feature"] = _bar(
        contributions, "Mean |contribution| (pred_contrib)"
    )
    document = {
        "title": title,
        "summary": summary,
        "facts": facts,
        "metrics": metrics,
        "feature_importance": importance.to_dict(orient="records"),
        "mean_abs_contribution": {k: float(v) for k, v in contributions.items()},
    }
    facts_rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{cell(v)}</td></tr>" for k, v in facts.items()
    )
    figures = "".join(
        f'<figure><img src="data:image/png;base64,{png}" alt="{html.escape(name)}">'
        f"<figcaption>{html.escape(name)}</figcaption></figure>"
        for name, png in plots.items()
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head>
<body><h1>{html.escape(title)}</h1>
{summary_html(summary)}
<h2>Holdout metrics (candidate, baseline, champion; same later as_of dates)</h2>
{metrics_table(metrics)}
<h2>Run</h2><table>{facts_rows}</table>
<h2>Plots</h2>{figures}
</body></html>
"""
    return (
        json.dumps(document, indent=2, sort_keys=True, default=str).encode(),
        page.encode(),
    )


def table_report(
    *,
    title: str,
    facts: dict[str, Any],
    metrics: dict[str, dict[str, float]],
    tables: dict[str, pd.DataFrame],
    summary: dict[str, Any],
    plot: tuple[str, list[str], str] | None = None,
    metrics_heading: str = "Holdout metrics (candidate vs baseline)",
    images: tuple[str, ...] = (),
) -> tuple[bytes, bytes]:
    """(JSON, HTML) of a model validated by tables of numbers, with one line plot of the first
    table (x column, y columns, y label): e.g. BTYD's predicted vs actual by frequency; and
    `images` (PNGs, base64: e.g. segment_figures)."""
    figures = "".join(
        f'<figure><img src="data:image/png;base64,{png}" alt="plot"></figure>' for png in images
    )
    if plot and tables:
        x, ys, ylabel = plot
        first = next(iter(tables.values()))
        fig, ax = plt.subplots(figsize=(6, 4))
        for y in ys:
            ax.plot(first[x], first[y], "o-", label=y)
        ax.set(xlabel=x, ylabel=ylabel, title=next(iter(tables)))
        ax.legend()
        figures += f'<figure><img src="data:image/png;base64,{png(fig)}" alt="plot"></figure>'
    document = {
        "title": title,
        "summary": summary,
        "facts": facts,
        "metrics": metrics,
        "tables": {name: t.to_dict(orient="records") for name, t in tables.items()},
    }
    facts_rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{cell(v)}</td></tr>" for k, v in facts.items()
    )
    table_html = "".join(
        f"<h2>{html.escape(name)}</h2>{_frame_html(t)}" for name, t in tables.items()
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head>
<body><h1>{html.escape(title)}</h1>
{summary_html(summary)}
<h2>{html.escape(metrics_heading)}</h2>{metrics_table(metrics)}
<h2>Run</h2><table>{facts_rows}</table>
{figures}{table_html}
</body></html>
"""
    return (
        json.dumps(document, indent=2, sort_keys=True, default=str).encode(),
        page.encode(),
    )
