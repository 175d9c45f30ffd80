"""First-order Markov chain over token ids: the notebook's baseline, with additive smoothing.

A fair baseline has its one hyperparameter tuned as carefully as the model it is compared
with: with ``alpha_grid`` set, ``fit`` chooses the smoothing ``alpha`` from the grid by
log-likelihood per token on the tuning split (``data.tune_split``, always ``valid``),
scored exactly as the evaluate stage scores held-out data. The chosen value becomes the
model's ``alpha`` (in its file header and plot labels); the whole curve is in ``fit_info``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from neshmm.errors import require
from neshmm.data.tokens import UNK_ID
from neshmm.models.base import TokenModel, _categorical, cdf_without_unk, sequence_sums, with_unknown
from neshmm.models.tuning import grid_search


@dataclass
class MarkovConfig:
    name: str = "markov"
    alpha: float = 1.0
    # Candidate alphas chosen from on the tuning split; empty = use `alpha` as given.
    alpha_grid: list[float] = field(default_factory=list)


class MarkovModel(TokenModel):
    name = "markov"
    Config = MarkovConfig
    label_param = "alpha"
    fitted_arrays = ("startprob_", "transmat_")

    def __init__(self, n_symbols: int, alpha: float = 1.0, alpha_grid=()):
        super().__init__(n_symbols)
        self.alpha = float(alpha)
        self.alpha_grid = [float(a) for a in alpha_grid]

    @classmethod
    def validate_config(cls, cfg, key: str) -> None:
        require(cfg.alpha > 0, f"{key}.alpha", cfg.alpha, "> 0 (additive smoothing)")
        grid = list(cfg.alpha_grid)
        require(all(a > 0 for a in grid), f"{key}.alpha_grid", grid, "a list of alphas > 0 (empty = use alpha)")
        require(len(set(grid)) == len(grid), f"{key}.alpha_grid", grid, "a list without duplicates")

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"startprob": (self.n_symbols,), "transmat": (self.n_symbols, self.n_symbols)}

    def fit(self, ids: np.ndarray, lengths: np.ndarray) -> "MarkovModel":
        t0 = time.perf_counter()
        tuning_info = None
        if len(self.alpha_grid) == 1:
            self.alpha = self.alpha_grid[0]
        elif self.alpha_grid:
            tune = self.tuning
            if tune is None or tune.n_tokens == 0:
                # Nothing to choose with (e.g. a voice absent from the tuning split): the
                # configured alpha, and the reason in the fit info.
                tuning_info = {"param": "alpha", "chosen": self.alpha,
                               "skipped": "no tuning tokens; used alpha as configured"}
            else:
                counts = self._counts(ids, lengths)

                def score(alpha: float) -> float:
                    self._smooth(*counts, alpha)
                    return self.log_likelihood(tune.ids, tune.lengths, tune.p_unk) / tune.n_tokens

                self.alpha, curve = grid_search(self.alpha_grid, score)
                tuning_info = {"param": "alpha", "split": tune.split, "n_tokens": tune.n_tokens,
                               "p_unk": tune.p_unk, "chosen": self.alpha, "curve": curve}
        self._smooth(*self._counts(ids, lengths), self.alpha)
        ids = np.asarray(ids, dtype=np.int64).ravel()
        lengths = np.asarray(lengths, dtype=np.int64)
        self.fit_info = {
            "n_tokens": int(len(ids)),
            "n_sequences": int((lengths > 0).sum()),
            "converged": True,
            "n_iter": 0,
        }
        if tuning_info is not None:
            self.fit_info["tuning"] = tuning_info
        self.fit_seconds = time.perf_counter() - t0
        return self

    def _counts(self, ids: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Start counts (V,) and transition counts (V, V) of the training sequences."""
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
        return start_counts, trans_counts

    def _smooth(self, start_counts: np.ndarray, trans_counts: np.ndarray, a: float) -> None:
        v = self.n_symbols
        self.startprob_ = (start_counts + a) / (start_counts.sum() + a * v)
        self.transmat_ = (trans_counts + a) / (trans_counts.sum(axis=1, keepdims=True) + a * v)

    def _sequence_log_likelihoods(self, ids: np.ndarray, lengths: np.ndarray, p_unk: float) -> np.ndarray:
        # After an unknown token the chain has no row to continue from (row 0 only ever
        # saw smoothing); it restarts from the start distribution instead.
        trans = self.transmat_.copy()
        trans[UNK_ID] = self.startprob_
        log_start = np.log(with_unknown(self.startprob_, p_unk))
        log_trans = np.log(with_unknown(trans, p_unk))
        seq_start = np.zeros(len(ids), dtype=bool)
        seq_start[np.concatenate([[0], np.cumsum(lengths)[:-1]])] = True
        per_token = np.empty(len(ids), dtype=np.float64)
        per_token[seq_start] = log_start[ids[seq_start]]
        cont = np.flatnonzero(~seq_start)
        per_token[cont] = log_trans[ids[cont - 1], ids[cont]]
        return sequence_sums(per_token, lengths)

    def _token_stream(self, rng: np.random.Generator) -> Iterator[int]:
        start_cdf = cdf_without_unk(self.startprob_)
        trans_cdf = cdf_without_unk(self.transmat_)
        token = _categorical(rng, start_cdf)
        while True:
            yield token
            token = _categorical(rng, trans_cdf[token])


MODEL = MarkovModel
