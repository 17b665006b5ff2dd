"""The source contract of the raw tables: every column a raw table may have, its type, whether it
is required, what it means and its default; the keys; and the limits a loaded value must respect.
`customer_ml.data.load` validates files against it; docs/data.md's table documents it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from customer_ml import config


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type
    required: bool
    meaning: str
    default: str | None = None  # SQL expression over the input when the column is absent


@dataclass(frozen=True)
class Contract:
    table: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # unique within a file
    ids: tuple[str, ...]  # must not be NULL
    event_time: str  # `_available_at` defaults to it
    # Facts cannot be known before they happen; planned events (campaigns) are announced before.
    known_before_event: bool = False
    # The columns whose values identify a line when the key is absent; `_occurrence` numbers
    # identical lines (1, 2, ...) in file order, so a real transaction log loads as it is.
    identity: tuple[str, ...] = ()

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


AVAILABLE = "when the business could first know this row (defaults to the event time)"

CONTRACTS: dict[str, Contract] = {
    "orders": Contract(
        "orders",
        (
            Column(
                "order_id",
                "BIGINT",
                False,
                "order key; a correction repeats it with a later _available_at. Without it, "
                "identical lines are separate orders: the key is derived from the line's values "
                "and its occurrence among identical lines",
                "hash(customer_id, ordered_at, amount, _occurrence) % 9007199254740991",
            ),
            Column("customer_id", "BIGINT", True, "customer key"),
            Column("ordered_at", "TIMESTAMP", True, "when the order was placed (event time)"),
            Column("amount", "DOUBLE", True, "order value, >= 0, in one currency"),
            Column("channel", "VARCHAR", False, "web / app / store / ...", "'unknown'"),
            Column("_available_at", "TIMESTAMP", False, AVAILABLE, "ordered_at"),
        ),
        key=("order_id", "_available_at"),
        ids=("order_id", "customer_id"),
        event_time="ordered_at",
        identity=("customer_id", "ordered_at", "amount"),
    ),
    "customers": Contract(
        "customers",
        (
            Column("customer_id", "BIGINT", True, "customer key"),
            Column("signup_at", "TIMESTAMP", False, "when the customer signed up", "NULL"),
            Column("country", "VARCHAR", False, "country code", "'unknown'"),
            Column("plan", "VARCHAR", False, "subscription plan", "'unknown'"),
            Column("marketing_opt_in", "BOOLEAN", False, "consent to marketing", "false"),
            Column(
                "updated_at",
                "TIMESTAMP",
                False,
                "from when this row's values hold (a change log: one row per change)",
                "coalesce(signup_at, timestamp '1970-01-01')",
            ),
            Column("_available_at", "TIMESTAMP", False, AVAILABLE, "updated_at"),
        ),
        key=("customer_id", "updated_at"),
        ids=("customer_id",),
        event_time="updated_at",
    ),
    "engagement_events": Contract(
        "engagement_events",
        (
            Column(
                "event_id",
                "BIGINT",
                False,
                "event key (derived like order_id when absent)",
                "hash(customer_id, event_type, occurred_at, _occurrence) % 9007199254740991",
            ),
            Column("customer_id", "BIGINT", True, "customer key"),
            Column("event_type", "VARCHAR", True, "session / support_contact / ..."),
            Column("occurred_at", "TIMESTAMP", True, "when it happened (event time)"),
            Column("_available_at", "TIMESTAMP", False, AVAILABLE, "occurred_at"),
        ),
        key=("event_id",),
        ids=("event_id", "customer_id"),
        event_time="occurred_at",
        identity=("customer_id", "event_type", "occurred_at"),
    ),
    "business_events": Contract(
        "business_events",
        (
            Column("event_id", "BIGINT", True, "event key"),
            Column("event_type", "VARCHAR", True, "campaign / product_change / ..."),
            Column("name", "VARCHAR", True, "what it was"),
            Column("starts_at", "TIMESTAMP", True, "when it started (event time)"),
            Column("ends_at", "TIMESTAMP", False, "when it ended", "starts_at"),
            Column("affected_models", "VARCHAR", False, "comma-separated model names", "''"),
            Column("_available_at", "TIMESTAMP", False, AVAILABLE, "starts_at"),
        ),
        key=("event_id",),
        ids=("event_id",),
        event_time="starts_at",
        known_before_event=True,
    ),
}

LOAD_COLUMNS = (("_loaded_at", "TIMESTAMP"), ("_load_id", "VARCHAR"))


@dataclass(frozen=True)
class Limits:
    """What a loaded value may be. The defaults are dbt_project.yml's vars `max_amount`,
    `future_tolerance_hours` (staging excludes by the same vars) and `earliest_event_date`;
    `customer-ml load --max-amount/--future-tolerance-hours` override the first two for one
    load."""

    max_amount: float
    # A time later than the load by more than this cannot be a fact yet (clocks drift a little).
    future_tolerance: timedelta
    # A time before this is a mistake (a year 1 or BC date), not a shop's history.
    earliest: date = date(1990, 1, 1)

    @classmethod
    def from_project(cls) -> Limits:
        found = config.project_vars()
        return cls(
            float(found["max_amount"]),
            timedelta(hours=float(found["future_tolerance_hours"])),
            _earliest(found.get("earliest_event_date", "1990-01-01")),
        )


def _earliest(value: object) -> date:
    """Var earliest_event_date as a date; a value that is not one is one line naming it."""
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise config.OperatorError(
            f"var earliest_event_date={str(value)[:40]!r} (dbt_project.yml): not a date "
            "(YYYY-MM-DD)"
        ) from None
