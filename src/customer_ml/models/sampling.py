"""A seeded, order-independent row sample: above a cap of `max_rows`, the rows at `positions(n,
max_rows, seed)` when the n rows are in key order (`as_of, customer_id`, unique in the datasets
sampled). Drawn from the row count alone, so the same rows whether a frame is sampled
(`sample_rows`) or the warehouse is (`flag_sample`, which a training node reads instead of the
whole dataset: churn's every customer at every labelled as_of was 36M rows and 12 GB at 3M
customers, for a sample of 2M).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

KEY = ("as_of", "customer_id")
# the flag `flag_sample` adds: the row is in the sample (else it was read for `also`)
SAMPLED = "in_training_sample"
# the name the positions are registered under on the reading connection
POSITIONS = "customer_ml_sample_positions"


def positions(n: int, max_rows: int, seed: int) -> np.ndarray | None:
    """The sorted positions kept of n rows in key order, or None (all rows) at or below the cap."""
    if n <= max_rows:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))


def sample_rows(df: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """The sample of a frame, in key order (the order the rows arrive in does not matter)."""
    df = df.sort_values(list(KEY), kind="stable").reset_index(drop=True)
    keep = positions(len(df), max_rows, seed)
    return df if keep is None else df.iloc[keep].reset_index(drop=True)


def flag_sample(
    session: Any, relation: Any, max_rows: int, seed: int, *, also: str = "false"
) -> Any:
    """`relation` (a DuckDB relation on `session`) reduced in the warehouse to the rows of its
    sample, flagged `SAMPLED` true, and the rows where the SQL condition `also` holds (it may
    name the relation as `dataset`), flagged false unless sampled; in key order. Registers the
    sample's positions on `session` as `POSITIONS`."""
    [(n,)] = relation.aggregate("count(*)").fetchall()
    keep = positions(n, max_rows, seed)
    key = ", ".join(KEY)
    if keep is None:
        return relation.query("dataset", f"select *, true as {SAMPLED} from dataset order by {key}")
    session.register(POSITIONS, pd.DataFrame({"position": keep}))
    on = " and ".join(f"dataset.{k} = chosen.{k}" for k in KEY)
    return relation.query(
        "dataset",
        f"""
        with numbered as (
            select {key}, row_number() over (order by {key}) - 1 as position from dataset
        ),
        chosen as (
            select {key} from numbered where position in (select position from {POSITIONS})
        )
        select dataset.*, chosen.customer_id is not null as {SAMPLED}
        from dataset left join chosen on {on}
        where chosen.customer_id is not null or ({also})
        order by {", ".join(f"dataset.{k}" for k in KEY)}
        """,
    )


def sampled(dataset: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """The sample of a frame `flag_sample` read (its flagged rows, without the flag), or of any
    other frame; in key order."""
    if SAMPLED in dataset.columns:
        dataset = dataset[dataset[SAMPLED].astype(bool)].drop(columns=SAMPLED)
    return sample_rows(dataset, max_rows, seed)
