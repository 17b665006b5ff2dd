"""Recreating the past: reproduce a training run or a prediction from its records
(provenance, an isolated rebuild of a recorded commit), and backfills (run, diff, rescored
predictions)."""
