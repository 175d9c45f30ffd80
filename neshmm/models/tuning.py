"""Held-out data a model may use *inside* ``fit`` to choose its own hyperparameters.

The train step hands a model the tokens of ``data.tune_split`` (always ``valid``; the
schema refuses ``test``) together with the scoring policy the evaluate stage uses
(the ``<unk>`` probability ``p_unk``, estimated from the training tokens with
``evaluate.unk_method``), so "best on the tuning split" means best by the same
held-out log-likelihood per token that the evaluation reports. Models that have nothing
to tune ignore it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np


@dataclass(frozen=True)
class TuningData:
    split: str
    ids: np.ndarray
    lengths: np.ndarray
    p_unk: float

    @property
    def n_tokens(self) -> int:
        return int(len(self.ids))


def grid_search(grid: Sequence[float], score: Callable[[float], float]) -> tuple[float, list[dict]]:
    """The grid value with the highest ``score`` (the first one on ties) and the whole curve.

    The curve lists every point in grid order as ``{"value", "loglik_per_token"}``, for the
    fit info and the metrics (a researcher wants to see that the optimum is not at an edge).
    """
    curve = [{"value": float(v), "loglik_per_token": float(score(float(v)))} for v in grid]
    best = int(np.argmax([c["loglik_per_token"] for c in curve]))  # argmax: first maximum
    return curve[best]["value"], curve
