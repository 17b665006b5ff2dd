"""A tiny-scale smoke of the benchmark harness: it runs end to end and the ways of computing
point-in-time features (the models' SQL alone, hand-written, pandas) agree on sampled rows.
Times nothing (timings are measured by `make bench`, never asserted)."""

from __future__ import annotations

from pathlib import Path

from customer_ml.bench import harness as bench


def test_the_harness_runs_and_the_three_ways_agree(
    project: Path, tiny_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bench"
    (out / "data").mkdir(parents=True)
    for f in tiny_data.iterdir():
        (out / "data" / f.name).write_bytes(f.read_bytes())
    results = bench.run("tiny", out, project, pandas_customers=300).read_text()
    assert "| one hand-written DuckDB query" in results
    ways = ("| one hand-written", "| pandas (`customer_ml.data.oracle`)", "| the same models' SQL")
    for start in ways:
        line = next(row for row in results.splitlines() if row.startswith(start))
        assert "| True (" in line, line
    assert "Incremental daily build / full build" in results
    # both backfills ran (a failed one fails the step) and are measured side by side
    assert "1% cohort / every customer" in results
    files = (out / "warehouse" / "backfills").glob("bench-*.duckdb")
    assert len({f.name.split(".")[0] for f in files}) == 2
    assert (out / "results.png").stat().st_size > 0


def test_the_curve_reads_each_scales_steps_and_gives_the_growth_exponent(tmp_path: Path) -> None:
    import json

    from customer_ml import config
    from customer_ml.bench import curve

    for scale, factor in (("tiny", 1.0), ("demo", 1.0), ("bench", 2.0)):
        n = config.SCALES[scale][0]
        (tmp_path / scale).mkdir()
        steps = [
            {"name": "dbt build, full, from raw data", "wall_s": n * 0.01 * factor,
             "cpu_s": 1.0, "peak_rss_mb": 100.0, "rows": None, "note": ""},
            {"name": "generate", "wall_s": 1.0, "cpu_s": 1.0, "peak_rss_mb": 1.0,
             "rows": None, "note": ""},
        ]  # fmt: skip
        (tmp_path / scale / "steps.json").write_text(json.dumps(steps))
    # the feature chain's two nodes take 3 s in the build where the hand-written query takes 2
    (tmp_path / "bench" / "run_results-full.json").write_text(
        json.dumps(
            {
                "results": [
                    {"unique_id": f"model.customer_ml.{node}", "execution_time": 1.5}
                    for node in ("int_order_facts_as_of", "customer_features.v1")
                ]
                + [{"unique_id": "model.customer_ml.ml_churn__train", "execution_time": 50.0}]
            }
        )
    )
    (tmp_path / "bench" / "features-handwritten.json").write_text(json.dumps({"seconds": 2.0}))
    (tmp_path / "bench" / "features-handwritten.time").write_text("2.1 3.0 0.5 2048\n")
    found = curve.points(tmp_path, ["tiny", "demo", "bench"])
    assert list(found) == ["dbt build, full", curve.CHAIN, curve.QUERY]  # not generate
    assert found[curve.CHAIN] == [(1_000_000, 3.0, None)]
    assert found[curve.QUERY] == [(1_000_000, 2.0, 2.0)]
    assert "Feature chain / hand-written query: 1,000,000: 1.50x" in "\n".join(curve.lines(found))
    table = "\n".join(curve.lines(found))
    # linear from tiny to demo; from demo to bench the time per customer doubles
    k = curve.exponent(20_000, 200.0, 1_000_000, 20_000.0)
    assert "| 1.00 |" in table and f"| {k:.2f} |" in table and k > 1.1
    assert curve.exponent(1, 0.0, 2, 1.0) is None
