"""Alerts: an appended row in `lineage.alerts`, a log line on stderr, and an optional webhook
(POST of the alert as JSON to CUSTOMER_ML_ALERT_WEBHOOK). A webhook that cannot be reached is
logged, never allowed to fail the run that raised the alert."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import urllib.request

import duckdb

from customer_ml import lineage, records

WEBHOOK_ENV = "CUSTOMER_ML_ALERT_WEBHOOK"
log = logging.getLogger("customer_ml.alerts")


def raise_alert(
    con: duckdb.DuckDBPyConnection,
    *,
    model_name: str,
    kind: str,
    severity: str,
    message: str,
    invocation_id: str | None = None,
) -> dict:
    raised_at = lineage.utc_now()
    alert = {
        "alert_id": hashlib.sha256(f"{model_name}|{kind}|{raised_at}".encode()).hexdigest()[:16],
        "model_name": model_name,
        "alert_kind": kind,
        "severity": severity,
        "invocation_id": invocation_id,
        "message": message,
        "raised_at": raised_at.isoformat(),
    }
    records.append(con, "alerts", {**alert, "raised_at": raised_at})
    print(f"customer-ml ALERT [{severity}] {model_name} {kind}: {message}", file=sys.stderr)
    url = os.environ.get(WEBHOOK_ENV)
    if url:
        request = urllib.request.Request(
            url,
            data=json.dumps(alert).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            urllib.request.urlopen(request, timeout=5).close()
        except OSError as e:
            print(f"customer-ml: alert webhook {url} not reached: {e}", file=sys.stderr)
    return alert
