from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from customer_ml.data.generate import generate


def _q(data: Path, sql: str):
    con = duckdb.connect()
    for name in ("orders", "customers", "engagement_events"):
        con.execute(f"create view {name} as select * from '{data / (name + '.parquet')}'")
    return con.execute(sql).fetchall()


def test_same_seed_gives_identical_bytes(tmp_path: Path, tiny_data: Path) -> None:
    generate("tiny", 7, tmp_path / "again")
    for name in ("customers", "orders", "engagement_events", "business_events"):
        assert (tmp_path / "again" / f"{name}.parquet").read_bytes() == (
            tiny_data / f"{name}.parquet"
        ).read_bytes(), name


def test_other_seed_gives_other_data(tmp_path: Path, tiny_data: Path) -> None:
    generate("tiny", 8, tmp_path)
    assert (tmp_path / "orders.parquet").read_bytes() != (tiny_data / "orders.parquet").read_bytes()


def test_unknown_scale_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown scale"):
        generate("huge", 1, tmp_path)


def test_availability_late_rows_and_corrections(tiny_data: Path) -> None:
    [(n, early, late, corrected)] = _q(
        tiny_data,
        """
        select count(*),
            count(*) filter (where _available_at < ordered_at),
            count(*) filter (where _available_at > ordered_at + interval 1 day),
            (select count(*) from (select order_id from orders group by 1 having count(*) > 1))
        from orders
        """,
    )
    assert early == 0
    assert 0.02 < late / n < 0.15
    assert 0.005 < corrected / n < 0.05


def test_customers_change_over_time(tiny_data: Path) -> None:
    [(customers, rows)] = _q(
        tiny_data, "select count(distinct customer_id), count(*) from customers"
    )
    assert customers == 1000
    assert rows > customers * 1.3


def test_engagement_fades_before_silence(tiny_data: Path) -> None:
    """Customers silent in the last 120 days had fewer sessions per order before going silent."""
    [(silent_rate, active_rate)] = _q(
        tiny_data,
        """
        with last as (
            select customer_id, max(ordered_at) as last_order, count(*) as n
            from orders group by 1
        ),
        recent_sessions as (
            select last.customer_id, last.last_order < timestamp '2025-09-01' as silent,
                count(e.event_id) filter (
                    where e.occurred_at between last.last_order - interval 60 day
                    and last.last_order
                ) as sessions_before_last_order
            from last left join engagement_events e using (customer_id)
            where last.n >= 5
            group by 1, 2
        )
        select avg(sessions_before_last_order) filter (where silent),
               avg(sessions_before_last_order) filter (where not silent)
        from recent_sessions
        """,
    )
    assert silent_rate < active_rate


def test_knobs_change_only_what_they_name(tmp_path: Path, tiny_data: Path) -> None:
    """Issue 17's scenario knobs: an earlier and a later load partition the data exactly; the
    amount drift touches only orders placed from its date; duplicates and a forced retrain are
    added, nothing else."""
    from datetime import date

    from customer_ml.data.generate import Knobs

    cut, drift_from = date(2025, 11, 20), date(2025, 11, 1)
    generate("tiny", 7, tmp_path / "before", knobs=Knobs(available_until=cut))
    generate("tiny", 7, tmp_path / "rest", knobs=Knobs(
        available_from=cut, drift_from=drift_from, amount_factor=10.0, duplicate_orders=3,
        forced_retrain=("churn", "why, who"),
    ))  # fmt: skip
    con = duckdb.connect()
    part = {
        where: f"read_parquet('{tmp_path / where}/{{}}.parquet')" for where in ("before", "rest")
    }
    whole = f"read_parquet('{tiny_data}/{{}}.parquet')"
    for name in ("customers", "engagement_events"):
        assert con.execute(
            f"select count(*) from (select * from {part['before'].format(name)} union all "
            f"select * from {part['rest'].format(name)} except all "
            f"select * from {whole.format(name)})"
        ).fetchall() == [(0,)], name
    [(before, rest, total)] = con.execute(
        f"select (select count(*) from {part['before'].format('orders')}), "
        f"(select count(*) from {part['rest'].format('orders')}), "
        f"(select count(*) from {whole.format('orders')})"
    ).fetchall()
    assert before + rest == total + 3
    [(unchanged, scaled, other)] = con.execute(
        f"""
        with r as (select distinct * from {part["rest"].format("orders")}),
        w as (select * from {whole.format("orders")})
        select count(*) filter (where r.ordered_at < '{drift_from}' and r.amount = w.amount),
            count(*) filter (where r.ordered_at >= '{drift_from}'
                             and abs(r.amount - w.amount * 10) < 0.006),
            count(*) filter (where not (r.amount = w.amount or r.ordered_at >= '{drift_from}'))
        from r join w using (order_id, _available_at)
        """
    ).fetchall()
    assert unchanged > 0 and scaled > 0 and other == 0 and unchanged + scaled == rest - 3
    events = con.execute(
        f"select event_type, name, affected_models from {part['rest'].format('business_events')}"
        " where event_type = 'forced_retrain'"
    ).fetchall()
    assert events == [("forced_retrain", "why, who", "churn")]
