"""Helpers shared by several test modules (import from here, never from conftest)."""

from __future__ import annotations

import numpy as np


def real_shaped_tokens(seed: int, n_sequences: int, n_symbols: int, mean_length: float = 60.0):
    """Token ids and lengths shaped like NES-MDB voices: uneven lengths, some of length 1.

    Lengths are log-normal (NES-MDB p1: median ~100, max ~4800) with a few 1s and 2s forced
    in; ids follow a Zipf-like law over ``n_symbols`` with local repetition, so that
    a few symbols dominate and rare ones occur, as with real note tokens.
    """
    rng = np.random.default_rng(seed)
    lengths = np.maximum(1, rng.lognormal(np.log(mean_length), 1.0, n_sequences).astype(np.int64))
    lengths[:: max(1, n_sequences // 7)] = 1
    lengths[3 % n_sequences] = 2
    weights = 1.0 / np.arange(1, n_symbols + 1) ** 1.1
    ids = rng.choice(n_symbols, size=int(lengths.sum()), p=weights / weights.sum())
    repeat = rng.random(len(ids)) < 0.3  # notes repeat: copy the previous token
    for t in np.flatnonzero(repeat[1:]) + 1:
        ids[t] = ids[t - 1]
    return ids.astype(np.int64), lengths


def record_estep_logprob(model) -> list[float]:
    """Make ``model`` record the log-likelihood of every E-step; returns the (growing) list.

    hmmlearn's ConvergenceMonitor keeps only the last two values, not the whole path.
    """
    seen: list[float] = []
    do_estep = model._do_estep

    def recording(X, lengths):
        stats, logprob = do_estep(X, lengths)
        seen.append(float(logprob))
        return stats, logprob

    model._do_estep = recording
    return seen
