"""The model protocol: what every model module of the catalogue implements, and the types it
returns. Training (customer_ml.pipeline.training), scoring (customer_ml.pipeline.scoring) and the
served MLflow model (customer_ml.records.served_model) call a model only through it:

    split(dataset, cfg, seed) -> (train, holdout)
    fit(train, cfg, seed, *, validation, reference, feature_version) -> model  # learned state
    evaluation_set(model, holdout) -> holdout                    # rows the metrics are on
    evaluate(model, holdout) -> {metric: value}                  # candidate, baseline, champion
    baseline(cfg, population=None) -> rule model   # fitted on `population` when given (once,
                                                   # then recorded: customer_ml.models.baselines)
    MODEL.from_bytes(bytes) -> model;  model.to_bytes()
    score(model, frame, cfg) -> Scored;  describe(...) -> Described (report, record fields)
    scoring_rows(model, dataset) -> the latest rows as `score` reads them (customer impact
                                    in the report; the MLflow model's input example)

`score` must score each row of a frame as it would score it in the whole frame: scoring scores
only the rows whose input changed (invariant 11).

`ModelEntry` is what of a catalogue entry (customer_ml.catalogue.Entry) the evaluation reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Scored:
    """What a model module's `score` returns: one entry per customer scored."""

    customer_ids: np.ndarray
    as_of: pd.Series
    scores: np.ndarray
    labels: list[str] | None = None


@dataclass
class Described:
    """What a model module says about a trained model: its report and the record fields and
    MLflow params specific to it."""

    report: tuple[bytes, bytes]
    model_file: str = "model.json"
    extra_files: dict[str, bytes] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)
    mlflow_params: dict[str, Any] = field(default_factory=dict)


class ModelEntry(Protocol):
    """A model as the catalogue names it: its module, primary metric and policy."""

    @property
    def module(self) -> ModuleType: ...

    primary_metric: str
    greater_is_better: bool
    policy: dict[str, Any]
