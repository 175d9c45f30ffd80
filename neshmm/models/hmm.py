"""hmmlearn's CategoricalHMM over token ids, stored as plain parameter arrays.

For ``implementation="scaling"`` (the default) fitting is :mod:`neshmm.models.em`:
hmmlearn's EM loop, initialisation, M-step and convergence rule written out over the
compiled E-step of :mod:`neshmm.models.estep`, bit for bit the fit of hmmlearn's model with
that E-step (:mod:`neshmm.models.hmmlearn_categorical`), without importing hmmlearn.
``implementation="log"`` fits through hmmlearn with its stock log-space E-step. Scoring
is hmmlearn's scaling forward pass compiled bit for bit (:mod:`neshmm.models.forward`);
hmmlearn scores only sequences that underflow there, and every sequence of a "log" model.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import numpy as np

if TYPE_CHECKING:
    from hmmlearn.hmm import CategoricalHMM

from neshmm import progress
from neshmm.errors import require
from neshmm.models.base import TokenModel, _categorical, cdf_without_unk, with_unknown


@dataclass
class HMMConfig:
    name: str = "hmm"
    n_components: int = 16
    n_iter: int = 100
    tol: float = 0.01
    seed: int = 17
    init_params: str = "ste"
    implementation: str = "scaling"
    # Dirichlet concentration of every emission row (hmmlearn's emissionprob_prior): EM
    # then finds the MAP estimate with emission_prior - 1 pseudo-counts per state and
    # token. 1 = no prior (maximum likelihood; unseen tokens get probability 0).
    emission_prior: float = 1.01
    # Random restarts; the one with the highest training log-likelihood is kept.
    n_init: int = 1


def restart_seed(seed: int, restart: int) -> int:
    """The seed of restart ``restart``: ``seed`` itself for the first (so ``n_init=1`` is the
    single fit it always was), then independent streams derived from (seed, restart)."""
    if restart == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(restart)]).generate_state(1)[0])


def n_free_parameters(n_components: int, n_symbols: int) -> int:
    """Free parameters of a categorical HMM: start (K-1), transitions K(K-1), emissions K(V-1)."""
    k, v = n_components, n_symbols
    return (k - 1) + k * (k - 1) + k * (v - 1)


def bic(loglik: float, n_params: int, n_tokens: int) -> float:
    """Bayesian information criterion, -2 log L + p ln N (lower is better)."""
    return float(-2.0 * loglik + n_params * np.log(max(n_tokens, 1)))


class HMMModel(TokenModel):
    """One CategoricalHMM per voice, fitted by EM with an emission prior and restarts.

    Why the prior: with ~1,700 token types and a few thousand tokens per state, maximum
    likelihood leaves most (state, token) pairs at probability exactly 0, and a held-out
    token a state never emitted is then impossible in that state. A Dirichlet(alpha) prior
    on each emission row gives MAP estimates with alpha - 1 pseudo-counts: every token keeps
    a small probability under every state. Why restarts: EM finds a local optimum that
    depends on the random initialisation; ``n_init`` fits from independent seeds and keeps
    the best by training log-likelihood (never by held-out data, which selection of
    ``n_components`` uses instead).
    """

    name = "hmm"
    Config = HMMConfig
    label_param = "n_components"
    fitted_arrays = ("startprob_", "transmat_", "emissionprob_")

    def __init__(
        self,
        n_symbols: int,
        n_components: int = 16,
        n_iter: int = 100,
        tol: float = 0.01,
        seed: int = 17,
        init_params: str = "ste",
        implementation: str = "scaling",
        emission_prior: float = 1.01,
        n_init: int = 1,
    ):
        super().__init__(n_symbols)
        self.n_components = n_components
        self.n_iter = n_iter
        self.tol = tol
        self.seed = seed
        self.init_params = init_params
        self.implementation = implementation
        self.emission_prior = float(emission_prior)
        self.n_init = int(n_init)

    @classmethod
    def validate_config(cls, cfg, key: str) -> None:
        require(cfg.n_components >= 1, f"{key}.n_components", cfg.n_components, "an integer >= 1")
        require(cfg.n_iter >= 1, f"{key}.n_iter", cfg.n_iter, "an integer >= 1")
        require(cfg.tol >= 0, f"{key}.tol", cfg.tol, ">= 0")
        require(cfg.implementation in ("scaling", "log"), f"{key}.implementation", cfg.implementation, "'scaling' or 'log'")
        require(set(cfg.init_params) <= set("ste"), f"{key}.init_params", cfg.init_params, "letters of 'ste'")
        require(0 <= cfg.seed < 2**32, f"{key}.seed", cfg.seed, "an integer in [0, 2**32)")
        require(cfg.emission_prior >= 1, f"{key}.emission_prior", cfg.emission_prior,
                ">= 1 (a Dirichlet concentration; 1 = no prior, 1.01 = 0.01 pseudo-counts per state and token)")
        require(cfg.n_init >= 1, f"{key}.n_init", cfg.n_init, "an integer >= 1 (random restarts)")

    def data_problem(self, n_tokens: int, voice: str) -> str | None:
        # More hidden states than training tokens: some states can never see data.
        if self.n_components > n_tokens:
            return (
                f"n_components={self.n_components}: more than the {n_tokens} training tokens "
                f"of voice {voice}; must be at most {n_tokens}"
            )
        return None

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        k = int(self.n_components)
        return {"startprob": (k,), "transmat": (k, k), "emissionprob": (k, self.n_symbols)}

    def memory_bytes(self, n_tokens: int, n_workers: int = 1) -> int:
        """Estimated peak memory of one ``fit`` on ``n_tokens`` tokens, in bytes.

        Compiled E-step (neshmm.models.estep): per thread a forward lattice and its
        scaling for the longest sequence (bounded here by ``n_tokens``, an upper bound),
        per chunk of ``estep.CHUNK_TOKENS`` tokens its K x V emission counts and K x K
        transition sums (summed in chunk order at the end), and four copies of the
        parameters (hmmlearn's statistics and M-step). The "log" E-step is hmmlearn's, per
        sequence: four T x K lattices. Counted, not timed (tests/models/test_hmm.py).
        """
        from neshmm.models.estep import CHUNK_TOKENS

        k, v, n = int(self.n_components), int(self.n_symbols), max(int(n_tokens), 1)
        params = k * k + k * v
        if self.implementation == "log":
            doubles = 4 * n * k + 4 * params
        else:
            n_chunks = -(-n // CHUNK_TOKENS)
            doubles = n_chunks * (params + k) + max(1, n_workers) * (2 * n * k + n) + 4 * params + n
        return 8 * doubles

    def memory_problem(self, n_tokens: int, voice: str, available: int) -> str | None:
        workers = self.n_jobs if self.n_jobs > 0 else (os.cpu_count() or 1)
        need = self.memory_bytes(n_tokens, workers)
        if need <= available:
            return None
        k_max = self.n_components
        while k_max > 1 and HMMModel(self.n_symbols, n_components=k_max, implementation=self.implementation
                                     ).memory_bytes(n_tokens, workers) > available:
            k_max = k_max * 3 // 4
        gib = 2.0**30
        return (
            f"n_components={self.n_components}: fitting voice {voice} ({n_tokens} tokens, {self.n_symbols} symbols) "
            f"needs about {need / gib:.1f} GiB of memory, {available / gib:.1f} GiB available; "
            f"use n_components <= {k_max}"
        )

    def _hmm(self, implementation: str | None = None, seed: int | None = None) -> "CategoricalHMM":
        from neshmm.models.hmmlearn_categorical import BatchedCategoricalHMM  # hmmlearn: only when used

        model = BatchedCategoricalHMM(
            n_components=self.n_components,
            n_features=self.n_symbols,
            n_iter=self.n_iter,
            tol=self.tol,
            random_state=self.seed if seed is None else seed,
            init_params=self.init_params,
            implementation=implementation or self.implementation,
            emissionprob_prior=self.emission_prior,
        )
        model.n_workers = self.n_jobs  # 0: one thread per core (estep.set_threads)
        return model

    def _fit_once(self, ids: np.ndarray, lengths: np.ndarray, seed: int):
        """One EM fit from ``seed``: ``(startprob, transmat, emissionprob, monitor)``."""
        label = f"HMM fit, {self.n_components} states, {len(ids)} tokens, seed {seed}"
        if self.implementation == "scaling":
            # EM without hmmlearn (neshmm.models.em): the same fit bit for bit, without
            # importing hmmlearn and scikit-learn in every training process.
            from neshmm.models import em

            monitor = progress.em_monitor(em.ConvergenceMonitor(self.tol, self.n_iter), label)
            start, trans, emission = em.fit_categorical(
                ids, lengths, self.n_components, self.n_symbols, seed, self.emission_prior, monitor,
                n_threads=self.n_jobs)  # 0: one thread per core (estep.set_threads)
            return start, trans, emission, monitor
        model = self._hmm(seed=seed)
        # One stderr line now and then on a terminal (neshmm.progress); no effect otherwise.
        model.monitor_ = progress.em_monitor(model.monitor_, label)
        # hmmlearn logs "not converging" on benign float noise near the optimum (and, with a
        # prior, EM increases the posterior, not always the likelihood); the monitor's
        # verdict is recorded in fit_info instead.
        hmm_logger = logging.getLogger("hmmlearn.base")
        level = hmm_logger.level
        hmm_logger.setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(ids.reshape(-1, 1), lengths)
        finally:
            hmm_logger.setLevel(level)
        return model.startprob_, model.transmat_, model.emissionprob_, model.monitor_

    def fit(self, ids: np.ndarray, lengths: np.ndarray) -> "HMMModel":
        t0 = time.perf_counter()
        ids = np.asarray(ids, dtype=np.int64)
        lengths = np.asarray(lengths)
        best, best_ll, restarts, curves = None, -np.inf, [], []
        for r in range(self.n_init):
            seed = restart_seed(self.seed, r)
            *fitted, monitor = self._fit_once(ids, lengths, seed)
            history = [float(h) for h in monitor.history]
            ll = history[-1] if history else -np.inf
            restarts.append({
                "seed": seed,
                "n_iter": int(monitor.iter),
                # hmmlearn's monitor also says "converged" when it merely ran out of
                # iterations; here it means the log-likelihood gain fell below tol.
                "converged": bool(len(history) >= 2 and history[-1] - history[-2] < self.tol),
                "train_loglik": ll,
            })
            curves.append(history)
            if best is None or ll > best_ll:  # strictly better: the first restart wins ties
                best, best_ll, best_r = fitted, ll, r
        self.startprob_, self.transmat_, self.emissionprob_ = best
        n_params = n_free_parameters(self.n_components, self.n_symbols)
        n_tokens = int(len(ids))
        chosen = restarts[best_r]
        self.fit_info = {
            "n_tokens": n_tokens,
            "n_sequences": int(len(lengths)),
            "n_iter": chosen["n_iter"],
            "converged": chosen["converged"],
            # Log-likelihood of the training data at the last EM iteration's E-step (what
            # hmmlearn's monitor reports and restarts are compared by).
            "train_loglik": chosen["train_loglik"],
            "train_loglik_per_token": chosen["train_loglik"] / max(n_tokens, 1),
            "n_params": n_params,
            "bic": bic(chosen["train_loglik"], n_params, n_tokens),
            "best_restart": best_r,
            "restarts": restarts,
        }
        self.fit_curves = curves
        self.fit_seconds = time.perf_counter() - t0
        return self

    def scorer(self, p_unk: float, implementation: str | None = None) -> CategoricalHMM:
        """hmmlearn's HMM with this model's parameters and the ``<unk>`` policy applied to the
        emissions (the start and transition probabilities are untouched)."""
        model = self._hmm(implementation)
        self.check_fitted()
        model.startprob_ = self.startprob_
        model.transmat_ = self.transmat_
        model.emissionprob_ = with_unknown(self.emissionprob_, p_unk)
        return model

    def _sequence_log_likelihoods(self, ids: np.ndarray, lengths: np.ndarray, p_unk: float) -> np.ndarray:
        if self.implementation == "scaling":
            # hmmlearn's scaling forward pass, compiled (neshmm.models.forward): the same
            # numbers bit for bit, without importing hmmlearn and scikit-learn.
            from neshmm.models import forward

            self.check_fitted()
            out, ok = forward.forward_scaling(self.startprob_, self.transmat_,
                                              with_unknown(self.emissionprob_, p_unk), ids, lengths)
            if ok.all():
                return out
            return self._hmmlearn_log_likelihoods(ids, lengths, p_unk, out, ok)
        return self._hmmlearn_log_likelihoods(ids, lengths, p_unk, np.empty(len(lengths)), np.zeros(len(lengths), bool))

    def _hmmlearn_log_likelihoods(self, ids, lengths, p_unk, out: np.ndarray, done: np.ndarray) -> np.ndarray:
        """hmmlearn's ``score`` of each sequence not ``done`` yet, into ``out``."""
        scorer = self.scorer(p_unk)
        starts = np.concatenate([[0], np.cumsum(lengths)])
        x = ids.reshape(-1, 1)
        for i, (a, b) in enumerate(zip(starts[:-1], starts[1:])):
            if done[i]:
                continue
            try:
                out[i] = scorer.score(x[a:b])
            except ValueError as exc:
                # hmmlearn's scaling forward pass refuses any intermediate that underflows
                # (long runs of near-impossible tokens); the log-space pass computes the
                # same likelihood without underflow.
                if "underflow" not in str(exc):
                    raise
                out[i] = self.scorer(p_unk, "log").score(x[a:b])
        return out

    def _token_stream(self, rng: np.random.Generator) -> Iterator[int]:
        start_cdf = np.cumsum(self.startprob_)
        trans_cdf = np.cumsum(self.transmat_, axis=1)
        emit_cdf = cdf_without_unk(self.emissionprob_)
        state = _categorical(rng, start_cdf)
        while True:
            yield _categorical(rng, emit_cdf[state])
            state = _categorical(rng, trans_cdf[state])


def preload_scorer() -> None:
    """Import and load what :meth:`HMMModel.log_likelihood` loads lazily (evaluate calls
    this before forking its workers, so that they inherit it instead of each loading it)."""
    from neshmm.models import forward

    forward.warm_up()


MODEL = HMMModel
