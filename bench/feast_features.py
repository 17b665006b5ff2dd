"""Point-in-time features by Feast's `get_historical_features` (DuckDB offline store), for the
benchmark (src/customer_ml/bench/harness.py). Runs in Feast's own environment (`make
bench-feast-env`), never the project's, so the project's pins stay as they are.

Feast joins entity rows (customer, timestamp) to the latest feature row at or before each
timestamp; it does not compute windows over events or know when a fact became known. So Feast
needs a precompute: the feature rows themselves, valid from each as_of. That precompute is the
benchmark's hand-written DuckDB query (bench/handwritten_features_v1.sql), timed here as part of
Feast's cost, then written to Parquet for a FileSource; the retrieval is timed apart.

    python feast_features.py WAREHOUSE SQL_FILE WORK_DIR OUT_JSON
"""

import json
import sys
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
from feast.types import Bool, Float64, Int64, String
from pit_reference import agreement, open_warehouse

TYPES = {"BIGINT": Int64, "INTEGER": Int64, "DOUBLE": Float64, "VARCHAR": String, "BOOLEAN": Bool}


def main(warehouse: str, sql_file: str, work: str, out: str) -> None:
    work_dir = Path(work)
    work_dir.mkdir(parents=True, exist_ok=True)
    con, dates, reference = open_warehouse(warehouse)

    started = time.perf_counter()
    parquet = work_dir / "feature_rows.parquet"
    con.execute(
        "create temp table precomputed as " + Path(sql_file).read_text(),
        {"as_of_start": str(dates[0]), "as_of_end": str(dates[-1])},
    )
    con.execute(
        f"copy (select * exclude (as_of), cast(as_of as timestamptz) as event_timestamp "
        f"from precomputed) to '{parquet}' (format parquet)"
    )
    precompute_seconds = time.perf_counter() - started
    schema = con.execute("describe precomputed").fetchall()
    entity_df = con.execute(
        "select customer_id, cast(as_of as timestamptz) as event_timestamp "
        "from features.customer_features_v1"
    ).df()
    con.close()

    features = [
        (name, TYPES[kind]) for name, kind, *_ in schema if name not in ("customer_id", "as_of")
    ]
    config = RepoConfig(
        project="bench",
        registry=str(work_dir / "registry.db"),
        provider="local",
        offline_store={"type": "duckdb"},
        online_store={"type": "sqlite", "path": str(work_dir / "online.db")},
        entity_key_serialization_version=3,
        repo_path=str(work_dir),
    )
    store = FeatureStore(config=config)
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
    view = FeatureView(
        name="customer_features_v1",
        entities=[customer],
        ttl=timedelta(days=3650),
        schema=[Field(name=name, dtype=dtype) for name, dtype in features],
        source=FileSource(path=str(parquet), timestamp_field="event_timestamp"),
        online=False,
    )
    store.apply([customer, view])

    started = time.perf_counter()
    result = store.get_historical_features(
        entity_df=entity_df,
        features=[f"customer_features_v1:{name}" for name, _ in features],
    ).to_df()
    retrieval_seconds = time.perf_counter() - started

    result["as_of"] = pd.to_datetime(result["event_timestamp"]).dt.tz_localize(None)
    json.dump(
        {
            "precompute_seconds": precompute_seconds,
            "retrieval_seconds": retrieval_seconds,
            "seconds": precompute_seconds + retrieval_seconds,
            "rows": len(result),
            **agreement(result.drop(columns="event_timestamp"), reference),
        },
        open(out, "w"),
    )


if __name__ == "__main__":
    main(*sys.argv[1:5])
