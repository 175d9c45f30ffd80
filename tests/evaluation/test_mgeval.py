"""MGEval scores: the toolbox's utils against an independent numerical computation, the
demo notebook's distance counts, and mode selection."""

import math

import numpy as np
import pytest

from neshmm.errors import ConfigError, DataError
from neshmm.evaluation import mgeval as mg
from neshmm.evaluation.mgeval_features import TOOLBOX_FEATURES
from helpers import TINY_TPB, tiny_pieces


def scott_kde(sample):
    """A Gaussian KDE written out: Scott's factor n^(-1/5) times the sample std (ddof 1)."""
    sample = np.asarray(sample, dtype=float)
    h = sample.std(ddof=1) * len(sample) ** (-1 / 5)

    def pdf(x):
        z = (np.asarray(x, dtype=float)[:, None] - sample[None, :]) / h
        return np.exp(-0.5 * z**2).sum(axis=1) / (len(sample) * h * math.sqrt(2 * math.pi))

    return pdf


A_DIST = np.array([0.0, 1.0, 1.0, 2.0, 4.0])
B_DIST = np.array([1.0, 3.0, 3.5, 5.0, 6.0, 6.0])


def test_toolbox_overlap_area_matches_direct_integration_over_the_data_range():
    pa, pb = scott_kde(A_DIST), scott_kde(B_DIST)
    x = np.linspace(0.0, 6.0, 200_001)  # [min, max] of both samples, nothing beyond
    expected = np.trapezoid(np.minimum(pa(x), pb(x)), x)
    assert mg.toolbox_overlap_area(A_DIST, B_DIST) == pytest.approx(expected, rel=1e-6)
    # The range cut is the toolbox's: identical samples do not overlap fully.
    same = mg.toolbox_overlap_area(A_DIST, A_DIST)
    assert same == pytest.approx(np.trapezoid(pa(np.linspace(0, 4, 200_001)), np.linspace(0, 4, 200_001)), rel=1e-6)
    assert same < 0.95


def test_toolbox_kl_uses_two_grids():
    pa, pb = scott_kde(A_DIST), scott_kde(B_DIST)
    p = pa(np.linspace(0.0, 4.0, 1000))
    q = pb(np.linspace(1.0, 6.0, 1000))
    p, q = p / p.sum(), q / q.sum()
    assert mg.toolbox_kl(A_DIST, B_DIST) == pytest.approx(float(np.sum(p * np.log(p / q))), rel=1e-9)
    # A shifted copy sits on a shifted grid: the toolbox's KL cannot see the shift.
    assert mg.toolbox_kl(A_DIST, A_DIST + 100.0) == pytest.approx(0.0, abs=1e-12)


def test_toolbox_distances_follow_the_notebook_leave_one_out():
    ref = np.array([[0.0], [3.0], [4.0]])
    gen = np.array([[1.0], [10.0]])
    intra, inter = mg.toolbox_distances(ref, gen)
    np.testing.assert_array_equal(intra, [3, 4, 3, 1, 4, 1])  # every pair twice
    np.testing.assert_array_equal(inter, [1, 10, 2, 7, 3, 6])
    np.testing.assert_allclose(mg.c_dist(np.array([0.0, 0.0]), np.array([[3.0, 4.0], [1.0, 0.0]])), [5.0, 1.0])


def test_toolbox_scores_equal_utils_on_hand_distances():
    # total_used_note of the tiny pieces: 4, 5, 4 (reference) vs 4, 5, 4 (generated).
    ref = tiny_pieces()
    res = mg.mgeval_scores(ref, ref, TINY_TPB, mode="toolbox", features=["total_used_note"])
    intra = np.array([1, 0, 1, 1, 0, 1], dtype=float)
    inter = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0], dtype=float)
    assert res["total_used_note"]["oa"] == pytest.approx(mg.toolbox_overlap_area(intra, inter))
    assert res["total_used_note"]["kl"] == pytest.approx(mg.toolbox_kl(intra, inter))


def test_both_modes_return_every_feature():
    rng = np.random.default_rng(0)

    def piece():
        n = int(rng.integers(6, 14))
        s = np.sort(rng.integers(0, 60, n))
        return np.stack([s, s + rng.integers(1, 5, n), rng.integers(50, 80, n), rng.integers(1, 16, n)], 1)

    ref, gen = [piece() for _ in range(10)], [piece() for _ in range(7)]
    for mode in mg.MGEVAL_MODES:
        res = mg.mgeval_scores(ref, gen, TINY_TPB, mode=mode, num_bar=8, seed=1)
        assert tuple(res) == TOOLBOX_FEATURES
        for v in res.values():
            assert 0.0 <= v["oa"] <= 1.0 + 1e-9 and v["kl"] >= -1e-12
    again = mg.mgeval_scores(ref, gen, TINY_TPB, mode="corrected", num_bar=8, seed=1)
    assert again == mg.mgeval_scores(ref, gen, TINY_TPB, mode="corrected", num_bar=8, seed=1)
    self_cmp = mg.mgeval_scores(ref, ref, TINY_TPB, mode="corrected", features=["avg_IOI"], max_pairs=10**6)
    assert self_cmp["avg_IOI"]["oa"] > 0.9  # inter pairs include the zero self-distances


def test_corrected_mode_leaves_out_undefined_pieces_where_toolbox_fails():
    ref = tiny_pieces() + [np.array([[0, 2, 60, 10]])]  # one note: no pitch shift
    with pytest.raises(DataError, match="avg_pitch_shift"):
        mg.mgeval_scores(ref, tiny_pieces(), TINY_TPB, mode="toolbox", features=["avg_pitch_shift"])
    res = mg.mgeval_scores(ref, tiny_pieces(), TINY_TPB, mode="corrected", features=["avg_pitch_shift"])
    assert math.isfinite(res["avg_pitch_shift"]["oa"])


def test_toolbox_bar_features_need_equal_bar_counts():
    a, b, c = tiny_pieces()  # 1, 2 and 2 bars by the toolbox's rounding
    with pytest.raises(DataError, match="pass num_bar"):
        mg.mgeval_scores([a, b, c], [b], TINY_TPB, mode="toolbox", features=["bar_used_note"])
    res = mg.mgeval_scores([a, b, c], [b], TINY_TPB, mode="toolbox", features=["bar_used_note"], num_bar=2)
    assert math.isfinite(res["bar_used_note"]["oa"])


def test_constant_distances_are_a_data_error_in_toolbox_mode():
    a = tiny_pieces()[0]
    with pytest.raises(DataError, match="KDE"):
        mg.mgeval_scores([a, a, a], [a], TINY_TPB, mode="toolbox", features=["total_used_note"])


def test_config_errors():
    ref = tiny_pieces()
    with pytest.raises(ConfigError, match="mgeval_mode"):
        mg.mgeval_scores(ref, ref, TINY_TPB, mode="published")
    with pytest.raises(ConfigError, match="features"):
        mg.mgeval_scores(ref, ref, TINY_TPB, features=["note_density"])
    with pytest.raises(ConfigError):
        mg.mgeval_scores(ref, ref, 0)
    assert mg.check_mode("corrected") == "corrected"


def test_scalar_pdf_is_scipys_kde():
    from scipy.stats import gaussian_kde

    kde = gaussian_kde(B_DIST)
    pdf = mg._scalar_pdf(kde)
    for x in (-1.0, 0.3, 3.2, 6.0, 9.5):
        assert pdf(x) == pytest.approx(float(kde(x)[0]), rel=1e-12)
