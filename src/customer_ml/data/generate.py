"""Synthetic customer warehouse with learnable behaviour, generated deterministically in chunks.

Each customer follows a BG/NBD-like process: a latent purchase rate (gamma across customers), a
dropout probability after each purchase (beta across customers) and a spend level (gamma).
Engagement (sessions) fades over the 60 days before a customer drops out and support contacts rise,
so churn is learnable from features known before it happens. Campaigns lift the purchase rate of
opted-in customers while they run. Orders arrive late sometimes and are sometimes corrected (a new
row with the same `order_id` and a later `_available_at`). Customers change plan, country and
marketing opt-in over time; each change is a row with its `updated_at`.

Customers are generated in chunks with a random stream per chunk derived from the seed, so the
output is byte-identical for a seed at any chunk size of the writer, and memory stays bounded by
one chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from customer_ml import config
from customer_ml.data.knobs import Knobs
from customer_ml.data.tables import WINDOW_END, WINDOW_START, Tables

# scale -> (customers, intensity): intensity multiplies every customer's purchase rate and
# divides their dropout probability per purchase, so bench customers buy about twice as often
# (≈50 orders each, ≈50M in all) while tiny and demo stay as they were.
SCALES = config.SCALES
CHUNK_CUSTOMERS = 50_000

SECONDS_PER_DAY = 86_400

COUNTRIES = np.array(["US", "GB", "DE", "FR", "NL", "ES"])
COUNTRY_P = np.array([0.4, 0.15, 0.15, 0.12, 0.08, 0.10])
PLANS = np.array(["basic", "plus", "pro"])
PLAN_P = np.array([0.6, 0.3, 0.1])
PLAN_RATE = np.array([1.0, 1.3, 1.7])
CHANNELS = np.array(["web", "app", "store"])

# Campaigns: (name, start day offset, length in days, purchase-rate lift for opted-in customers).
CAMPAIGNS = [
    ("spring_sale_2023", 80, 14, 1.6),
    ("black_friday_2023", 327, 10, 2.0),
    ("spring_sale_2024", 446, 14, 1.6),
    ("black_friday_2024", 693, 10, 2.0),
    ("spring_sale_2025", 811, 14, 1.6),
    ("black_friday_2025", 1058, 10, 2.0),
]
PRODUCT_CHANGES = [
    ("new_checkout_flow", 250, "churn,clv"),
    ("loyalty_programme", 600, "churn,clv,segments"),
    ("price_increase_pro", 900, "churn,clv"),
]
MAX_LIFT = max(c[3] for c in CAMPAIGNS)


def _epoch_us(d: date) -> int:
    return (d - date(1970, 1, 1)).days * SECONDS_PER_DAY * 1_000_000


START_US = _epoch_us(WINDOW_START)
SPAN_DAYS = (WINDOW_END - WINDOW_START).days + 1


def _ts(days: np.ndarray) -> pa.Array:
    """Fractional days since the window start -> arrow timestamps (microseconds)."""
    us = START_US + np.round(days * SECONDS_PER_DAY).astype(np.int64) * 1_000_000
    return pa.array(us, type=pa.timestamp("us"))


def _campaign_lift(t: np.ndarray, opted_in: np.ndarray) -> np.ndarray:
    lift = np.ones_like(t)
    for _, start, length, factor in CAMPAIGNS:
        in_window = (t >= start) & (t < start + length) & opted_in
        lift = np.where(in_window, factor, lift)
    return lift


def _simulate_chunk(
    seed: int, chunk: int, first_id: int, n: int, intensity: float = 1.0
) -> dict[str, pa.Table]:
    rng = np.random.default_rng([seed, chunk])
    ids = np.arange(first_id, first_id + n, dtype=np.int64)

    # Signups: a third existed before the window opened (they buy from day 0), the rest arrive
    # uniformly until 60 days before the end.
    existing = rng.random(n) < 0.33
    signup = np.where(existing, 0.0, rng.uniform(0, SPAN_DAYS - 60, n))
    plan_idx = rng.choice(len(PLANS), n, p=PLAN_P)
    country_idx = rng.choice(len(COUNTRIES), n, p=COUNTRY_P)
    opt_in = rng.random(n) < 0.55

    rate = rng.gamma(shape=1.5, scale=0.04, size=n) * PLAN_RATE[plan_idx] * intensity  # per day
    dropout_p = rng.beta(1.5, 45.0, size=n) / intensity
    spend = rng.gamma(shape=4.0, scale=12.5, size=n)
    channel_pref = rng.choice(len(CHANNELS), n, p=[0.5, 0.35, 0.15])

    # Purchases: the first at signup, then exponential gaps thinned by campaign lift; after each
    # purchase the customer drops out with probability dropout_p (BG/NBD).
    buyer_days: list[np.ndarray] = []
    buyer_idx: list[np.ndarray] = []
    first_purchase = signup + rng.uniform(0, 3, n)
    alive_first = first_purchase < SPAN_DAYS
    buyer_days.append(first_purchase[alive_first])
    buyer_idx.append(np.nonzero(alive_first)[0])
    death = np.full(n, np.inf)
    t = first_purchase.copy()
    active = np.nonzero(alive_first)[0]
    drop_now = rng.random(active.size) < dropout_p[active]
    death[active[drop_now]] = t[active[drop_now]]
    active = active[~drop_now]
    while active.size:
        t[active] += rng.exponential(1.0 / (rate[active] * MAX_LIFT))
        in_window = t[active] < SPAN_DAYS
        active = active[in_window]
        if not active.size:
            break
        accept = rng.random(active.size) < _campaign_lift(t[active], opt_in[active]) / MAX_LIFT
        bought = active[accept]
        buyer_days.append(t[bought])
        buyer_idx.append(bought)
        drop_now = rng.random(bought.size) < dropout_p[bought]
        death[bought[drop_now]] = t[bought[drop_now]]
        active = np.concatenate([active[~accept], bought[~drop_now]])
        active.sort()

    o_days = np.concatenate(buyer_days)
    o_cust = np.concatenate(buyer_idx)
    order = np.lexsort((o_days, o_cust))
    o_days, o_cust = o_days[order], o_cust[order]
    n_orders = o_days.size
    amount = np.round(rng.gamma(6.0, spend[o_cust] / 6.0), 2)
    channel = np.where(
        rng.random(n_orders) < 0.8, channel_pref[o_cust], rng.integers(0, 3, n_orders)
    )
    order_ids = first_id * 1_000 + np.arange(n_orders, dtype=np.int64)
    late = rng.random(n_orders) < 0.05
    avail = o_days + np.where(late, rng.uniform(1, 10, n_orders), rng.uniform(0, 0.25, n_orders))

    corrected = rng.random(n_orders) < 0.02
    c_idx = np.nonzero(corrected)[0]
    c_amount = np.round(amount[c_idx] * rng.choice([0.0, 0.5, 0.8], c_idx.size), 2)
    c_avail = avail[c_idx] + rng.uniform(1, 30, c_idx.size)

    orders = pa.table(
        {
            "order_id": np.concatenate([order_ids, order_ids[c_idx]]),
            "customer_id": ids[np.concatenate([o_cust, o_cust[c_idx]])],
            "ordered_at": _ts(np.concatenate([o_days, o_days[c_idx]])),
            "amount": np.concatenate([amount, c_amount]),
            "channel": CHANNELS[np.concatenate([channel, channel[c_idx]])],
            "_available_at": _ts(np.concatenate([avail, c_avail])),
        },
        schema=Tables.orders,
    )

    # Engagement: sessions at a rate tied to the purchase rate that fades over the 60 days before
    # dropout; support contacts rare, three times as frequent in the last 60 days.
    end_active = np.minimum(np.where(np.isfinite(death), death + 20, SPAN_DAYS), SPAN_DAYS)
    length = np.clip(end_active - signup, 0, None)
    ev_days, ev_cust, ev_type = [], [], []
    for kind, base in (("session", rate * 1.2), ("support_contact", np.full(n, 0.01))):
        counts = rng.poisson(base * length * (1.0 if kind == "session" else 3.0))
        cust = np.repeat(np.arange(n), counts)
        days = signup[cust] + rng.random(cust.size) * length[cust]
        to_death = death[cust] - days
        near = to_death < 60
        if kind == "session":
            keep_p = np.where(near, np.clip(to_death / 60, 0.1, 1.0), 1.0)
        else:
            keep_p = np.where(near, 1.0, 1.0 / 3.0)
        keep = rng.random(cust.size) < keep_p
        ev_days.append(days[keep])
        ev_cust.append(cust[keep])
        ev_type.append(np.full(keep.sum(), kind))
    e_days = np.concatenate(ev_days)
    e_cust = np.concatenate(ev_cust)
    e_type = np.concatenate(ev_type)
    e_order = np.lexsort((e_days, e_cust))
    e_days, e_cust, e_type = e_days[e_order], e_cust[e_order], e_type[e_order]
    e_avail = e_days + rng.uniform(0, 0.1, e_days.size)
    events = pa.table(
        {
            "event_id": first_id * 1_000 + np.arange(e_days.size, dtype=np.int64),
            "customer_id": ids[e_cust],
            "event_type": e_type,
            "occurred_at": _ts(e_days),
            "_available_at": _ts(e_avail),
        },
        schema=Tables.engagement_events,
    )

    # Customer change log: the state at signup, then a few changes of one attribute each.
    n_changes = rng.poisson(0.8, n)
    ch_cust = np.repeat(np.arange(n), n_changes)
    ch_day = signup[ch_cust] + rng.random(ch_cust.size) * (SPAN_DAYS - signup[ch_cust])
    ch_order = np.lexsort((ch_day, ch_cust))
    ch_cust, ch_day = ch_cust[ch_order], ch_day[ch_order]
    attribute = rng.integers(0, 3, ch_cust.size)
    rows_cust = np.concatenate([np.arange(n), ch_cust])
    rows_day = np.concatenate([signup, ch_day])
    rows_attr = np.concatenate([np.full(n, -1), attribute])
    new_plan = rng.choice(len(PLANS), ch_cust.size, p=PLAN_P)
    new_country = rng.choice(len(COUNTRIES), ch_cust.size, p=COUNTRY_P)
    rows_new_plan = np.concatenate([plan_idx, new_plan])
    rows_new_country = np.concatenate([country_idx, new_country])
    r_order = np.lexsort((rows_day, rows_cust))
    rows_cust, rows_day, rows_attr = rows_cust[r_order], rows_day[r_order], rows_attr[r_order]
    rows_new_plan, rows_new_country = rows_new_plan[r_order], rows_new_country[r_order]
    plan_state = np.empty(rows_cust.size, dtype=np.int64)
    country_state = np.empty(rows_cust.size, dtype=np.int64)
    opt_state = np.empty(rows_cust.size, dtype=bool)
    # Carry state forward within each customer; the runs are short, so a loop over the
    # change index (not over customers) is cheap.
    first_row = np.r_[True, rows_cust[1:] != rows_cust[:-1]]
    plan_state[first_row] = plan_idx[rows_cust[first_row]]
    country_state[first_row] = country_idx[rows_cust[first_row]]
    opt_state[first_row] = opt_in[rows_cust[first_row]]
    for i in np.nonzero(~first_row)[0]:
        plan_state[i], country_state[i], opt_state[i] = (
            plan_state[i - 1],
            country_state[i - 1],
            opt_state[i - 1],
        )
        if rows_attr[i] == 0:
            plan_state[i] = rows_new_plan[i]
        elif rows_attr[i] == 1:
            country_state[i] = rows_new_country[i]
        else:
            opt_state[i] = not opt_state[i]
    customers = pa.table(
        {
            "customer_id": ids[rows_cust],
            "signup_at": _ts(signup[rows_cust]),
            "country": COUNTRIES[country_state],
            "plan": PLANS[plan_state],
            "marketing_opt_in": opt_state,
            "updated_at": _ts(rows_day),
            "_available_at": _ts(rows_day + 0.01),
        },
        schema=Tables.customers,
    )
    return {"customers": customers, "orders": orders, "engagement_events": events}


def business_events() -> pa.Table:
    rows = [
        # a campaign is a marketing fact, meant to move no model: it names none (a business
        # event that should retrain a model names that model only)
        ("campaign", name, start, start + length, "")
        for name, start, length, _ in CAMPAIGNS
    ] + [("product_change", name, start, start, models) for name, start, models in PRODUCT_CHANGES]
    starts = np.array([r[2] for r in rows], dtype=float)
    return pa.table(
        {
            "event_id": np.arange(1, len(rows) + 1, dtype=np.int64),
            "event_type": [r[0] for r in rows],
            "name": [r[1] for r in rows],
            "starts_at": _ts(starts),
            "ends_at": _ts(np.array([r[3] for r in rows], dtype=float)),
            "_available_at": _ts(starts - 7),
            "affected_models": [r[4] for r in rows],
        }
    ).select(Tables.business_events.names)


def iter_chunks(
    n_customers: int, seed: int, intensity: float = 1.0
) -> Iterator[dict[str, pa.Table]]:
    for chunk, first in enumerate(range(0, n_customers, CHUNK_CUSTOMERS)):
        n = min(CHUNK_CUSTOMERS, n_customers - first)
        yield _simulate_chunk(seed, chunk, first_id=first + 1, n=n, intensity=intensity)


def generate(
    scale: str,
    seed: int,
    out: Path,
    progress: Callable[[int, int], None] | None = None,
    knobs: Knobs | None = None,
) -> dict[str, int]:
    """Write customers, orders, engagement_events and business_events as Parquet into `out`.

    Returns the row count per table. Same scale, seed and knobs give byte-identical files.
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; expected one of {', '.join(SCALES)}")
    n_customers, intensity = SCALES[scale]
    knobs = knobs or Knobs()
    out.mkdir(parents=True, exist_ok=True)
    names = ("customers", "orders", "engagement_events")
    schemas = {name: getattr(Tables, name) for name in names}
    writers = {name: pq.ParquetWriter(out / f"{name}.parquet", schemas[name]) for name in names}
    counts = dict.fromkeys(names, 0)
    n_chunks = -(-n_customers // CHUNK_CUSTOMERS)
    try:
        for i, simulated in enumerate(iter_chunks(n_customers, seed, intensity)):
            tables = knobs.apply(simulated)
            for name in names:
                writers[name].write_table(tables[name], row_group_size=1_000_000)
                counts[name] += tables[name].num_rows
            if progress:
                progress(i + 1, n_chunks)
    finally:
        for writer in writers.values():
            writer.close()
    be = knobs.business_events(business_events())
    pq.write_table(be, out / "business_events.parquet")
    counts["business_events"] = be.num_rows
    return counts
