"""Validation reports a person can read in a minute: one HTML page (plots and metric tables) and
the same facts as JSON, per training run.

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
from sklearn import metrics as skm  # noqa: E402


def _png(fig) -> str:
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
    plots["ROC curve"] = _png(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    for name, p in scores.items():
        precision, recall, _ = skm.precision_recall_curve(y, p)
        ax.plot(recall, precision, label=f"{name} (AP {skm.average_precision_score(y, p):.3f})")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall")
    ax.legend(loc="lower left")
    plots["Precision-recall curve"] = _png(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    for name, p in scores.items():
        bins = np.clip((np.asarray(p) * 10).astype(int), 0, 9)
        frame = pd.DataFrame({"bin": bins, "p": p, "y": y}).groupby("bin").mean()
        ax.plot(frame["p"], frame["y"], "o-", label=name)
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set(xlabel="mean predicted", ylabel="observed rate", title="Calibration (deciles)")
    ax.legend(loc="upper left")
    plots["Calibration curve"] = _png(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    for name, p in scores.items():
        order = np.argsort(-np.asarray(p), kind="stable")
        gain = np.cumsum(y[order]) / max(y.sum(), 1)
        ax.plot(np.arange(1, len(y) + 1) / len(y), gain, label=name)
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set(xlabel="share of customers targeted", ylabel="share of churners", title="Gain")
    ax.legend(loc="lower right")
    plots["Cumulative gain"] = _png(fig)
    return plots


def _bar(values: pd.Series, title: str) -> str:
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(values) + 1))
    ax.barh(values.index[::-1], values.to_numpy()[::-1])
    ax.set(title=title)
    fig.tight_layout()
    return _png(fig)


def _table(rows: dict[str, dict[str, Any]]) -> str:
    columns = sorted({k for r in rows.values() for k in r})
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = ""
    for name, r in rows.items():
        cells = "".join(
            f"<td>{r[c]:.4f}</td>" if isinstance(r.get(c), float) else f"<td>{r.get(c, '')}</td>"
            for c in columns
        )
        body += f"<tr><th>{html.escape(name)}</th>{cells}</tr>"
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


def classifier_report(
    *,
    title: str,
    facts: dict[str, Any],
    y: np.ndarray,
    scores: dict[str, np.ndarray],
    metrics: dict[str, dict[str, float]],
    importance: pd.DataFrame,
    contributions: pd.Series,
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
        "facts": facts,
        "metrics": metrics,
        "feature_importance": importance.to_dict(orient="records"),
        "mean_abs_contribution": {k: float(v) for k, v in contributions.items()},
    }
    facts_rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in facts.items()
    )
    figures = "".join(
        f'<figure><img src="data:image/png;base64,{png}" alt="{html.escape(name)}">'
        f"<figcaption>{html.escape(name)}</figcaption></figure>"
        for name, png in plots.items()
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;
text-align:left}}figure{{display:inline-block;margin:0.5em}}</style></head>
<body><h1>{html.escape(title)}</h1>
<h2>Holdout metrics (candidate vs baseline, same later as_of dates)</h2>{_table(metrics)}
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
    plot: tuple[str, list[str], str] | None = None,
) -> tuple[bytes, bytes]:
    """(JSON, HTML) of a model validated by tables of numbers, with one line plot of the first
    table (x column, y columns, y label): e.g. BTYD's predicted vs actual by frequency."""
    figures = ""
    if plot and tables:
        x, ys, ylabel = plot
        first = next(iter(tables.values()))
        fig, ax = plt.subplots(figsize=(6, 4))
        for y in ys:
            ax.plot(first[x], first[y], "o-", label=y)
        ax.set(xlabel=x, ylabel=ylabel, title=next(iter(tables)))
        ax.legend()
        figures = f'<figure><img src="data:image/png;base64,{_png(fig)}" alt="plot"></figure>'
    document = {
        "title": title,
        "facts": facts,
        "metrics": metrics,
        "tables": {name: t.to_dict(orient="records") for name, t in tables.items()},
    }
    facts_rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in facts.items()
    )
    table_html = "".join(
        f"<h2>{html.escape(name)}</h2>{t.to_html(index=False, float_format=lambda v: f'{v:.4f}')}"
        for name, t in tables.items()
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;
text-align:left}}</style></head>
<body><h1>{html.escape(title)}</h1>
<h2>Holdout metrics (candidate vs baseline)</h2>{_table(metrics)}
<h2>Run</h2><table>{facts_rows}</table>
{figures}{table_html}
</body></html>
"""
    return (
        json.dumps(document, indent=2, sort_keys=True, default=str).encode(),
        page.encode(),
    )
