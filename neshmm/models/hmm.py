"""hmmlearn's CategoricalHMM over token ids, stored as plain parameter arrays.

Fitting uses hmmlearn's own EM loop, initialisation, M-step and convergence monitor, with
one replacement: for ``implementation="scaling"`` the E-step is :class:`BatchedCategoricalHMM`,
which computes the same sufficient statistics as hmmlearn but batched over sequences
(see there). It is faster on NES-MDB-sized data and can use several cores.
``implementation="log"`` runs hmmlearn's stock E-step unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import time
import warnings
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from hmmlearn import _hmmc
from hmmlearn.hmm import CategoricalHMM
from hmmlearn.utils import normalize

from neshmm import progress
from neshmm.errors import require
from neshmm.models.base import TokenModel, _categorical, cdf_without_unk, mix_uniform

# Tokens per E-step work unit. Units are cut at sequence boundaries from the lengths alone,
# and their statistics are summed in unit order, so the result does not depend on how many
# processes compute them.
CHUNK_TOKENS = 32_768
# Below this many tokens an E-step takes milliseconds and worker processes cost more than
# they save; above it the E-step is split across processes (results are the same).
PARALLEL_MIN_TOKENS = 4 * CHUNK_TOKENS


def sequence_chunks(lengths: np.ndarray, chunk_tokens: int | None = None) -> list[tuple[int, int]]:
    """Split sequences ``0..len(lengths)`` into consecutive groups of about ``chunk_tokens``."""
    chunk_tokens = CHUNK_TOKENS if chunk_tokens is None else chunk_tokens
    lengths = np.asarray(lengths, dtype=np.int64)
    chunks, first, acc = [], 0, 0
    for i, n in enumerate(lengths.tolist()):
        acc += n
        if acc >= chunk_tokens:
            chunks.append((first, i + 1))
            first, acc = i + 1, 0
    if first < len(lengths):
        chunks.append((first, len(lengths)))
    return chunks


def chunk_stats(ids, offsets, chunk, startprob, transmat, emission_t, params) -> dict:
    """Sufficient statistics of one chunk of sequences (see :class:`BatchedCategoricalHMM`)."""
    first, last = chunk
    s0, s1 = int(offsets[first]), int(offsets[last])
    n_feat, n_comp = emission_t.shape
    x = ids[s0:s1]
    frameprob = emission_t[x]  # (n, n_components), = emissionprob_[:, x].T
    fwd = np.empty_like(frameprob)
    bwd = np.empty_like(frameprob)
    logprobs = []
    starts = []
    for k in range(first, last):
        a, b = int(offsets[k]) - s0, int(offsets[k + 1]) - s0
        if b == a:
            continue
        fp = frameprob[a:b]
        lp, f, scaling = _hmmc.forward_scaling(startprob, transmat, fp)
        fwd[a:b] = f
        bwd[a:b] = _hmmc.backward_scaling(startprob, transmat, fp, scaling)
        logprobs.append(lp)
        starts.append(a)
    post = fwd * bwd
    normalize(post, axis=1)  # hmmlearn's own posterior normalization
    part = {
        "nobs": len(starts),
        "logprobs": logprobs,
        "start": np.zeros(n_comp),
        "trans": np.zeros((n_comp, n_comp)),
        "obs": np.zeros((n_comp, n_feat)),
    }
    if not starts:
        return part
    starts = np.asarray(starts)
    if "s" in params:
        part["start"] = post[starts].sum(axis=0)
    if "t" in params and len(x) > 1:
        nxt = frameprob * bwd
        nxt[starts] = 0.0  # no transition into the first token of a sequence
        part["trans"] = transmat * (fwd[:-1].T @ nxt[1:])
    if "e" in params:
        flat = (x[:, None] * n_comp + np.arange(n_comp)).ravel()
        counts = np.bincount(flat, weights=post.ravel(), minlength=n_feat * n_comp)
        part["obs"] = counts.reshape(n_feat, n_comp).T
    return part


def single_threaded_blas():
    """Keep BLAS to one thread for the E-step's small, tall matrix products.

    OpenBLAS splits ``fwd.T @ (B * bwd)`` (K x 32768 by 32768 x K) over all cores, and the
    synchronisation costs more than the product: measured on 2 cores, an EM iteration with
    K=32 took 11 s with BLAS threads and 2 s without.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - comes with scikit-learn, hence with hmmlearn
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _chunks_stats(ids, offsets, chunks, startprob, transmat, emission_t, params) -> list[dict]:
    """:func:`chunk_stats` for consecutive chunks (one worker process's share)."""
    with single_threaded_blas():
        return [chunk_stats(ids, offsets, c, startprob, transmat, emission_t, params) for c in chunks]


def _split_evenly(chunks: list[tuple[int, int]], offsets: np.ndarray, n: int) -> list[list[tuple[int, int]]]:
    """``n`` runs of consecutive chunks holding about equal numbers of tokens."""
    ends = np.array([offsets[last] for _, last in chunks], dtype=np.float64)
    cut = np.searchsorted(ends, ends[-1] * np.arange(1, n) / n, side="left") + 1
    bounds = [0, *np.minimum(cut, len(chunks)).tolist(), len(chunks)]
    return [chunks[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


# What forked E-step workers read: set in the parent just before the pool forks, so the
# token ids reach the workers by copy-on-write instead of being pickled every iteration.
_FORK_STATE: dict = {}


def _forked_run(args) -> list[dict]:
    index, startprob, transmat, emission_t, params = args
    st = _FORK_STATE
    return _chunks_stats(st["ids"], st["offsets"], st["runs"][index], startprob, transmat, emission_t, params)


class BatchedCategoricalHMM(CategoricalHMM):
    """CategoricalHMM with a batched scaling E-step that can use several processes.

    Per sequence, the forward and backward passes are hmmlearn's own C routines
    (``_hmmc.forward_scaling`` / ``backward_scaling``) on the same emission
    probabilities, so per-sequence log-likelihoods are bit-identical to hmmlearn's. What
    changes is how the statistics are summed, per chunk of sequences instead of per
    sequence:

    - transitions: hmmlearn's ``compute_scaling_xi_sum`` is the triple loop
      ``sum_t fwd[t, i] * A[i, j] * B[t+1, j] * bwd[t+1, j]``; here it is the same sum as
      one matrix product ``A * (fwd[:-1].T @ (B * bwd)[1:])`` with the rows that would pair
      the last token of one sequence with the first of the next set to zero;
    - emissions: hmmlearn's ``np.add.at(obs.T, X, posteriors)`` becomes one ``np.bincount``;
    - start probabilities: the posteriors at sequence starts, summed per chunk.

    The arithmetic is the same up to the order of floating-point additions (the results
    agree with hmmlearn to ~1e-12 relative; tests/test_hmm_implementations.py checks
    this). With ``n_workers > 1``, enough data and a platform that can fork, runs of chunks
    go to forked worker processes that live for one ``fit`` (threads do not help:
    hmmlearn's C routines hold the GIL on short sequences); the per-chunk statistics are
    still summed in chunk order, so the fitted model is bit-for-bit the same for any
    ``n_workers``.
    """

    n_workers: int = 1  # set after construction (sklearn estimators take only declared params)
    _pool = None

    def fit(self, X, lengths=None):
        X = np.asarray(X)
        lengths = np.asarray([len(X)] if lengths is None else lengths, dtype=np.int64)
        pool = None
        if (
            self.implementation == "scaling"
            and X.ndim == 2
            and int(self.n_workers) > 1
            and len(X) >= PARALLEL_MIN_TOKENS
            and "fork" in multiprocessing.get_all_start_methods()
        ):
            offsets = np.concatenate([[0], np.cumsum(lengths)])
            runs = _split_evenly(sequence_chunks(lengths), offsets, int(self.n_workers))
            if len(runs) > 1:
                _FORK_STATE.update(ids=np.ascontiguousarray(X[:, 0], dtype=np.int64), offsets=offsets, runs=runs)
                pool = multiprocessing.get_context("fork").Pool(len(runs))
        self._pool = pool
        try:
            return super().fit(X, lengths)
        finally:
            self._pool = None
            if pool is not None:
                pool.close()
                pool.join()
                _FORK_STATE.clear()

    def _do_estep(self, X, lengths):
        if self.implementation != "scaling":
            return super()._do_estep(X, lengths)
        ids = np.ascontiguousarray(X[:, 0], dtype=np.int64)
        lengths = np.asarray(lengths, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        stats = self._initialize_sufficient_statistics()
        self._estep_begin()
        chunks = sequence_chunks(lengths)
        emission_t = np.ascontiguousarray(self.emissionprob_.T)  # (n_features, n_components)
        args = (self.startprob_, self.transmat_, emission_t, self.params)
        if self._pool is not None and len(ids) == len(_FORK_STATE.get("ids", ())):
            n_runs = len(_FORK_STATE["runs"])
            results = self._pool.map(_forked_run, [(i, *args) for i in range(n_runs)])
            parts = [part for result in results for part in result]
        else:
            parts = _chunks_stats(ids, offsets, chunks, *args)
        logprobs = []
        for part in parts:
            stats["nobs"] += part["nobs"]
            stats["start"] += part["start"]
            stats["trans"] += part["trans"]
            stats["obs"] += part["obs"]
            logprobs.extend(part["logprobs"])
        # Summed one sequence at a time in order, exactly like hmmlearn's E-step.
        curr_logprob = 0
        for lp in logprobs:
            curr_logprob += lp
        return stats, curr_logprob


@dataclass
class HMMConfig:
    name: str = "hmm"
    n_components: int = 16
    n_iter: int = 100
    tol: float = 0.01
    seed: int = 17
    init_params: str = "ste"
    implementation: str = "scaling"


class HMMModel(TokenModel):
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
    ):
        super().__init__(n_symbols)
        self.n_components = n_components
        self.n_iter = n_iter
        self.tol = tol
        self.seed = seed
        self.init_params = init_params
        self.implementation = implementation

    @classmethod
    def validate_config(cls, cfg, key: str) -> None:
        require(cfg.n_components >= 1, f"{key}.n_components", cfg.n_components, "an integer >= 1")
        require(cfg.n_iter >= 1, f"{key}.n_iter", cfg.n_iter, "an integer >= 1")
        require(cfg.tol >= 0, f"{key}.tol", cfg.tol, ">= 0")
        require(cfg.implementation in ("scaling", "log"), f"{key}.implementation", cfg.implementation, "'scaling' or 'log'")
        require(set(cfg.init_params) <= set("ste"), f"{key}.init_params", cfg.init_params, "letters of 'ste'")
        require(0 <= cfg.seed < 2**32, f"{key}.seed", cfg.seed, "an integer in [0, 2**32)")

    def data_problem(self, n_tokens: int, voice: str) -> str | None:
        # More hidden states than training tokens: some states can never see data.
        if self.n_components > n_tokens:
            return (
                f"n_components={self.n_components}: more than the {n_tokens} training tokens "
                f"of voice {voice}; must be at most {n_tokens}"
            )
        return None

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
        # One stderr line now and then on a terminal (neshmm.progress); no effect otherwise.
        model.monitor_ = progress.em_monitor(
            model.monitor_, f"HMM fit, {self.n_components} states, {len(ids)} tokens")
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
        self.startprob_ = model.startprob_
        self.transmat_ = model.transmat_
        self.emissionprob_ = model.emissionprob_
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
        self.check_fitted()
        model.startprob_ = self.startprob_
        model.transmat_ = self.transmat_
        model.emissionprob_ = mix_uniform(self.emissionprob_, unk_smoothing)
        return model

    def _log_likelihood(self, ids: np.ndarray, lengths: np.ndarray, unk_smoothing: float) -> float:
        return float(self.scorer(unk_smoothing).score(ids.reshape(-1, 1), lengths))

    def _token_stream(self, rng: np.random.Generator) -> Iterator[int]:
        start_cdf = np.cumsum(self.startprob_)
        trans_cdf = np.cumsum(self.transmat_, axis=1)
        emit_cdf = cdf_without_unk(self.emissionprob_)
        state = _categorical(rng, start_cdf)
        while True:
            yield _categorical(rng, emit_cdf[state])
            state = _categorical(rng, trans_cdf[state])


MODEL = HMMModel
