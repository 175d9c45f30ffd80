"""hmmlearn's CategoricalHMM over token ids, stored as plain parameter arrays.

Fitting uses hmmlearn's own EM loop, initialisation, M-step and convergence monitor, with
one replacement: for ``implementation="scaling"`` the E-step is the compiled kernel of
:mod:`neshmm.models.estep` (see :class:`BatchedCategoricalHMM`), which computes the same
sufficient statistics as hmmlearn's, several times faster and on several threads.
``implementation="log"`` runs hmmlearn's stock E-step unchanged.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from typing import Iterator

import numpy as np
from hmmlearn.hmm import CategoricalHMM

from neshmm.models.base import TokenModel, _categorical, cdf_without_unk, mix_uniform
from neshmm.models.hmmlearn_estep import KernelEStepMixin


class BatchedCategoricalHMM(KernelEStepMixin, CategoricalHMM):
    """CategoricalHMM whose scaling E-step is :func:`neshmm.models.estep.categorical_estep`.

    Same recursion as hmmlearn's scaling implementation, fused into one compiled pass per
    sequence; frame probabilities are gathered by token id inside the kernel and the
    posteriors go straight into the (K, V) emission counts, so neither the (T, K)
    frame-probability matrix nor the posteriors are built. Log-likelihoods agree with
    hmmlearn to ~1e-13 relative and fits follow the same path
    (tests/models/test_estep.py). ``n_workers`` numba threads (0 = one per core) share
    the sequences; the result is bit-identical for any thread count.
    """

    def _kernel_estep(self, X, lengths):
        from neshmm.models import estep  # numba: imported only when a model is fitted

        return estep.categorical_estep(
            X[:, 0], lengths, self.startprob_, self.transmat_, self.emissionprob_, n_threads=self.n_workers
        )

    def _accumulate_emission_statistics(self, stats, X, emission) -> None:
        if "e" in self.params:
            stats["obs"] += emission


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
        n_jobs: int = 0,
    ):
        super().__init__(n_symbols)
        # Processes for the E-step; 0 = one per CPU core. Not a model parameter: the fitted
        # model is the same for any value, so it is neither configured nor saved.
        self.n_jobs = n_jobs
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
        model = BatchedCategoricalHMM(
            n_components=self.n_components,
            n_features=self.n_symbols,
            n_iter=self.n_iter,
            tol=self.tol,
            random_state=self.seed,
            init_params=self.init_params,
            implementation=implementation or self.implementation,
        )
        model.n_workers = self.n_jobs if self.n_jobs > 0 else (os.cpu_count() or 1)
        return model

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
