"""hmmlearn's CategoricalHMM over token ids, stored as plain parameter arrays."""

from __future__ import annotations

import logging
import time
import warnings
from typing import Iterator

import numpy as np
from hmmlearn.hmm import CategoricalHMM

from neshmm.models.base import TokenModel, _categorical, cdf_without_unk, mix_uniform


class HMMModel(TokenModel):
    name = "hmm"

    def __init__(
        self,
        n_symbols: int,
        n_components: int = 16,
        n_iter: int = 100,
        tol: float = 0.01,
        seed: int = 17,
        init_params: str = "ste",
        implementation: str = "scaling",
    ):
        super().__init__(n_symbols)
        self.n_components = n_components
        self.n_iter = n_iter
        self.tol = tol
        self.seed = seed
        self.init_params = init_params
        self.implementation = implementation
        self.startprob: np.ndarray | None = None
        self.transmat: np.ndarray | None = None
        self.emissionprob: np.ndarray | None = None

    @classmethod
    def from_config(cls, cfg, n_symbols: int) -> "HMMModel":
        return cls(
            n_symbols,
            n_components=cfg.n_components,
            n_iter=cfg.n_iter,
            tol=cfg.tol,
            seed=cfg.seed,
            init_params=cfg.init_params,
            implementation=cfg.implementation,
        )

    def config_dict(self) -> dict:
        return {
            "name": self.name,
            "n_components": self.n_components,
            "n_iter": self.n_iter,
            "tol": self.tol,
            "seed": self.seed,
            "init_params": self.init_params,
            "implementation": self.implementation,
        }

    def _hmm(self, implementation: str | None = None) -> CategoricalHMM:
        return CategoricalHMM(
            n_components=self.n_components,
            n_features=self.n_symbols,
            n_iter=self.n_iter,
            tol=self.tol,
            random_state=self.seed,
            init_params=self.init_params,
            implementation=implementation or self.implementation,
        )

    def fit(self, ids: np.ndarray, lengths: np.ndarray) -> "HMMModel":
        t0 = time.perf_counter()
        model = self._hmm()
        # hmmlearn logs "not converging" on benign float noise near the optimum; the
        # monitor's verdict is recorded in fit_info instead.
        hmm_logger = logging.getLogger("hmmlearn.base")
        level = hmm_logger.level
        hmm_logger.setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(np.asarray(ids, dtype=np.int64).reshape(-1, 1), np.asarray(lengths))
        finally:
            hmm_logger.setLevel(level)
        seconds = time.perf_counter() - t0
        self.startprob = model.startprob_
        self.transmat = model.transmat_
        self.emissionprob = model.emissionprob_
        mon = model.monitor_
        history = [float(h) for h in mon.history]
        self.fit_info = {
            "n_tokens": int(len(ids)),
            "n_sequences": int(len(lengths)),
            "n_iter": int(mon.iter),
            # hmmlearn's monitor also says "converged" when it merely ran out of iterations;
            # here it means the log-likelihood gain fell below tol.
            "converged": bool(len(history) >= 2 and history[-1] - history[-2] < self.tol),
            "train_loglik": history[-1] if history else None,
        }
        self.fit_seconds = seconds
        return self

    def scorer(self, unk_smoothing: float, implementation: str | None = None) -> CategoricalHMM:
        model = self._hmm(implementation)
        model.startprob_ = self.startprob
        model.transmat_ = self.transmat
        model.emissionprob_ = mix_uniform(self.emissionprob, unk_smoothing)
        return model

    def log_likelihood(self, ids: np.ndarray, lengths: np.ndarray, unk_smoothing: float) -> float:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1, 1)
        if len(ids) == 0:
            return 0.0
        return float(self.scorer(unk_smoothing).score(ids, np.asarray(lengths)))

    def _token_stream(self, rng: np.random.Generator) -> Iterator[int]:
        start_cdf = np.cumsum(self.startprob)
        trans_cdf = np.cumsum(self.transmat, axis=1)
        emit_cdf = cdf_without_unk(self.emissionprob)
        state = _categorical(rng, start_cdf)
        while True:
            yield _categorical(rng, emit_cdf[state])
            state = _categorical(rng, trans_cdf[state])

    def arrays(self) -> dict[str, np.ndarray]:
        return {"startprob": self.startprob, "transmat": self.transmat, "emissionprob": self.emissionprob}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict) -> "HMMModel":
        cfg = dict(meta["config"])
        cfg.pop("name", None)
        m = cls(int(meta["n_symbols"]), **cfg)
        m.startprob = arrays["startprob"]
        m.transmat = arrays["transmat"]
        m.emissionprob = arrays["emissionprob"]
        m.fit_info = meta.get("fit", {})
        return m
