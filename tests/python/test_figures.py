"""The README's model figures are what `make run` gives on a fresh clone: the demo data (seed
42) loaded and built, then `customer-ml figures --check README.md` (the README's block between
its figures markers must equal this warehouse's figures; any drift fails, naming both)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO, cli, dbt_build


@pytest.mark.e2e
def test_the_readme_quotes_the_figures_make_run_gives(tmp_path: Path) -> None:
    data, wh = tmp_path / "data", tmp_path / "wh"
    done = cli(wh, "generate", "--scale", "demo", "--seed", "42", "--out", str(data))
    assert done.returncode == 0, done.stderr
    done = cli(wh, "load", "--target", "ci", "--orders", str(data / "orders.parquet"),
               "--customers", str(data / "customers.parquet"),
               "--events", str(data / "engagement_events.parquet"),
               "--business-events", str(data / "business_events.parquet"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    dbt_build(wh, timeout=1800)
    done = cli(wh, "figures", "--target", "ci", "--check", str(REPO / "README.md"))
    assert done.returncode == 0, done.stderr
    assert "| churn | roc_auc" in done.stdout
