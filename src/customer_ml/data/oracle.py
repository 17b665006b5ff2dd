"""Point-in-time customer features (version 1) the plain pandas way: for each as_of, filter what
was known by the end of that day, keep each order's latest known version, group by customer.

Written independently of the dbt models, as a data scientist would write it, it is the oracle
the tests check `customer_features_v1` against, and the pandas baseline of the benchmark. It
grows with orders x as_of dates: fine for checking, slow at scale (that is the point).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

WINDOWS = {"30d": 30, "90d": 90, "365d": 365}


def _known(df: pd.DataFrame, event_at: str, end: pd.Timestamp) -> pd.DataFrame:
    return df[(df[event_at] < end) & (df["_available_at"] < end)]


def features_v1(
    orders: pd.DataFrame,
    customers: pd.DataFrame,
    events: pd.DataFrame,
    as_of_dates: Iterable,
) -> pd.DataFrame:
    """customer_features v1 for every customer known at each as_of (an order or a customer row
    known by the end of that day), one row per customer per as_of, sorted by both."""
    frames = []
    for as_of in as_of_dates:
        day = pd.Timestamp(as_of)
        end = day + pd.Timedelta(days=1)
        known_orders = _known(orders, "ordered_at", end)
        known_customers = _known(customers, "updated_at", end)
        ids = np.union1d(known_orders["customer_id"].unique(), known_customers["customer_id"])
        out = pd.DataFrame({"customer_id": np.sort(ids)}).set_index("customer_id")

        current = known_orders.sort_values("_available_at").drop_duplicates("order_id", keep="last")
        current = current[current["amount"] > 0]
        by_customer = current.groupby("customer_id")
        out["orders_lifetime"] = by_customer.size()
        out["amount_lifetime"] = by_customer["amount"].sum()
        for name, days in WINDOWS.items():
            recent = current[current["ordered_at"] >= day - pd.Timedelta(days=days - 1)]
            out[f"orders_{name}"] = recent.groupby("customer_id").size()
            out[f"amount_{name}"] = recent.groupby("customer_id")["amount"].sum()
        first = by_customer["ordered_at"].min().dt.normalize()
        last = by_customer["ordered_at"].max().dt.normalize()
        out["days_since_last_order"] = (day - last.reindex(out.index)).dt.days

        state = known_customers.sort_values(["updated_at", "_available_at"]).drop_duplicates(
            "customer_id", keep="last"
        )
        state = state.set_index("customer_id").reindex(out.index)
        out["country"] = state["country"].fillna("unknown")
        out["plan"] = state["plan"].fillna("unknown")
        out["has_marketing_opt_in"] = state["has_marketing_opt_in"].fillna(False).astype(bool)
        signup = state["signup_at"].dt.normalize()
        first = first.reindex(out.index)
        started = pd.concat([signup, first], axis=1).min(axis=1)
        out["tenure_days"] = (day - started).dt.days

        known_events = _known(events, "occurred_at", end)
        for name, kind, days in (
            ("sessions_30d", "session", 30),
            ("sessions_90d", "session", 90),
            ("support_contacts_90d", "support_contact", 90),
        ):
            window = known_events[
                (known_events["event_type"] == kind)
                & (known_events["occurred_at"] >= day - pd.Timedelta(days=days - 1))
            ]
            out[name] = window.groupby("customer_id").size()
        counts = [c for c in out.columns if c.startswith(("orders_", "sessions_", "support_"))]
        out[counts] = out[counts].fillna(0).astype("int64")
        amounts = [c for c in out.columns if c.startswith("amount_")]
        out[amounts] = out[amounts].fillna(0.0).astype("float64")
        frames.append(out.reset_index().assign(as_of=day))
    columns = [
        "customer_id", "as_of", "country", "plan",
        "orders_30d", "orders_90d", "orders_365d", "orders_lifetime",
        "amount_30d", "amount_90d", "amount_365d", "amount_lifetime",
        "days_since_last_order", "tenure_days",
        "sessions_30d", "sessions_90d", "support_contacts_90d", "has_marketing_opt_in",
    ]  # fmt: skip
    result = pd.concat(frames, ignore_index=True)[columns]
    return result.sort_values(["customer_id", "as_of"], kind="stable").reset_index(drop=True)


def churn_labels(
    orders: pd.DataFrame,
    events: pd.DataFrame,
    as_of_dates: Iterable,
    horizon_days: int,
    exclude_support_days: int | None = None,
) -> pd.DataFrame:
    """churn_labels: customers active at as_of (an order, in its version known then, with a
    positive amount in the 365 days up to as_of), churned when no order (latest version, positive
    amount) falls in the `horizon_days` after it; only as_of dates whose horizon has passed in
    the data (the last order day, bounded by the last load day). With `exclude_support_days`,
    customers with a support contact known at as_of within that many days are left out."""
    through = min(orders["ordered_at"].max().normalize(), orders["_loaded_at"].max().normalize())
    latest = orders.sort_values("_available_at").drop_duplicates("order_id", keep="last")
    latest = latest[latest["amount"] > 0]
    frames = []
    for as_of in as_of_dates:
        day = pd.Timestamp(as_of)
        if day + pd.Timedelta(days=horizon_days) > through:
            continue
        end = day + pd.Timedelta(days=1)
        known = _known(orders, "ordered_at", end)
        current = known.sort_values("_available_at").drop_duplicates("order_id", keep="last")
        current = current[
            (current["amount"] > 0) & (current["ordered_at"] >= day - pd.Timedelta(days=364))
        ]
        active = pd.Index(np.sort(current["customer_id"].unique()), name="customer_id")
        if exclude_support_days:
            support = _known(events, "occurred_at", end)
            support = support[
                (support["event_type"] == "support_contact")
                & (support["occurred_at"] >= day - pd.Timedelta(days=exclude_support_days - 1))
            ]
            active = active.difference(support["customer_id"].unique())
        horizon = latest[
            (latest["ordered_at"] >= end)
            & (latest["ordered_at"] < end + pd.Timedelta(days=horizon_days))
        ]
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": active,
                    "as_of": day,
                    "horizon_days": horizon_days,
                    "is_churned": ~active.isin(horizon["customer_id"].unique()),
                }
            )
        )
    result = pd.concat(frames, ignore_index=True)
    return result.sort_values(["customer_id", "as_of"], kind="stable").reset_index(drop=True)
