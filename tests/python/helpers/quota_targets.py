"""Targets the quota tests run in a training child process (customer_ml.pipeline.quotas.run)."""

import time

import numpy as np


def answer(stage):
    stage("fit")
    return 42


def sleep_in_fit(stage):
    stage("split")
    stage("fit")
    time.sleep(600)


def grow_in_evaluate(stage):
    stage("evaluate")
    held = [np.ones(50 * 2**20, dtype=np.uint8) for _ in range(40)]  # 50 MB at a time, 2 GB
    time.sleep(600)
    return len(held)


def fail_in_describe(stage):
    stage("describe")
    raise ValueError("no holdout rows")
