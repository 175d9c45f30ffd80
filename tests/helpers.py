"""Test helpers shared across test modules (tiny hand-checkable inputs)."""

from __future__ import annotations

import numpy as np

# Two ticks per beat: at tempo 120 one tick is exactly 0.25 s, i.e. 25 piano-roll frames of
# 10 ms, and a 4/4 bar is 8 ticks, so every MGEval feature can be worked out by hand.
TINY_TPB = 2


def tiny_pieces() -> list[np.ndarray]:
    """Three short pieces, notes as (start, end, pitch, velocity) in ticks at TINY_TPB."""
    a = [[0, 2, 60, 10], [2, 4, 62, 10], [4, 5, 67, 5], [6, 8, 72, 10]]
    b = [[0, 4, 64, 8], [4, 6, 64, 8], [8, 9, 65, 8], [9, 11, 67, 8], [12, 16, 60, 8]]
    c = [[0, 1, 60, 10], [1, 2, 61, 10], [3, 6, 60, 10], [8, 16, 48, 10]]
    return [np.array(p, dtype=np.int64) for p in (a, b, c)]
