"""Churn's training sample: drawn in DuckDB (what the training node reads), it is the same rows,
with the same types, as the frame sample the whole dataset gave, so the same model."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from test_churn import _dataset

from customer_ml.models import churn, sampling
from customer_ml.records import lineage

LATEST = "dataset.as_of = (select max(as_of) from dataset)"


def _warehouse(df: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    # stored in no particular order, with a nullable integer (as the features' are) and NULLs
    shuffled = df.sample(frac=1, random_state=7).assign(
        days_since_last_order=lambda f: f["days_since_last_order"].where(f.index % 11 != 0)
    )
    con.register("shuffled", shuffled)
    con.execute("create table churn_training_dataset as select * from shuffled")
    con.execute("alter table churn_training_dataset alter days_since_last_order type integer")
    return con


def test_sample_rows_is_seeded_and_order_independent() -> None:
    df = _dataset()
    a = sampling.sample_rows(df, 500, seed=1)
    b = sampling.sample_rows(df.sample(frac=1, random_state=2), 500, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 500
    assert not sampling.sample_rows(df, 500, seed=2).equals(a)


@pytest.mark.parametrize("max_rows", [500, 1_000_000])
def test_the_warehouse_sample_is_the_frame_sample(max_rows: int) -> None:
    con = _warehouse(_dataset())
    table = con.table("churn_training_dataset")
    # the old read: every row into a frame, sampled there
    whole = sampling.sample_rows(table.df(), max_rows, seed=42)
    read = sampling.flag_sample(con, table, max_rows, 42, also=LATEST).df()
    ours = sampling.sampled(read, max_rows, seed=42)
    pd.testing.assert_frame_equal(ours, whole)  # values, order, dtypes (nullable Int32 too)
    assert lineage.rows_hash(ours) == lineage.rows_hash(whole)
    # what it read besides the sample is the latest as_of (the report's customer impact), whole
    latest = read[read["as_of"] == read["as_of"].max()]
    assert len(latest) == 400 and len(read) == len(ours) + (~read[sampling.SAMPLED]).sum()
    assert set(read.loc[~read[sampling.SAMPLED], "as_of"]) <= {read["as_of"].max()}
    cfg = {"max_training_rows": max_rows, "validation_as_of_count": 2}
    for a, b in zip(churn.split(read, cfg, 42), churn.split(table.df(), cfg, 42), strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_a_different_seed_is_another_sample() -> None:
    """The comparison above can fail: another draw is not the frame sample."""
    con = _warehouse(_dataset())
    table = con.table("churn_training_dataset")
    whole = sampling.sample_rows(table.df(), 500, seed=42)
    other = sampling.sampled(sampling.flag_sample(con, table, 500, 43).df(), 500, seed=42)
    assert len(other) == len(whole) == 500
    assert lineage.rows_hash(other) != lineage.rows_hash(whole)
    assert sampling.positions(500, 500, 42) is None  # at the cap: every row
