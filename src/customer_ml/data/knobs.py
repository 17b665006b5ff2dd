"""What a scenario changes in the generated data (customer_ml.data.generate; issue 17's retraining
scenarios)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from customer_ml.data.tables import WINDOW_END, Tables


@dataclass(frozen=True)
class Knobs:
    """What a scenario changes in the simulated data (issue 17's retraining scenarios). Each is
    applied to the simulated tables after the simulation, so the defaults give exactly the
    files the generator always wrote, and a knob changes only what it names.

    - `available_from` / `available_until`: keep only rows available (`_available_at`) on or
      after / before the date: the data one load would bring (an earlier load and a later one
      are disjoint, so the loader takes both).
    - `drift_from` and `amount_factor`: orders placed on or after `drift_from` have their amount
      multiplied (a shift in spend the order-amount features see).
    - `duplicate_orders`: that many of each chunk's (available) orders repeated verbatim (a
      data-quality fault the loader refuses; it reaches raw only through another pipeline).
    - `forced_retrain`: (models, reason), a business event of type `forced_retrain` naming
      the models (comma-separated), available at `available_from` (or the window's end).
    - `concept_shift_from`: from that day on, half of the customers (even ids) stop ordering,
      whatever their history: what predicted churn before no longer does (a concept shift the
      serving churn model gets worse at, over matured labels).
    """

    available_from: date | None = None
    available_until: date | None = None
    drift_from: date | None = None
    amount_factor: float = 1.0
    duplicate_orders: int = 0
    forced_retrain: tuple[str, str] | None = None
    concept_shift_from: date | None = None

    def apply(self, tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
        out = dict(tables)
        orders = out["orders"]
        if self.concept_shift_from is not None:
            after = pc.greater_equal(orders["ordered_at"], _at(self.concept_shift_from))
            even = pc.equal(pc.bit_wise_and(orders["customer_id"], 1), 0)
            orders = orders.filter(pc.invert(pc.and_(after, even)))
        if self.drift_from is not None and self.amount_factor != 1.0:
            placed = pc.greater_equal(orders["ordered_at"], _at(self.drift_from))
            scaled = pc.round(pc.multiply(orders["amount"], self.amount_factor), 2)
            amount = pc.if_else(placed, scaled, orders["amount"])
            orders = orders.set_column(orders.schema.get_field_index("amount"), "amount", amount)
        out["orders"] = orders
        out = {name: self.available(table) for name, table in out.items()}
        if self.duplicate_orders:
            orders = out["orders"]
            out["orders"] = pa.concat_tables([orders, orders.slice(0, self.duplicate_orders)])
        return out

    def available(self, table: pa.Table) -> pa.Table:
        keep = pa.array(np.ones(table.num_rows, dtype=bool))
        if self.available_from is not None:
            keep = pc.and_(keep, pc.greater_equal(table["_available_at"], _at(self.available_from)))
        if self.available_until is not None:
            keep = pc.and_(keep, pc.less(table["_available_at"], _at(self.available_until)))
        return table.filter(keep)

    def business_events(self, events: pa.Table) -> pa.Table:
        if self.forced_retrain is not None:
            models, reason = self.forced_retrain
            at = _at(self.available_from or WINDOW_END)
            forced = pa.table(
                {
                    "event_id": pa.array([events.num_rows + 1], pa.int64()),
                    "event_type": ["forced_retrain"],
                    "name": [reason],
                    "starts_at": pa.array([at], pa.timestamp("us")),
                    "ends_at": pa.array([at], pa.timestamp("us")),
                    "affected_models": [models],
                    "_available_at": pa.array([at], pa.timestamp("us")),
                }
            ).select(Tables.business_events.names)
            events = pa.concat_tables([events, forced.cast(events.schema)])
        return self.available(events)


def _at(day: date) -> pa.Scalar:
    return pa.scalar(datetime(day.year, day.month, day.day), pa.timestamp("us"))
