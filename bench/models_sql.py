"""The dbt feature chain's SQL alone, for the benchmark (src/customer_ml/bench/features.py): each
node's full-refresh SQL as `dbt compile --full-refresh` wrote it, run in the chain's order into a
temp table and timed per node. Next to dbt's timing of the same nodes it splits the models' time
into their queries and the build's own work around them (lineage hashes, incremental state,
writing the warehouse file). Reads the warehouse only.

    python models_sql.py WAREHOUSE COMPILED_DIR OUT_JSON NODE...
"""

import json
import sys
import time
from pathlib import Path

from pit_reference import agreement, open_warehouse

warehouse, compiled, out, *nodes = sys.argv[1:]
con, dates, reference = open_warehouse(warehouse)
seconds = {}
for node in nodes:
    [path] = Path(compiled).rglob(node.replace(".v", "_v") + ".sql")
    started = time.perf_counter()
    con.execute(f"create or replace temp table result as {path.read_text()}")
    seconds[node] = time.perf_counter() - started
[(rows,)] = con.execute("select count(*) from result").fetchall()  # the last node: the features
con.register("reference", reference)
mine = con.execute("select result.* from result join reference using (customer_id, as_of)").df()
json.dump(
    {
        "seconds": sum(seconds.values()),
        "nodes": seconds,
        "rows": rows,
        **agreement(mine, reference),
    },
    open(out, "w"),
)
