"""First-order Markov chain over token ids: the notebook's baseline, with additive smoothing."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from neshmm.errors import require
from neshmm.models.base import TokenModel, _categorical, cdf_without_unk, mix_uniform


@dataclass
class MarkovConfig:
    name: str = "markov"
    alpha: float = 1.0


class MarkovModel(TokenModel):
    name = "markov"
    Config = MarkovConfig
    label_param = "alpha"
    fitted_arrays = ("startprob_", "transmat_")

    def __init__(self, n_symbols: int, alpha: float = 1.0):
        super().__init__(n_symbols)
        self.alpha = float(alpha)

    @classmethod
    def validate_config(cls, cfg, key: str) -> None:
        require(cfg.alpha > 0, f"{key}.alpha", cfg.alpha, "> 0 (additive smoothing)")

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"startprob": (self.n_symbols,), "transmat": (self.n_symbols, self.n_symbols)}

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
        self.startprob_ = (start_counts + a) / (start_counts.sum() + a * v)
        self.transmat_ = (trans_counts + a) / (trans_counts.sum(axis=1, keepdims=True) + a * v)
        self.fit_info = {
            "n_tokens": int(len(ids)),
            "n_sequences": int((lengths > 0).sum()),
            "converged": True,
            "n_iter": 0,
        }
        self.fit_seconds = time.perf_counter() - t0
        return self

    def _log_likelihood(self, ids: np.ndarray, lengths: np.ndarray, unk_smoothing: float) -> float:
        log_start = np.log(mix_uniform(self.startprob_, unk_smoothing))
        log_trans = np.log(mix_uniform(self.transmat_, unk_smoothing))
        seq_start = np.zeros(len(ids), dtype=bool)
        seq_start[np.concatenate([[0], np.cumsum(lengths)[:-1]])[lengths > 0]] = True
        total = log_start[ids[seq_start]].sum()
        prev, cur = ids[:-1], ids[1:]
        cont = ~seq_start[1:]
        total += log_trans[prev[cont], cur[cont]].sum()
        return float(total)

    def _token_stream(self, rng: np.random.Generator) -> Iterator[int]:
        start_cdf = cdf_without_unk(self.startprob_)
        trans_cdf = cdf_without_unk(self.transmat_)
        token = _categorical(rng, start_cdf)
        while True:
            yield token
            token = _categorical(rng, trans_cdf[token])


MODEL = MarkovModel
