"""Population stability index (PSI), the drift statistic of retraining decisions (issue 17).

Written once here rather than taken from Evidently or NannyML: neither fits the pinned stack
(each pins its own pandas/numpy/scikit-learn ranges and pulls dozens of packages) for what is a
dozen lines. Conventions (the credit-scoring ones the issue cites): numeric features are binned
at the reference's quantiles (deciles by default; tied edges merged), categorical features by
category; PSI = sum over bins of (q - p) * ln(q / p), with p the reference share and q the current
share, each floored at EPS so an empty bin counts but does not make PSI infinite. Below 0.1 is
stable, 0.1 to 0.25 moderate, above 0.25 significant (the thresholds are policy, in
config/models.yml).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EPS = 1e-4


def _psi(p: np.ndarray, q: np.ndarray) -> float:
    p, q = np.maximum(p, EPS), np.maximum(q, EPS)
    return float(np.sum((q - p) * np.log(q / p)))


def psi(reference, current, bins: int = 10) -> float:
    """PSI of a numeric feature: bins at the reference's quantiles. NaN when either side has no
    values (missing values are left out)."""
    ref = pd.to_numeric(pd.Series(reference), errors="coerce").dropna().to_numpy(float)
    cur = pd.to_numeric(pd.Series(current), errors="coerce").dropna().to_numpy(float)
    if len(ref) == 0 or len(cur) == 0:
        return float("nan")
    inner = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)))[1:-1]
    if len(inner) == 0:  # a constant reference: its value against everything else
        inner = np.array([ref[0]])
        ref_bins = (ref > inner[0]).astype(int)
        cur_bins = (cur > inner[0]).astype(int)
    else:
        ref_bins = np.searchsorted(inner, ref, side="right")
        cur_bins = np.searchsorted(inner, cur, side="right")
    n = len(inner) + 1
    p = np.bincount(ref_bins, minlength=n) / len(ref)
    q = np.bincount(cur_bins, minlength=n) / len(cur)
    return _psi(p, q)


def psi_categorical(reference, current) -> float:
    """PSI of a categorical feature: one bin per category seen on either side (missing is a
    category of its own)."""
    ref = pd.Series(reference).astype("object").fillna("(missing)")
    cur = pd.Series(current).astype("object").fillna("(missing)")
    if len(ref) == 0 or len(cur) == 0:
        return float("nan")
    categories = sorted(set(ref) | set(cur), key=str)
    p = ref.value_counts(normalize=True).reindex(categories, fill_value=0).to_numpy(float)
    q = cur.value_counts(normalize=True).reindex(categories, fill_value=0).to_numpy(float)
    return _psi(p, q)


def kind(column: pd.Series) -> str:
    """'numeric' or 'categorical' (booleans and strings are categories)."""
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        return "categorical"
    return "numeric"


def table(reference: pd.DataFrame, current: pd.DataFrame, skip: set[str]) -> dict[str, tuple]:
    """(kind, PSI) per column of two frames with the same columns, columns in `skip` left out."""
    out = {}
    for column in reference.columns:
        if column in skip:
            continue
        k = kind(reference[column])
        score = psi_categorical if k == "categorical" else psi
        out[column] = (k, score(reference[column], current[column]))
    return out


def between(con, relation: str, reference_as_of, current_as_of) -> dict[str, tuple]:
    """(kind, PSI) per feature of `relation` (one row per customer_id and as_of) between two of
    its as_of dates."""
    frames = [
        con.execute(f"select * from {relation} where as_of = ?", [as_of]).df()
        for as_of in (reference_as_of, current_as_of)
    ]
    return table(*frames, skip={"customer_id", "as_of"})
