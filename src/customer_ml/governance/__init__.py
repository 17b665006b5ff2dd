"""Controlled changes to what serves: promotion requests, gates, approvers, approvals,
champions, compare, and the publication of a backfill's predictions."""
