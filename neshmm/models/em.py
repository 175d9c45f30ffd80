"""EM for the project's categorical HMMs on the compiled E-step, without importing hmmlearn.

Why this exists: hmmlearn's ``fit`` loop cannot be had without importing hmmlearn, which
imports scikit-learn and scipy.stats: 1.1–1.6 s in every training process, more than the
whole EM of a demo voice and 40 % of a demo train stage. With the E-step already ours
(:mod:`neshmm.models.estep`), what hmmlearn still did was the initial draws, the M-step
and the convergence rule; they are written out here, step for step as hmmlearn 0.3's
``BaseHMM.fit`` does them for ``implementation="scaling"``, so a fit gives bit-for-bit the
parameters and log-likelihood path the kernel-E-step hmmlearn model gives
(``tests/models/test_em.py`` compares both models, the joint one included, array for
array). ``implementation="log"`` still fits through hmmlearn, whose log-space E-step
this module does not have.

Where hmmlearn's arithmetic is copied on purpose (changing it changes every fit's bits):
the random draws of :func:`initial_start_trans` (hmmlearn's ``_init``), the row
normalisation of :func:`normalize` (``hmmlearn.utils.normalize``) and the M-step of
:func:`mstep_start_trans` (``BaseHMM._do_mstep`` with its default priors of 1).
"""

from __future__ import annotations

from collections import deque
from typing import Callable

import numpy as np


class ConvergenceMonitor:
    """hmmlearn's convergence rule: stop after ``n_iter`` E-steps, or when the last gain
    in log-likelihood is below ``tol``. ``history`` holds every reported value."""

    def __init__(self, tol: float, n_iter: int):
        self.tol = tol
        self.n_iter = n_iter
        self.history: deque[float] = deque()
        self.iter = 0

    def report(self, log_prob: float) -> None:
        self.history.append(log_prob)
        self.iter += 1

    @property
    def converged(self) -> bool:
        return self.iter == self.n_iter or (
            len(self.history) >= 2 and self.history[-1] - self.history[-2] < self.tol
        )


def normalize(a: np.ndarray, axis: int | None = None) -> None:
    """Scale ``a`` in place to sum to 1 (along ``axis``); all-zero rows stay zero.
    hmmlearn.utils.normalize's arithmetic (a division by the sum, not a multiplication)."""
    a_sum = a.sum(axis)
    if axis and a.ndim > 1:
        a_sum[a_sum == 0] = 1
        shape = list(a.shape)
        shape[axis] = 1
        a_sum.shape = shape
    a /= a_sum


def initial_start_trans(seed: int, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and transition probabilities before the first E-step: hmmlearn's draws from
    ``RandomState(seed)`` (Dirichlet(1/K) for the start vector, then for each row)."""
    rng = np.random.RandomState(seed)
    alpha = np.full(n_components, 1.0 / n_components)
    return rng.dirichlet(alpha), rng.dirichlet(alpha, size=n_components)


def mstep_start_trans(startprob: np.ndarray, transmat: np.ndarray, start_stats: np.ndarray,
                      trans_stats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The M-step of the start and transition probabilities (flat priors): expected counts,
    normalised; a probability that is exactly 0 stays 0 (hmmlearn's rule, which keeps
    forbidden transitions forbidden)."""
    new_start = np.where(startprob == 0, 0, np.maximum(0.0 + start_stats, 0))
    normalize(new_start)
    new_trans = np.where(transmat == 0, 0, np.maximum(0.0 + trans_stats, 0))
    normalize(new_trans, axis=1)
    return new_start, new_trans


def run(startprob: np.ndarray, transmat: np.ndarray, emission, estep: Callable, mstep_emission: Callable,
        monitor: ConvergenceMonitor):
    """EM from the given parameters until ``monitor`` says it has converged.

    ``estep(startprob, transmat, emission)`` returns an
    :class:`~neshmm.models.estep.EStepResult`; ``mstep_emission(result.emission)`` the new
    emission parameters. The log-likelihood reported each iteration is that of the
    parameters the E-step ran on (hmmlearn's ``monitor_.history``). Returns the final
    ``(startprob, transmat, emission)``, one M-step after the last E-step.
    """
    for _ in range(monitor.n_iter):
        result = estep(startprob, transmat, emission)
        startprob, transmat = mstep_start_trans(startprob, transmat, result.start, result.trans)
        emission = mstep_emission(result.emission)
        monitor.report(result.log_likelihood)
        if monitor.converged:
            break
    return startprob, transmat, emission


def fit_categorical(ids: np.ndarray, lengths: np.ndarray, n_components: int, n_symbols: int, seed: int,
                    emission_prior: float, monitor: ConvergenceMonitor, n_threads: int | None = None):
    """A categorical HMM's EM fit (hmmlearn ``CategoricalHMM`` with ``emissionprob_prior``
    and the kernel E-step). Returns ``(startprob, transmat, emissionprob)``."""
    from neshmm.models import estep as kernel  # numba: imported only when a model is fitted

    ids = np.ascontiguousarray(ids, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    startprob, transmat = initial_start_trans(seed, n_components)
    # hmmlearn's CategoricalHMM._init draws the emissions from a new RandomState(seed).
    emissionprob = np.random.RandomState(seed).rand(n_components, n_symbols)
    normalize(emissionprob, axis=1)

    def estep(start, trans, emission):
        return kernel.categorical_estep(ids, lengths, start, trans, emission, n_threads=n_threads)

    def mstep_emission(counts):
        new = np.maximum(emission_prior - 1 + counts, 0)
        normalize(new, axis=1)
        return new

    return run(startprob, transmat, emissionprob, estep, mstep_emission, monitor)


def fit_multistream(frames: np.ndarray, lengths: np.ndarray, n_components: int, n_symbols, seed: int,
                    emission_prior: float, monitor: ConvergenceMonitor, n_threads: int | None = None):
    """The joint model's EM fit (:class:`~neshmm.models.multistream_hmm.MultiStreamCategoricalHMM`
    with the kernel E-step): one categorical emission table per stream, ``emission_prior``
    pseudo-counts added to every count. Returns ``(startprob, transmat, emissionprobs)``."""
    from neshmm.models import estep as kernel  # numba: imported only when a model is fitted

    frames = np.ascontiguousarray(frames, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    startprob, transmat = initial_start_trans(seed, n_components)
    # A child seed, so the emission draws do not repeat the start/transition ones.
    rng = np.random.RandomState(np.random.SeedSequence([int(seed), 1]).generate_state(4))
    emissions = []
    for n in n_symbols:
        e = rng.rand(n_components, int(n))
        normalize(e, axis=1)
        emissions.append(e)

    def estep(start, trans, emission):
        return kernel.multistream_estep(frames, lengths, start, trans, emission, n_threads=n_threads)

    def mstep_emission(counts):
        return tuple((obs + emission_prior) / (obs + emission_prior).sum(axis=1, keepdims=True) for obs in counts)

    return run(startprob, transmat, tuple(emissions), estep, mstep_emission, monitor)
