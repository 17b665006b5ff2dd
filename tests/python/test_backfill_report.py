"""The backfill diff's page (customer_ml.models.backfill_report): its plots follow the diff and
the same diff gives the same bytes. The diff itself is tested in test_backfill.py."""

from __future__ import annotations

import copy
import re

from customer_ml.models import backfill_report


def _found(changed: int) -> dict:
    return {
        "predictions": [
            {"model": "churn", "as_of": "2025-11-01", "served_by": "run-a", "customers": 50,
             "changed": 0, "mean_change": 0.0, "largest_change": 0.0},
            {"model": "churn", "as_of": "2025-12-01", "served_by": "run-a", "customers": 50,
             "changed": changed, "mean_change": 0.01, "largest_change": 0.2},
            {"model": "clv", "as_of": "2025-12-01", "served_by": "run-b", "customers": 50,
             "note": "served by a version no longer recorded"},
        ],
        "relations": [
            {"relation": "features.customer_features_v1", "as_of": "2025-12-01", "backfill": 50,
             "production": 50, "only_backfill": changed, "only_production": changed},
            {"relation": "ml.churn_labels_v1", "as_of": None, "backfill": 3, "production": 3,
             "only_backfill": 0, "only_production": 0},
        ],
    }  # fmt: skip


def _images(page: str) -> list[str]:
    return re.findall(r'src="data:image/png;base64,([^"]+)"', page)


def test_the_page_plots_what_the_diff_found_and_is_the_same_for_the_same_diff() -> None:
    nothing, one = _found(0), _found(1)
    page = backfill_report.backfill_diff_html("december", one)
    assert len(_images(page)) == 2
    assert "Past predictions changed, per as_of" in page
    assert page == backfill_report.backfill_diff_html("december", copy.deepcopy(one))
    # a diff with no change draws other plots: both follow the numbers
    unchanged = _images(backfill_report.backfill_diff_html("december", nothing))
    assert [a != b for a, b in zip(unchanged, _images(page), strict=True)] == [True, True]
    # the prediction without a figure (its note) is left out of the plot, not drawn as 0
    series = backfill_report.series(one)
    assert series[0] == {"churn (run-a)": {"2025-11-01": 0, "2025-12-01": 1}}
    assert series[1] == {"features.customer_features_v1": {"2025-12-01": 2}}
