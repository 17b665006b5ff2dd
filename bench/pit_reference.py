"""What every way of computing point-in-time features in the benchmark is checked against: the
dbt models' customer_features v1 on a seeded sample of rows. Imported by the benchmark's scripts
(features_three_ways.py, feast_features.py) from this folder, in the project's environment or
Feast's: it needs only duckdb, numpy and pandas."""

import duckdb
import numpy as np
import pandas as pd

KEYS = ["customer_id", "as_of"]


def open_warehouse(warehouse: str):
    """A read-only connection, the as_of dates of the models' features and the seeded sample."""
    con = duckdb.connect(warehouse, read_only=True)
    con.execute("set threads = 2; set memory_limit = '8GB'; set preserve_insertion_order = false")
    dates = [
        r[0]
        for r in con.execute(
            "select distinct as_of from features.customer_features_v1 order by 1"
        ).fetchall()
    ]
    reference = con.execute(
        "select * from features.customer_features_v1 using sample 1000 rows (reservoir, 42)"
    ).df()
    return con, dates, reference


def agreement(mine: pd.DataFrame, reference: pd.DataFrame) -> dict:
    """The sampled rows `mine` has, compared column by column with the models' (numbers to
    1e-6, NaN equal to NaN; the rest as text)."""
    reference = reference.assign(as_of=pd.to_datetime(reference["as_of"]))
    mine = mine.assign(as_of=pd.to_datetime(mine["as_of"])).merge(reference[KEYS], on=KEYS)
    reference = reference.merge(mine[KEYS], on=KEYS).sort_values(KEYS).reset_index(drop=True)
    mine = mine.sort_values(KEYS).reset_index(drop=True)
    columns = [c for c in reference.columns if c in mine.columns]
    agree = len(mine) > 0 and all(
        np.allclose(mine[c].astype(float), reference[c].astype(float), atol=1e-6, equal_nan=True)
        if reference[c].dtype.kind in "fiub"
        else (mine[c].astype(str) == reference[c].astype(str)).all()
        for c in columns
    )
    return {"sampled_rows_compared": len(mine), "agree": bool(agree)}
