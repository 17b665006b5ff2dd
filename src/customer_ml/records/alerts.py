"""Alerts: an appended row in `lineage.alerts`, a log line on stderr, and an optional webhook
(POST of the alert as JSON to CUSTOMER_ML_ALERT_WEBHOOK, with requests; a password in the URL
is sent as HTTP basic auth, as requests does).

Alerting never hangs or fails the run that raised the alert: a delivery has one total deadline
(DEADLINE_S, however slowly the endpoint answers), every error is caught, and the outcome
(delivered, or failed and why) is recorded on the alert's row. Only http(s) URLs are accepted,
checked when a build starts (`check_webhook`, from the dbt plugin); redirects are not followed.
A webhook URL carries secrets (tokens in its path or query, passwords), so it is printed and
stored only as `redact` leaves it: scheme, host and port.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import threading
import urllib.parse

import duckdb

from customer_ml.config import OperatorError
from customer_ml.records import lineage, store

WEBHOOK_ENV = "CUSTOMER_ML_ALERT_WEBHOOK"
DEADLINE_S = 10.0


def redact(url: str) -> str:
    """The URL without what may be secret: userinfo, path, query and fragment."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable URL>"
    tail = "/***" if (parts.path.strip("/") or parts.query or parts.fragment) else ""
    return f"{parts.scheme or '?'}://{host}{port}{tail}"


def _secret_pieces(url: str) -> list[str]:
    """What of `url` may be secret (all but scheme, host and port), as it may appear in an
    error's text: whole, raw, percent-quoted or unquoted, and as repr() quotes it."""
    try:
        parts = urllib.parse.urlsplit(url)
        netloc_user = parts.netloc.rpartition("@")[0]
    except ValueError:
        return [url]
    raw = [url, parts.path, parts.query, parts.fragment, netloc_user,
           parts.path + ("?" + parts.query if parts.query else "")]  # fmt: skip
    # urlsplit drops tab, CR and LF; an error may quote the text as given
    raw += [url.split("://", 1)[-1].split("/", 1)[-1]] if "/" in url.split("://", 1)[-1] else []
    pieces = set()
    for piece in filter(None, raw):
        for form in (piece, urllib.parse.quote(piece, safe="/?=&"), urllib.parse.unquote(piece)):
            pieces.update({form, repr(form)[1:-1], form.encode("unicode_escape").decode()})
    return sorted((p for p in pieces if len(p) >= 3), key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """`text` (an error's message) without any part of `url` beyond scheme, host and port; when
    a fragment of it would still show (a word of four or more characters of the secret parts),
    the message gives way to what kind of error it was."""
    kind = text.split(":", 1)[0]
    pieces = _secret_pieces(url)
    for piece in pieces:
        text = text.replace(piece, "***")
    secret = " ".join(p for p in pieces if p != url)
    words = {w for w in re.split(r"[^0-9A-Za-z]+", secret) if len(w) >= 4}
    host = (urllib.parse.urlsplit(url).hostname or "") if "://" in url else ""
    words -= set(re.split(r"[^0-9A-Za-z]+", host)) | {"http", "https"}
    if any(w in text for w in words):
        return f"{kind} (its message would show part of the URL; left out)"
    return text.replace(url, redact(url))


def check_webhook() -> str | None:
    """The webhook URL when one is set; OperatorError (one line) when it is not http(s)."""
    url = os.environ.get(WEBHOOK_ENV)
    if not url:
        return None
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise OperatorError(
            f"{WEBHOOK_ENV}={redact(url)}: not an http:// or https:// URL with a host; "
            "alerts are delivered to http(s) endpoints only"
        )
    return url


def deliver(url: str, alert: dict, deadline_s: float = DEADLINE_S) -> tuple[str, str]:
    """POST `alert` to `url` within `deadline_s` in total: ('delivered', detail) or ('failed',
    why). Never raises; the why never contains the URL's secrets."""
    outcome: list[tuple[str, str]] = []

    def post() -> None:
        try:
            import requests

            status = requests.post(
                url,
                data=json.dumps(alert).encode(),
                headers={"Content-Type": "application/json"},
                timeout=deadline_s,
                allow_redirects=False,
            ).status_code
            if 200 <= status < 300:
                outcome.append(("delivered", f"HTTP {status}"))
            else:
                outcome.append(("failed", f"HTTP {status}"))
        except Exception as e:  # noqa: BLE001 - alerting must never fail the run
            outcome.append(("failed", scrub(f"{type(e).__name__}: {e}", url)))

    sender = threading.Thread(target=post, daemon=True)
    sender.start()
    sender.join(deadline_s)
    if not outcome:
        return "failed", f"no complete answer within {deadline_s:g} s"
    return outcome[0]


def last_raised(
    con: duckdb.DuckDBPyConnection,
    model_name: str,
    kind: str,
    since: object,
    message_prefix: str = "",
):
    """When `model_name`'s latest `kind` alert since `since` (whose message starts with
    `message_prefix`) was raised, or None: how an alert raised once per period or per promotion
    knows it was."""
    [(raised,)] = con.execute(
        "select max(raised_at) from lineage.alerts where model_name = ? and alert_kind = ? "
        "and raised_at >= ? and starts_with(message, ?)",
        [model_name, kind, since, message_prefix],
    ).fetchall()
    return raised


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
    print(f"customer-ml ALERT [{severity}] {model_name} {kind}: {message}", file=sys.stderr)
    delivery, detail = "not configured", None
    try:
        url = check_webhook()
    except OperatorError as e:
        url, delivery, detail = None, "failed", str(e)
    if url:
        delivery, detail = deliver(url, alert)
        detail = f"{redact(url)}: {detail}"
        if delivery != "delivered":
            print(f"customer-ml: alert webhook not reached: {detail}", file=sys.stderr)
    store.append(
        con,
        "alerts",
        {**alert, "raised_at": raised_at, "delivery": delivery, "delivery_detail": detail},
    )
    return alert
