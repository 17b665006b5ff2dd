"""The raw files the generator writes: the window of time they cover and their Arrow schemas
(customer_ml.data.generate writes them, customer_ml.data.knobs reshapes them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pyarrow as pa

WINDOW_START = date(2023, 1, 1)
WINDOW_END = date(2025, 12, 31)  # last day with data ("data through")


@dataclass(frozen=True)
class Tables:
    """Arrow schemas of the raw files; the loader's source contract mirrors them."""

    customers = pa.schema(
        [
            ("customer_id", pa.int64()),
            ("signup_at", pa.timestamp("us")),
            ("country", pa.string()),
            ("plan", pa.string()),
            ("marketing_opt_in", pa.bool_()),
            ("updated_at", pa.timestamp("us")),
            ("_available_at", pa.timestamp("us")),
        ]
    )
    orders = pa.schema(
        [
            ("order_id", pa.int64()),
            ("customer_id", pa.int64()),
            ("ordered_at", pa.timestamp("us")),
            ("amount", pa.float64()),
            ("channel", pa.string()),
            ("_available_at", pa.timestamp("us")),
        ]
    )
    engagement_events = pa.schema(
        [
            ("event_id", pa.int64()),
            ("customer_id", pa.int64()),
            ("event_type", pa.string()),
            ("occurred_at", pa.timestamp("us")),
            ("_available_at", pa.timestamp("us")),
        ]
    )
    business_events = pa.schema(
        [
            ("event_id", pa.int64()),
            ("event_type", pa.string()),
            ("name", pa.string()),
            ("starts_at", pa.timestamp("us")),
            ("ends_at", pa.timestamp("us")),
            ("affected_models", pa.string()),
            ("_available_at", pa.timestamp("us")),
        ]
    )
