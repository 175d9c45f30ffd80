"""Scott's-rule bandwidth of ``scipy.stats.gaussian_kde`` for 1-D data, without scipy.stats.

Why: the corrected MGEval needs only the bandwidth of each KDE (the densities themselves
are :func:`neshmm.evaluation.metrics._kde_logpdf`), and importing ``scipy.stats`` for it
cost ~0.45 s in every process that scored MGEval: once per evaluate worker.

This is ``gaussian_kde(sample)``'s construction (scipy 1.17, ``scipy/stats/_kde.py``)
step by step with the same NumPy calls, so the bandwidth is the same float bit for bit:
uniform weights ``ones(n) / n``, ``neff = 1 / vecdot(w, w)`` (scipy's ``np_vecdot``:
``np.vecdot`` on NumPy 2, ``sum(w * w)`` before), Scott's factor ``neff ** (-1 / 5)``,
the weighted covariance ``np.cov(..., aweights=w)`` times the factor squared. Where
scipy's Cholesky of that 1x1 covariance fails (not > 0) this raises ``LinAlgError`` as
scipy does. It is the one place that depends on how scipy builds its KDE;
``tests/evaluation/test_kde_bandwidth.py`` compares it with ``gaussian_kde`` with ``==``
on many samples and fails if a scipy release changes the construction.
"""

from __future__ import annotations

import numpy as np


def _vecdot(a: np.ndarray, b: np.ndarray):
    # scipy._lib._util.np_vecdot: np.vecdot where NumPy has it (its own version check).
    return np.vecdot(a, b) if np.__version__ > "2.0" else np.sum(a * b)


def scott_bandwidth(sample: np.ndarray) -> float:
    """``sqrt(gaussian_kde(sample).covariance[0, 0])`` for a 1-D float sample of >= 2 values."""
    dataset = np.atleast_2d(np.asarray(sample))
    if not dataset.size > 1:
        raise ValueError("`dataset` input should have multiple elements.")
    n = dataset.shape[1]
    weights = np.ones(n) / n
    neff = 1 / _vecdot(weights, weights)
    factor = np.power(neff, -1.0 / (1 + 4))
    data_covariance = np.atleast_2d(np.cov(dataset, rowvar=1, bias=False, aweights=weights))
    if not np.isfinite(data_covariance).all():
        raise ValueError("array must not contain infs or NaNs")  # scipy's cholesky(check_finite=True)
    if not data_covariance[0, 0] > 0:
        raise np.linalg.LinAlgError("1-th leading minor of the array is not positive definite")
    covariance = data_covariance * factor**2
    return float(np.sqrt(covariance[0, 0]))
