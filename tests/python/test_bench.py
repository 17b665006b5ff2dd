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


def test_a_measured_scale_keeps_what_the_curve_reads_and_loses_its_bulk(tmp_path: Path) -> None:
    import json

    from customer_ml.bench import curve

    scale = tmp_path / "bench"
    for bulk in curve.BULK:
        (scale / bulk / "inner").mkdir(parents=True)
        (scale / bulk / "inner" / "file.parquet").write_bytes(b"x" * 10)
    step = {"name": "dbt build, full, from raw data", "wall_s": 9.0, "cpu_s": 1.0,
            "peak_rss_mb": 100.0, "rows": None, "note": ""}  # fmt: skip
    (scale / "steps.json").write_text(json.dumps([step]))
    before = curve.points(tmp_path, ["bench"])
    assert sorted(p.name for p in curve.prune(scale)) == sorted(curve.BULK)
    assert sorted(p.name for p in scale.iterdir()) == ["steps.json"]
    assert (
        curve.points(tmp_path, ["bench"])
        == before
        == {"dbt build, full": [(1_000_000, 9.0, 100.0)]}
    )
    assert curve.prune(scale) == []  # twice: nothing left to delete, no error


def test_each_node_gets_the_highest_memory_sampled_while_it_executed(tmp_path: Path) -> None:
    import json

    from customer_ml.bench.steps import node_memory

    def execute(start: str, end: str) -> list[dict[str, str]]:
        return [{"name": "compile", "started_at": start, "completed_at": start},
                {"name": "execute", "started_at": start, "completed_at": end}]  # fmt: skip

    results = [
        {"unique_id": "model.customer_ml.small", "timing": execute(
            "2026-01-01T00:00:00Z", "2026-01-01T00:00:10Z")},
        {"unique_id": "model.customer_ml.large", "timing": execute(
            "2026-01-01T00:00:10.500000Z", "2026-01-01T00:00:20Z")},
        # skipped (no execute timing) and too short for a sample: neither is given a figure
        {"unique_id": "model.customer_ml.skipped", "timing": []},
        {"unique_id": "model.customer_ml.instant", "timing": execute(
            "2026-01-01T00:00:04.100000Z", "2026-01-01T00:00:04.200000Z")},
    ]  # fmt: skip
    (tmp_path / "run_results.json").write_text(json.dumps({"results": results}))
    epoch = 1767225600.0  # 2026-01-01T00:00:00Z
    (tmp_path / "build.rss").write_text(
        "".join(
            f"{epoch + s:.1f} {mb}\n"
            for s, mb in ((1, 300), (5, 900), (9, 400), (12, 5000), (19, 700), (25, 9999))
        )  # fmt: skip
    )
    peaks = node_memory(tmp_path / "run_results.json", tmp_path / "build.rss")
    assert peaks == {"small": 900.0, "large": 5000.0}


def test_a_step_samples_the_memory_of_the_processes_it_starts(tmp_path: Path) -> None:
    """A child that holds about 200 MB for two seconds is seen in its step's samples (the
    child's own child, as dbt's processes sit below GNU time)."""
    import os
    import sys

    from customer_ml.bench.steps import timed

    hold = "import time; b = bytearray(200 * 2**20); b[::4096] = b'x' * 51200; time.sleep(2)"
    inner = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {hold!r}], check=True)"
    step = timed("hold", [sys.executable, "-c", inner], dict(os.environ), tmp_path,
                 tmp_path / "hold.log")  # fmt: skip
    sampled = [float(line.split()[1]) for line in (tmp_path / "hold.rss").read_text().splitlines()]
    assert max(sampled) >= 200, sampled
    assert step.peak_rss_mb >= 200


def test_the_loader_bench_loads_every_row_of_each_file_it_measures(tmp_path: Path) -> None:
    from customer_ml import config
    from customer_ml.bench import loader

    lines = loader.memory(
        tmp_path, config.project_dir(), rows=(3_000, 12_000), memory_limit="256MB"
    )
    measured = [line.split("|")[1:-1] for line in lines if line.startswith("| parquet") or
                line.startswith("| csv")]  # fmt: skip
    assert [(m[0].strip(), m[1].strip()) for m in measured] == [
        ("parquet", "3,000"),
        ("parquet", "12,000"),
        ("csv", "3,000"),
        ("csv", "12,000"),
    ]
    # what the warehouse holds afterwards is each file's every row, not a count the bench wrote
    assert [m[-1].strip() for m in measured] == [m[1].strip() for m in measured]
    assert "CUSTOMER_ML_DUCKDB_MEMORY=256MB" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{fmt}-{n}.{kind}"
        for fmt in ("parquet", "csv")
        for n in (3000, 12000)
        for kind in ("log", "time")
    )  # the files and warehouses are gone once measured
