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
