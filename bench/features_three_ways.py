"""Point-in-time features by one hand-written DuckDB query or by the pandas oracle, for the
benchmark (src/customer_ml/bench/harness.py), in a child process so GNU time measures it alone.
Writes timing and agreement with the models (pit_reference) as JSON.

    python features_three_ways.py handwritten|pandas WAREHOUSE SQL_FILE PANDAS_CUSTOMERS OUT_JSON
"""

import json
import sys
import time

import pandas as pd
from pit_reference import agreement, open_warehouse

way, warehouse, sql_file, pandas_customers, out = sys.argv[1:6]
con, dates, reference = open_warehouse(warehouse)
started = time.perf_counter()
if way == "handwritten":
    con.execute(
        "create temp table result as " + open(sql_file).read(),
        {"as_of_start": str(dates[0]), "as_of_end": str(dates[-1])},
    )
    seconds = time.perf_counter() - started
    rows = con.execute("select count(*) from result").fetchall()[0][0]
    con.register("reference", reference)
    mine = con.execute(
        "select result.* from result join reference using (customer_id, as_of) "
        "order by customer_id, as_of"
    ).df()
    customers = None
else:
    from customer_ml.data import oracle

    n = int(pandas_customers)
    ids = con.execute(
        f"select customer_id from (select distinct customer_id from raw.orders) "
        f"using sample {n} rows (reservoir, 7)"
    ).df()
    con.register("ids", ids)
    orders = con.execute(
        "select o.order_id, o.customer_id, cast(o.amount as double) as amount, o.ordered_at, "
        "o._available_at from raw.orders o semi join ids using (customer_id)"
    ).df()
    customers_df = con.execute(
        "select c.customer_id, country, plan, marketing_opt_in as "
        "has_marketing_opt_in, signup_at, updated_at, _available_at "
        "from raw.customers c semi join ids using (customer_id)"
    ).df()
    events = con.execute(
        "select e.* from raw.engagement_events e semi join ids using (customer_id)"
    ).df()
    started = time.perf_counter()
    mine = oracle.features_v1(orders, customers_df, events, [pd.Timestamp(d) for d in dates])
    seconds = time.perf_counter() - started
    rows = len(mine)
    customers = len(ids)
json.dump(
    {"seconds": seconds, "rows": rows, "customers": customers, **agreement(mine, reference)},
    open(out, "w"),
)
