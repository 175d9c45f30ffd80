"""neshmm.evaluation.kde_bandwidth: scipy's gaussian_kde bandwidth, equal to the last bit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import gaussian_kde

from neshmm.evaluation.kde_bandwidth import scott_bandwidth


def samples():
    rng = np.random.default_rng(7)
    for n in (2, 3, 5, 17, 100, 1225, 10_000):
        yield rng.normal(3.0, 2.0, n)
        yield np.round(rng.gamma(2.0, 3.0, n), 1)  # repeated values, as distances of integer features
        yield np.sqrt(rng.integers(0, 40, n).astype(np.float64))
    yield np.array([0.0, 1e-12])
    yield np.array([5.0, 5.0, 5.0, 6.0])


@pytest.mark.parametrize("sample", list(samples()), ids=lambda s: f"n{len(s)}")
def test_equals_scipy_bit_for_bit(sample):
    assert scott_bandwidth(sample) == float(np.sqrt(gaussian_kde(sample).covariance[0, 0]))


def test_constant_sample_fails_like_scipy():
    with pytest.raises(np.linalg.LinAlgError):
        gaussian_kde(np.full(4, 2.0))
    with pytest.raises(np.linalg.LinAlgError):
        scott_bandwidth(np.full(4, 2.0))
