"""Segment stability on a built warehouse: retrain on the same data, and on one more month.

    .venv/bin/python bench/segment_stability.py [warehouse/dev.duckdb] [2025-11-01] [2025-12-01]

Prints the adjusted Rand index of old vs new assignment on the same customers for both.
"""

import sys

import duckdb
import pandas as pd

from customer_ml import catalogue
from customer_ml.models import segments

warehouse = sys.argv[1] if len(sys.argv) > 1 else "warehouse/dev.duckdb"
earlier, later = sys.argv[2:4] if len(sys.argv) > 3 else ("2025-11-01", "2025-12-01")
cfg = catalogue.entry("segments").policy
params = dict(
    k=cfg.get("k"),
    k_range=(int(cfg["k_min"]), int(cfg["k_max"])),
    seed=int(cfg["seed"]),
    silhouette_sample=int(cfg["silhouette_sample"]),
)
con = duckdb.connect(warehouse, read_only=True)
frames = {
    day: con.execute(
        "select * from features.customer_features_v2 where orders_lifetime > 0 and as_of = ? "
        "order by customer_id",
        [pd.Timestamp(day).date()],
    ).df()
    for day in (earlier, later)
}
first, _ = segments.fit_kmeans(frames[earlier], **params)
again, _ = segments.fit_kmeans(frames[earlier], **params)
print("same data:", segments.stability(first, again, frames[earlier]))
second, _ = segments.fit_kmeans(frames[later], previous=first, **params)
both = frames[later][frames[later]["customer_id"].isin(frames[earlier]["customer_id"])]
print("one more month:", segments.stability(first, second, both))
