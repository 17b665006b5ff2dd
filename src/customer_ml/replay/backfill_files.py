"""The backfill files beside a production warehouse (`backfills/*.duckdb`, written by
customer_ml.replay.backfill), as production learns of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from customer_ml.records import store


def record_in_production(con: duckdb.DuckDBPyConnection, production: str | Path) -> int:
    """Production's lineage.backfills learns, at each of its builds, every backfill run against
    it: the records of each backfill file beside it (`backfills/*.duckdb`) whose production is
    this warehouse, appended once and sealed (a backfill never writes production itself; one
    running now, its file held, is learned at the next build). What was published from them is
    lineage.published_predictions. Returns how many records were added."""
    production = Path(production).resolve()
    folder = production.parent / "backfills"
    known = {
        (r["backfill_id"], r["status"], str(r["recorded_at"]))
        for r in store.read(con, "select backfill_id, status, recorded_at from lineage.backfills")
    }
    added: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.duckdb")) if folder.is_dir() else []:
        if path.name.endswith(".analyst.duckdb"):
            continue
        try:
            other = duckdb.connect(str(path), read_only=True)
        except duckdb.Error:  # held by a running backfill build
            continue
        try:
            found = store.read(other, "select * from lineage.backfills order by recorded_at")
        except duckdb.Error:  # refused before its first record
            found = []
        finally:
            other.close()
        added += [
            r for r in found
            if Path(r["production_path"] or "").resolve() == production
            and (r["backfill_id"], r["status"], str(r["recorded_at"])) not in known
        ]  # fmt: skip
    return store.append(con, "backfills", added) if added else 0
