"""hmmlearn model of :mod:`neshmm.models.joint`: one categorical symbol per stream, per frame.

A module of its own so that importing the joint model (every stage that reads its file)
does not import hmmlearn and scikit-learn (about a second); :class:`JointModel` imports it
when it fits or samples.
"""

from __future__ import annotations

import numpy as np
from hmmlearn.base import BaseHMM
from hmmlearn.utils import normalize
from sklearn.utils import check_random_state

from neshmm.models.hmmlearn_estep import KernelEStepMixin


class MultiStreamCategoricalHMM(KernelEStepMixin, BaseHMM):
    """hmmlearn HMM whose observation is one categorical symbol per stream, per frame.

    Parameters beyond :class:`hmmlearn.base.BaseHMM`'s: ``n_features``, the number of
    symbols of each stream (inferred from ``X`` at the first fit when None), and
    ``emission_prior``, the pseudo-count added to every (state, symbol) emission count in
    the M-step (the MAP estimate under a symmetric Dirichlet(1 + emission_prior) prior),
    so that no symbol, ``<unk>`` included, ever gets probability 0 and held-out data has a
    finite likelihood. Fitted: ``startprob_``, ``transmat_`` and ``emissionprob_``, a
    tuple with one ``(n_components, n_features[s])`` array per stream.

    hmmlearn hooks used (protected API of hmmlearn 0.3): ``_init``,
    ``_check_and_set_n_features``, ``_check``, ``_get_n_fit_scalars_per_param``,
    ``_compute_likelihood``/``_compute_log_likelihood``,
    ``_initialize_sufficient_statistics``, ``_accumulate_sufficient_statistics``,
    ``_do_mstep`` and ``_generate_sample_from_state``. ``tests/models/test_joint.py``
    guards them: the E-step against brute-force enumeration of all state paths (both
    implementations), the M-step counts on a hand-computed case, a one-stream fit against
    hmmlearn's own ``CategoricalHMM`` (same parameters after EM), and sampling through
    hmmlearn's ``sample``.
    """

    def __init__(
        self,
        n_components=1,
        n_features=None,
        emission_prior=0.1,
        startprob_prior=1.0,
        transmat_prior=1.0,
        algorithm="viterbi",
        random_state=None,
        n_iter=10,
        tol=1e-2,
        verbose=False,
        params="ste",
        init_params="ste",
        implementation="scaling",
    ):
        super().__init__(
            n_components=n_components,
            startprob_prior=startprob_prior,
            transmat_prior=transmat_prior,
            algorithm=algorithm,
            random_state=random_state,
            n_iter=n_iter,
            tol=tol,
            verbose=verbose,
            params=params,
            init_params=init_params,
            implementation=implementation,
        )
        self.n_features = n_features
        self.emission_prior = emission_prior

    def _check_and_set_n_features(self, X):
        X = np.asarray(X)
        if not np.issubdtype(X.dtype, np.integer) or (X.size and X.min() < 0):
            raise ValueError("symbols must be non-negative integers")
        if self.n_features is None:
            self.n_features = tuple(int(m) + 1 for m in X.max(axis=0))
        if X.shape[1] != len(self.n_features):
            raise ValueError(f"expected {len(self.n_features)} streams, got {X.shape[1]}")
        if X.size and (X.max(axis=0) >= np.asarray(self.n_features)).any():
            raise ValueError(f"symbols must lie below n_features={tuple(self.n_features)}")

    def _get_n_fit_scalars_per_param(self):
        k = self.n_components
        return {"s": k - 1, "t": k * (k - 1), "e": sum(k * (int(n) - 1) for n in self.n_features)}

    def _init(self, X, lengths=None):
        super()._init(X, lengths)  # startprob_, transmat_ and n_features
        if self._needs_init("e", "emissionprob_"):
            random_state = self.random_state
            if isinstance(random_state, (int, np.integer)):
                # hmmlearn's _init made its own RandomState of this seed for startprob_ and
                # transmat_; a child seed keeps the emission draws from repeating those.
                random_state = np.random.RandomState(np.random.SeedSequence([int(random_state), 1]).generate_state(4))
            random_state = check_random_state(random_state)
            emissions = []
            for n in self.n_features:
                e = random_state.rand(self.n_components, int(n))
                normalize(e, axis=1)
                emissions.append(e)
            self.emissionprob_ = tuple(emissions)

    def _check(self):
        super()._check()
        self.emissionprob_ = tuple(np.asarray(e, dtype=np.float64) for e in self.emissionprob_)
        if self.n_features is None:
            self.n_features = tuple(e.shape[1] for e in self.emissionprob_)
        if len(self.emissionprob_) != len(self.n_features):
            raise ValueError("emissionprob_ must have one array per stream")
        for s, (e, n) in enumerate(zip(self.emissionprob_, self.n_features)):
            if e.shape != (self.n_components, int(n)):
                raise ValueError(f"emissionprob_[{s}] must have shape (n_components, {n})")
            if not np.allclose(e.sum(axis=1), 1):
                raise ValueError(f"emissionprob_[{s}] rows must sum to 1")

    def _compute_likelihood(self, X):
        X = np.asarray(X, dtype=np.int64)
        out = self.emissionprob_[0][:, X[:, 0]].T.copy()
        for s in range(1, X.shape[1]):
            out *= self.emissionprob_[s][:, X[:, s]].T
        return out

    def _compute_log_likelihood(self, X):
        X = np.asarray(X, dtype=np.int64)
        with np.errstate(divide="ignore"):
            out = np.log(self.emissionprob_[0])[:, X[:, 0]].T.copy()
            for s in range(1, X.shape[1]):
                out += np.log(self.emissionprob_[s])[:, X[:, s]].T
        return out

    def _generate_sample_from_state(self, state, random_state):
        return np.array(
            [(np.cumsum(e[state]) > random_state.rand()).argmax() for e in self.emissionprob_], dtype=np.int64
        )

    def _initialize_sufficient_statistics(self):
        stats = super()._initialize_sufficient_statistics()
        stats["obs"] = [np.zeros((self.n_components, int(n))) for n in self.n_features]
        return stats

    def _kernel_estep(self, X, lengths):
        # The multi-stream fast path of the compiled E-step: frame probabilities are
        # gathered per stream inside the kernel and posteriors go straight into per-stream
        # counts, so the (T, K) frame-probability and posterior matrices of the generic
        # path are never built (on the demo those NumPy passes cost 2.5x the kernel).
        from neshmm.models import estep  # numba: imported only when a model is fitted

        return estep.multistream_estep(
            X, lengths, self.startprob_, self.transmat_, self.emissionprob_, n_threads=self.n_workers
        )

    def _accumulate_emission_statistics(self, stats, X, emission):
        if "e" in self.params:
            for s, counts in enumerate(emission):
                stats["obs"][s] += counts

    def _accumulate_sufficient_statistics(self, stats, X, lattice, posteriors, fwdlattice, bwdlattice):
        # hmmlearn's own E-step (implementation="log"); "scaling" goes through the compiled
        # kernel (KernelEStepMixin) and lands in _accumulate_emission_statistics.
        super()._accumulate_sufficient_statistics(stats, X, lattice, posteriors, fwdlattice, bwdlattice)
        if "e" in self.params:
            X = np.asarray(X, dtype=np.int64)
            k = self.n_components
            for s, n in enumerate(self.n_features):
                # obs[s][j, x] += sum_t posteriors[t, j] * [X[t, s] == x], as one bincount.
                flat = (X[:, s, None] * k + np.arange(k)).ravel()
                counts = np.bincount(flat, weights=posteriors.ravel(), minlength=int(n) * k)
                stats["obs"][s] += counts.reshape(int(n), k).T

    def _do_mstep(self, stats):
        super()._do_mstep(stats)
        if "e" in self.params:
            self.emissionprob_ = tuple(
                (obs + self.emission_prior) / (obs + self.emission_prior).sum(axis=1, keepdims=True)
                for obs in stats["obs"]
            )
