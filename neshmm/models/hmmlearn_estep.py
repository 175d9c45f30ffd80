"""The one place that plugs the compiled E-step (:mod:`neshmm.models.estep`) into hmmlearn.

Why an adapter: hmmlearn has no public hook for replacing the E-step, so this overrides
private methods of ``hmmlearn.base.BaseHMM`` (0.3.x): ``_do_estep(X, lengths) -> (stats,
logprob)``, and calls ``_compute_likelihood``, ``_initialize_sufficient_statistics`` and
``_estep_begin``, reading ``params``, ``implementation``, ``startprob_`` and
``transmat_``. If an hmmlearn upgrade renames or reshapes any of these,
``tests/models/test_estep.py`` fails (it compares fits and E-step statistics with stock
hmmlearn, ``test_adapter_matches_stock_do_estep`` first); fix it here and nowhere else.

How another emission model uses it (e.g. a multi-stream joint HMM)::

    class JointHMM(KernelEStepMixin, BaseHMM):      # mixin first, so its _do_estep wins
        def _compute_likelihood(self, X): ...        # (T, K) frame probabilities, as for hmmlearn
        def _accumulate_emission_statistics(self, stats, X, posteriors):
            ...                                      # posteriors: (T, K), all sequences at once

    model.n_workers = 0                              # threads; 0 = one per core (default 1)

With ``implementation="scaling"`` the E-step is the kernel; ``"log"`` stays hmmlearn's.
Start and transition statistics and ``nobs`` are filled here; ``stats`` keys the model
adds in ``_initialize_sufficient_statistics`` are the model's to fill.
"""

from __future__ import annotations

import numpy as np


class KernelEStepMixin:
    """Replace a ``BaseHMM`` subclass's scaling E-step with the compiled kernel."""

    n_workers: int = 1  # numba threads; set after construction (sklearn estimators take declared params only)

    def _do_estep(self, X, lengths):
        if self.implementation != "scaling":
            return super()._do_estep(X, lengths)
        lengths = np.asarray([len(X)] if lengths is None else lengths, dtype=np.int64)
        stats = self._initialize_sufficient_statistics()
        self._estep_begin()
        result = self._kernel_estep(X, lengths)
        stats["nobs"] += result.n_sequences
        if "s" in self.params:
            stats["start"] += result.start
        if "t" in self.params:
            stats["trans"] += result.trans
        self._accumulate_emission_statistics(stats, X, result.emission)
        return stats, result.log_likelihood

    def _kernel_estep(self, X, lengths):
        """Generic path: frame probabilities from the model, posteriors back (T, K)."""
        from neshmm.models import estep  # numba: imported only when a model is fitted

        frameprob = self._compute_likelihood(X)
        return estep.estep(frameprob, lengths, self.startprob_, self.transmat_, n_threads=self.n_workers)

    def _accumulate_emission_statistics(self, stats, X, emission) -> None:
        """Add the emission statistics; ``emission`` is what ``_kernel_estep`` returned."""
        raise NotImplementedError(
            f"{type(self).__name__} uses KernelEStepMixin and must define "
            "_accumulate_emission_statistics(stats, X, posteriors)"
        )
