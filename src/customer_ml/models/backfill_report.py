"""The HTML report of `customer-ml backfill diff` (customer_ml.replay.backfill_diff): what a
backfill would change, with a plot of the changed predictions and of the rows that differ per
as_of, and the tables behind them. Same inputs, same bytes (customer_ml.models.reports.png)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment

from customer_ml.models import reports

BACKFILL_DIFF = Environment(autoescape=True).from_string(
    """<!doctype html>
<html><head><meta charset="utf-8"><title>Backfill {{ backfill_id }}: what it would change</title>
<style>{{ style }}</style></head>
<body><h1>Backfill {{ backfill_id }}: what it would change in production</h1>
<section class="summary {{ 'pass' if not changed_predictions else 'fail' }}">
<h2>{{ "{:,}".format(changed_predictions) }} past predictions would change;
{{ changed_slices }} of {{ relations|length }} relation/as_of slices differ</h2>
<p>Production's past predictions in the backfill's slice, scored again by the model that served
them on the backfill's inputs; publishing needs the same approvals as a promotion.</p>
</section>
{% for name, image in plots %}<figure><img src="data:image/png;base64,{{ image }}"
alt="{{ name }}"><figcaption>{{ name }}</figcaption></figure>{% endfor %}
<h2>Past predictions, per model and as_of</h2>
<table><tr><th>model</th><th>as_of</th><th>served by</th><th>customers</th><th>changed</th>
<th>mean change</th><th>largest change</th><th>crossing the decision threshold</th></tr>
{% for p in predictions %}<tr><td>{{ p.model }}</td><td>{{ p.as_of }}</td>
<td>{{ p.served_by }}</td><td class="num">{{ "{:,}".format(p.customers) }}</td>
{% if p.note %}<td colspan="4">{{ p.note }}</td>{% else %}
<td class="num">{{ "{:,}".format(p.changed) }}</td>
<td class="num">{{ "%.4f"|format(p.mean_change or 0) }}</td>
<td class="num">{{ "%.4f"|format(p.largest_change or 0) }}</td>
<td>{% if p.crossed_up is defined %}{{ p.crossed_up }} up, {{ p.crossed_down }} down
{% else %}-{% endif %}</td>{% endif %}</tr>
{% if p.campaign_size or p.total_value %}<tr><td></td><td colspan="7">in business terms:
{% if p.campaign_size %}campaign size (at or above the decision threshold) served
{{ "{:,}".format(p.campaign_size.served) }}, backfilled
{{ "{:,}".format(p.campaign_size.backfilled) }}{% endif %}
{% if p.total_value %}total value served {{ "{:,.0f}".format(p.total_value.served) }},
backfilled {{ "{:,.0f}".format(p.total_value.backfilled) }}{% endif %}</td></tr>{% endif %}
{% if p.migration %}<tr><td></td><td colspan="7">segment migration (served &rarr; backfilled):
{% set moves = [] %}{% for f, row in p.migration.items() %}{% for t, n in row.items() %}
{% if n and f != t %}{% set _ = moves.append(1) %}{{ f }} &rarr; {{ t }}: {{ "{:,}".format(n) }};
{% endif %}{% endfor %}{% endfor %}{% if not moves %}no customer changes segment{% endif %}
</td></tr>{% endif %}{% endfor %}</table>
<h2>Features, labels and datasets, per relation and as_of</h2>
<table><tr><th>relation</th><th>as_of</th><th>backfill</th><th>production</th>
<th>only in backfill</th><th>only in production</th></tr>
{% for r in relations %}<tr><td>{{ r.relation }}</td><td>{{ r.as_of or "-" }}</td>
<td class="num">{{ "{:,}".format(r.backfill) }}</td>
<td class="num">{{ "{:,}".format(r.production) }}</td>
<td class="num">{{ "{:,}".format(r.only_backfill) }}</td>
<td class="num">{{ "{:,}".format(r.only_production) }}</td></tr>{% endfor %}</table>
</body></html>
"""
)


def _by_as_of(series: dict[str, dict[str, int]], title: str, ylabel: str) -> str:
    """One line per series over the as_of dates (markers: one as_of is one point)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    for name, points in sorted(series.items()):
        days = sorted(points)
        ax.plot(days, [points[d] for d in days], marker="o", label=name)
    ax.set(title=title, xlabel="as_of", ylabel=ylabel)
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    if series:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return reports.png(fig)


def series(
    found: dict[str, list[dict[str, Any]]],
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """What the plots draw: past predictions changed per model (and the version that served
    them) and as_of, and rows only in the backfill or only in production per relation and
    as_of. A prediction row without a figure (a note) and a relation without as_of are left
    out."""
    changed: dict[str, dict[str, int]] = {}
    for p in found["predictions"]:
        if p.get("changed") is not None:
            name = f"{p['model']} ({str(p['served_by'])[:16]})"
            changed.setdefault(name, {})[str(p["as_of"])] = int(p["changed"])
    differ: dict[str, dict[str, int]] = {}
    for r in found["relations"]:
        if r.get("as_of"):
            rows = int(r["only_backfill"]) + int(r["only_production"])
            differ.setdefault(r["relation"], {})[str(r["as_of"])] = rows
    return changed, differ


def plots(found: dict[str, list[dict[str, Any]]]) -> list[tuple[str, str]]:
    """(caption, base64 PNG) of each of the two series."""
    changed, differ = series(found)
    return [
        ("Past predictions changed, per as_of",
         _by_as_of(changed, "Past predictions the backfill would change", "predictions")),
        ("Rows only in the backfill or only in production, per as_of",
         _by_as_of(differ, "Rows that differ, per relation", "rows")),
    ]  # fmt: skip


def backfill_diff_html(backfill_id: str, found: dict[str, list[dict[str, Any]]]) -> str:
    """The HTML report of `customer-ml backfill diff` (customer_ml.replay.backfill_diff)."""
    return BACKFILL_DIFF.render(
        backfill_id=backfill_id,
        style=reports.STYLE,
        plots=plots(found),
        predictions=found["predictions"],
        relations=found["relations"],
        changed_predictions=sum(p.get("changed") or 0 for p in found["predictions"]),
        changed_slices=sum(
            1 for r in found["relations"] if r["only_backfill"] or r["only_production"]
        ),
    )
