"""hmmlearn's CategoricalHMM with the compiled E-step: the model :class:`neshmm.models.hmm.HMMModel` fits.

A module of its own so that importing the HMM model (every stage validates its config or
reads its file) does not import hmmlearn and scikit-learn (about a second); ``HMMModel``
imports it when it fits, scores or samples.
"""

from __future__ import annotations

from hmmlearn.hmm import CategoricalHMM

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
