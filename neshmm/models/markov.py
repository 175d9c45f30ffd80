"""First-order Markov chain over token ids: the notebook's baseline, with additive smoothing."""

from __future__ import annotations

import time
from typing import Iterator

import numpy as np

from neshmm.models.base import TokenModel, _categorical, cdf_without_unk, mix_uniform


class MarkovModel(TokenModel):
    name = "markov"

    def __init__(self, n_symbols: int, alpha: float = 1.0):
        super().__init__(n_symbols)
        self.alpha = float(alpha)
        self.startprob = np.full(n_symbols, 1.0 / n_symbols)
        self.transmat = np.full((n_symbols, n_symbols), 1.0 / n_symbols)

    @classmethod
    def from_config(cls, cfg, n_symbols: int) -> "MarkovModel":
        return cls(n_symbols, alpha=cfg.alpha)

    def config_dict(self) -> dict:
        return {"name": self.name, "alpha": self.alpha}

    def fit(self, ids: np.ndarray, lengths: np.ndarray) -> "MarkovModel":
        t0 = time.perf_counter()
        ids = np.asarray(ids, dtype=np.int64).ravel()
        lengths = np.asarray(lengths, dtype=np.int64)
        v = self.n_symbols
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])[lengths > 0]
        start_counts = np.bincount(ids[starts], minlength=v).astype(np.float64)
        # A transition is a pair of neighbours inside one sequence, never across a boundary.
        inside = np.ones(len(ids), dtype=bool)
        inside[np.cumsum(lengths)[lengths > 0] - 1] = False
        src = ids[:-1][inside[:-1]] if len(ids) else ids
        dst = ids[1:][inside[:-1]] if len(ids) else ids
        trans_counts = np.bincount(src * v + dst, minlength=v * v).reshape(v, v).astype(np.float64)
        a = self.alpha
        self.startprob = (start_counts + a) / (start_counts.sum() + a * v)
        self.transmat = (trans_counts + a) / (trans_counts.sum(axis=1, keepdims=True) + a * v)
        self.fit_info = {
            "n_tokens": int(len(ids)),
            "n_sequences": int((lengths > 0).sum()),
            "converged": True,
            "n_iter": 0,
        }
        self.fit_seconds = time.perf_counter() - t0
        return self

    def log_likelihood(self, ids: np.ndarray, lengths: np.ndarray, unk_smoothing: float) -> float:
        ids = np.asarray(ids, dtype=np.int64).ravel()
        lengths = np.asarray(lengths, dtype=np.int64)
        if len(ids) == 0:
            return 0.0
        log_start = np.log(mix_uniform(self.startprob, unk_smoothing))
        log_trans = np.log(mix_uniform(self.transmat, unk_smoothing))
        seq_start = np.zeros(len(ids), dtype=bool)
        seq_start[np.concatenate([[0], np.cumsum(lengths)[:-1]])[lengths > 0]] = True
        total = log_start[ids[seq_start]].sum()
        prev, cur = ids[:-1], ids[1:]
        cont = ~seq_start[1:]
        total += log_trans[prev[cont], cur[cont]].sum()
        return float(total)

    def _token_stream(self, rng: np.random.Generator) -> Iterator[int]:
        start_cdf = cdf_without_unk(self.startprob)
        trans_cdf = cdf_without_unk(self.transmat)
        token = _categorical(rng, start_cdf)
        while True:
            yield token
            token = _categorical(rng, trans_cdf[token])

    def arrays(self) -> dict[str, np.ndarray]:
        return {"startprob": self.startprob, "transmat": self.transmat}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict) -> "MarkovModel":
        m = cls(int(meta["n_symbols"]), alpha=meta["config"]["alpha"])
        m.startprob, m.transmat = arrays["startprob"], arrays["transmat"]
        m.fit_info = meta.get("fit", {})
        return m
