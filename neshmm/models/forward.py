"""Per-sequence HMM log-likelihoods without hmmlearn: its scaling forward pass, bit for bit.

Why: scoring held-out files was the only reason the evaluate stage imported hmmlearn and,
through it, scikit-learn (about 0.7 s of a 6 s stage on the demo). The E-step kernel of
:mod:`neshmm.models.estep` cannot stand in: it sums in another order and contracts to FMA,
so its log-likelihoods agree with hmmlearn only to ~1e-13, and every printed metric would
change in its last digits.

:func:`forward_scaling` is hmmlearn 0.3's ``_hmmc.forward_scaling`` (``src/_hmmc.cpp``)
written out in the same operation order: the first row is ``startprob * frameprob`` summed
left to right from 0.0; each later cell is ``sum_i alpha[t-1, i] * transmat[i, j]`` (from
0.0, i ascending) times ``frameprob[t, j]``; each row is scaled by ``1 / sum`` and
``log(scale)`` is subtracted from a running total started at 0.0; a row summing below
1e-300 is an underflow. No ``fastmath`` (numba's default): no reassociation and no FMA
contraction, so every rounding is hmmlearn's. The frame probabilities are gathered by id
inside the kernel, as products over streams in stream order, exactly as the models'
``_compute_likelihood`` builds them (one stream: the emission entry itself).
``tests/models/test_forward.py`` checks equality with ``==`` against hmmlearn's ``score``
for uneven lengths (length 1 included), one and four streams, and the underflow flag.

Like :mod:`neshmm.models.estep`, this module imports numba at import time and is imported
lazily, from the scoring functions; compiled code is cached by content
(:mod:`neshmm.models.numba_cache`).
"""

from __future__ import annotations

import math

import numpy as np

from neshmm.models import numba_cache

numba_cache.install()  # before numba compiles anything: cache keyed by content (see there)

from numba import njit  # noqa: E402

# hmmlearn's forward_scaling raises when a row sums below this.
MIN_SUM = 1e-300


@njit(cache=True, nogil=True, error_model="numpy")
def _forward(startprob, transmat, table, rows, n_streams, lengths, out, ok):
    """Log-likelihood of each sequence into ``out``; ``ok[s]`` = False where it underflowed.

    ``table`` is ``(n_ids, K)``: the streams' emission matrices transposed and stacked, and
    ``rows`` holds ``n_streams`` table rows per time step (each stream's id plus its offset).
    """
    K = startprob.shape[0]
    prev = np.empty(K)
    cur = np.empty(K)
    frame = np.empty(K)
    t0 = 0
    for s in range(lengths.shape[0]):
        n = lengths[s]
        good = True
        log_prob = 0.0
        for t in range(n):
            r = (t0 + t) * n_streams
            for j in range(K):
                frame[j] = table[rows[r], j]
            for k in range(1, n_streams):
                for j in range(K):
                    frame[j] = frame[j] * table[rows[r + k], j]
            if t == 0:
                for i in range(K):
                    cur[i] = startprob[i] * frame[i]
            else:
                for j in range(K):
                    acc = 0.0
                    for i in range(K):
                        acc += prev[i] * transmat[i, j]
                    cur[j] = acc * frame[j]
            total = 0.0
            for j in range(K):
                total += cur[j]
            if total < MIN_SUM:
                good = False
                break
            scale = 1.0 / total
            log_prob -= math.log(scale)
            for j in range(K):
                prev[j] = cur[j] * scale
        out[s] = log_prob if good else np.nan
        ok[s] = good
        t0 += n


def forward_scaling(startprob: np.ndarray, transmat: np.ndarray, emissions, ids: np.ndarray,
                    lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(log-likelihoods, ok)`` per sequence: hmmlearn's ``score`` of each sequence alone.

    ``emissions``: one ``(K, V)`` emission matrix, or a sequence of them (one per stream,
    ``ids`` then ``(T, n_streams)``). ``lengths`` >= 1 each, summing to ``len(ids)``. Where
    ``ok`` is False the scaled pass underflowed (hmmlearn raises there) and the value is NaN.
    """
    if isinstance(emissions, np.ndarray):
        emissions = (emissions,)
    mats = [np.asarray(e, dtype=np.float64) for e in emissions]
    ids = np.asarray(ids, dtype=np.int64).reshape(len(ids), -1)
    if ids.shape[1] != len(mats):
        raise ValueError(f"ids have {ids.shape[1]} streams, emissions {len(mats)}")
    lengths = np.asarray(lengths, dtype=np.int64).ravel()
    if (lengths < 1).any() or int(lengths.sum()) != len(ids):
        raise ValueError("lengths must be >= 1 and sum to the number of ids")
    offsets = np.cumsum([0] + [m.shape[1] for m in mats[:-1]])
    for s, m in enumerate(mats):
        col = ids[:, s]
        if len(col) and (col.min() < 0 or col.max() >= m.shape[1]):  # the kernel does not check bounds
            raise IndexError(f"ids of stream {s} must lie in 0..{m.shape[1] - 1}")
    table = np.ascontiguousarray(np.concatenate(mats, axis=1).T)
    rows = np.ascontiguousarray(ids + offsets[None, :]).ravel()
    out = np.empty(len(lengths))
    ok = np.empty(len(lengths), dtype=np.bool_)
    _forward(np.ascontiguousarray(startprob, dtype=np.float64), np.ascontiguousarray(transmat, dtype=np.float64),
             table, rows, len(mats), lengths, out, ok)
    return out, ok


def warm_up() -> None:
    """Load the compiled kernel (from the disk cache) now, e.g. before forking workers."""
    forward_scaling(np.ones(1), np.ones((1, 1)), np.ones((1, 1)), np.zeros(1, dtype=np.int64), np.ones(1))
