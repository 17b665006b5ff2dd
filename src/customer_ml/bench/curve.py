"""The scaling curve (`customer-ml bench --curve`): the bench at several scales of one
per-customer density (customer_ml.config.SCALES), each in OUT/<scale>, then per step the wall
time and peak memory against customers on log-log axes, and the growth exponent between
consecutive scales (time ∝ customers^k: k = 1 is linear). Measured, never asserted."""

from __future__ import annotations

import json
import math
from pathlib import Path

from customer_ml import config

# the steps the curve follows, by the start of their names in the harness
CURVE_STEPS = (
    "load (all but",
    "dbt build, full",
    "dbt build, incremental",
    "dbt build, one view",
    "reproduce one",
)


def exponent(n1: int, t1: float, n2: int, t2: float) -> float | None:
    """k in t ∝ n^k between two points; None when a value is not positive."""
    if min(n1, n2, t1, t2) <= 0 or n1 == n2:
        return None
    return math.log(t2 / t1) / math.log(n2 / n1)


# the point-in-time features two ways: the chain's nodes inside the full build (dbt's timing,
# no memory of their own: the build's is the step's) and the hand-written query alone
CHAIN = "feature chain inside the full build"
QUERY = "hand-written features query"


def points(out: Path, scales: list[str]) -> dict[str, list[tuple[int, float, float | None]]]:
    """Step -> [(customers, wall s, peak RSS MB)] over the scales measured in OUT/<scale>."""
    from customer_ml.bench.features import FEATURE_NODES
    from customer_ml.bench.steps import node_times

    found: dict[str, list[tuple[int, float, float | None]]] = {}
    for scale in scales:
        n = config.SCALES[scale][0]
        for step in json.loads((out / scale / "steps.json").read_text()):
            name = next((s for s in CURVE_STEPS if step["name"].startswith(s)), None)
            if name:
                found.setdefault(name, []).append((n, step["wall_s"], step["peak_rss_mb"]))
        query = out / scale / "features-handwritten.time"
        if query.exists() and (out / scale / "run_results-full.json").exists():
            nodes = node_times(out / scale / "run_results-full.json")
            found.setdefault(CHAIN, []).append(
                (n, sum(nodes.get(k, 0.0) for k in FEATURE_NODES), None)
            )
            wall, _, _, rss_kb = query.read_text().split()[-4:]
            seconds = json.loads((out / scale / "features-handwritten.json").read_text())["seconds"]
            found.setdefault(QUERY, []).append((n, seconds, int(rss_kb) / 1024))
    return found


def lines(found: dict[str, list[tuple[int, float, float | None]]]) -> list[str]:
    out = [
        "## Scaling curve",
        "",
        "| step | customers | wall s | peak RSS MB | exponent of time from the previous scale |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, series in found.items():
        previous = None
        for n, wall, rss in sorted(series):
            k = exponent(previous[0], previous[1], n, wall) if previous else None
            shown = "" if k is None else f"{k:.2f}"
            memory = "" if rss is None else f"{rss:,.0f}"
            out.append(f"| {name}… | {n:,} | {wall:.1f} | {memory} | {shown} |")
            previous = (n, wall)
    chain, query = (
        dict((n, t) for n, t, _ in found.get(CHAIN, [])),
        dict((n, t) for n, t, _ in found.get(QUERY, [])),
    )
    ratios = [f"{n:,}: {chain[n] / query[n]:.2f}x" for n in sorted(chain) if query.get(n)]
    if ratios:
        out += ["", f"Feature chain / hand-written query: {'; '.join(ratios)} (target ≤ 1.0x)."]
    return [*out, ""]


def memory_lines(out: Path, scales: list[str]) -> list[str]:
    """Per scale, the three nodes of the full build with the highest memory while they ran."""
    from customer_ml.bench.steps import node_memory

    found = []
    for scale in scales:
        results, samples = out / scale / "run_results-full.json", out / scale / "build-full.rss"
        if results.exists() and samples.exists():
            top = sorted(node_memory(results, samples).items(), key=lambda kv: -kv[1])[:3]
            shown = ", ".join(f"`{node}` {mb:,.0f}" for node, mb in top)
            found.append(f"- {config.SCALES[scale][0]:,} customers: {shown}")
    if not found:
        return []
    return ["Highest memory (MB) of the full build while a node ran:", "", *found, ""]


def chart(path: Path, found: dict[str, list[tuple[int, float, float | None]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, (name, series) in enumerate(found.items()):
        series = sorted(series)
        n = [p[0] for p in series]
        # one colour per step on both sides (a step without memory leaves no gap in the cycle)
        left.plot(n, [p[1] for p in series], marker="o", label=name, color=f"C{i}")
        if all(p[2] is not None for p in series):
            right.plot(n, [p[2] for p in series], marker="o", label=name, color=f"C{i}")
    left.set(xscale="log", yscale="log", xlabel="customers", ylabel="wall s", title="time")
    right.set(xscale="log", yscale="log", xlabel="customers", ylabel="peak RSS MB",
              title="memory")  # fmt: skip
    left.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# what a measured scale no longer needs (the curve reads its steps, timings and memory samples):
# the data, the load's batches and the warehouse, about 13 GB at 1M customers; at 3M the disk
# would not hold the 1M run's beside them
BULK = ("data", "batch-first", "batch-last-day", "warehouse")


def prune(folder: Path) -> list[Path]:
    """Delete a measured scale's BULK folders; returns those deleted."""
    import shutil

    gone = [folder / name for name in BULK if (folder / name).exists()]
    for path in gone:
        shutil.rmtree(path)
    return gone


def run(scales: list[str], out: Path, project: Path, **bench: object) -> Path:
    """The bench at each scale (a scale already measured in OUT/<scale> is kept), each scale's
    data and warehouse deleted once measured (`prune`), then OUT/curve.md and OUT/curve.png."""
    from customer_ml.bench import harness

    for scale in scales:
        if not (out / scale / "steps.json").exists():
            harness.run(scale, out / scale, project, **bench)  # type: ignore[arg-type]
        prune(out / scale)
    found = points(out, scales)
    (out / "curve.md").write_text("\n".join([*lines(found), *memory_lines(out, scales)]))
    chart(out / "curve.png", found)
    return out / "curve.md"
