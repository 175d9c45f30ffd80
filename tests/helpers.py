"""Small builders shared by tests (import from here, never from conftest)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from neshmm.data.tokens import Quantizer

BINS = (0.25, 0.5, 0.75, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
Q = Quantizer(BINS, (1, 4, 8, 12, 16), (0, 2, 4, 6, 8, 10))


def toks(*rows) -> np.ndarray:
    """Tokens (pitch, duration bin, velocity) as the (n, 3) int64 array the library uses."""
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def hmm_path_sum(startprob, transmat, emission, seq) -> float:
    """log P(seq) of an HMM by summing over every state path (tiny models only)."""
    k = len(startprob)
    p = 0.0
    for path in itertools.product(range(k), repeat=len(seq)):
        q = startprob[path[0]] * emission[path[0], seq[0]]
        for t in range(1, len(seq)):
            q *= transmat[path[t - 1], path[t]] * emission[path[t], seq[t]]
        p += q
    return math.log(p)
