import json

import numpy as np
import pytest

from neshmm.errors import ConfigError, DataError
from neshmm.evaluation import metrics
from neshmm.evaluation.statistics import (
    Interval,
    kl_rows,
    mean_ci,
    paired_ratio_ci,
    pooled_ci,
    ratio_ci,
    resample_counts,
)

NUM = np.array([-10.0, -30.0, -5.0, -20.0])  # per-file log-likelihood
DEN = np.array([4.0, 10.0, 1.0, 5.0])  # per-file tokens


def hand_draws(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """The documented draw: one row of file indices per resample."""
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def hand_interval(replicates, level=0.95):
    a = (1 - level) / 2
    return np.quantile(replicates, a), np.quantile(replicates, 1 - a)


def test_interval_format_and_json():
    iv = Interval(-5.5, -5.8, -5.2)
    assert iv.format() == "-5.5000 [-5.8000, -5.2000]"
    assert iv.format(".1f") == "-5.5 [-5.8, -5.2]"
    assert iv.half_width == pytest.approx(0.3)
    obj = json.loads(json.dumps(iv.to_json()))
    assert obj == {"value": -5.5, "low": -5.8, "high": -5.2, "level": 0.95}
    assert Interval.from_json(obj) == iv
    assert Interval(float("nan"), 0.0, float("inf")).to_json()["value"] is None
    assert Interval(1.0, 0.5, 2.0).excludes(0.0) and not Interval(1.0, -0.5, 2.0).excludes(0.0)


def test_resample_counts_are_the_documented_draws():
    w = resample_counts(4, 7, seed=3)
    idx = hand_draws(4, 7, 3)
    assert w.shape == (7, 4) and (w.sum(axis=1) == 4).all()
    for r in range(7):
        assert w[r].tolist() == np.bincount(idx[r], minlength=4).tolist()


def test_ratio_ci_by_hand():
    ci = ratio_ci(NUM, DEN, n_resamples=50, seed=5)
    idx = hand_draws(4, 50, 5)
    reps = [NUM[i].sum() / DEN[i].sum() for i in idx]
    low, high = hand_interval(reps)
    assert ci.value == pytest.approx(-65.0 / 20.0)
    assert (ci.low, ci.high) == (pytest.approx(low), pytest.approx(high))
    assert ci.low < ci.value < ci.high  # the per-file ratios differ (-2.5, -3, -5, -4)


def test_ratio_ci_collapses_when_every_file_has_the_same_rate():
    ci = ratio_ci(-2.0 * DEN, DEN, n_resamples=200, seed=0)
    assert (ci.value, ci.low, ci.high) == (pytest.approx(-2.0), pytest.approx(-2.0), pytest.approx(-2.0))


def test_ratio_ci_same_seed_same_interval_other_seed_other():
    assert ratio_ci(NUM, DEN, 100, seed=1) == ratio_ci(NUM, DEN, 100, seed=1)
    assert ratio_ci(NUM, DEN, 100, seed=1) != ratio_ci(NUM, DEN, 100, seed=2)


def test_paired_difference_by_hand():
    base = np.array([-12.0, -28.0, -7.0, -19.0])
    pc = paired_ratio_ci(NUM, base, DEN, n_resamples=40, seed=2, level=0.9)
    idx = hand_draws(4, 40, 2)
    diffs = [(NUM[i].sum() - base[i].sum()) / DEN[i].sum() for i in idx]
    low, high = hand_interval(diffs, 0.9)
    assert pc.difference.value == pytest.approx((NUM.sum() - base.sum()) / DEN.sum())
    assert (pc.difference.low, pc.difference.high) == (pytest.approx(low), pytest.approx(high))
    assert pc.model == ratio_ci(NUM, DEN, 40, 2, 0.9)  # same draws for model, baseline, difference
    assert pc.baseline == ratio_ci(base, DEN, 40, 2, 0.9)
    assert pc.significant == (low > 0 or high < 0)
    assert json.loads(json.dumps(pc.to_json()))["significant"] == pc.significant


def test_paired_constant_gain_is_significant_even_inside_the_spread():
    # The model beats the baseline by exactly 0.1 nats on every token: the two marginal
    # intervals overlap widely, the paired difference is exactly 0.1 on every resample.
    pc = paired_ratio_ci(NUM + 0.1 * DEN, NUM, DEN, n_resamples=300, seed=0)
    assert pc.model.low < pc.baseline.high
    assert (pc.difference.low, pc.difference.high) == (pytest.approx(0.1), pytest.approx(0.1))
    assert pc.significant
    same = paired_ratio_ci(NUM, NUM, DEN, n_resamples=300, seed=0)
    assert not same.significant and same.difference.low == same.difference.high == 0.0


def test_mean_ci_by_hand():
    values = np.array([0.5, 1.5, 0.2, 3.0, 1.0])
    ci = mean_ci(values, n_resamples=30, seed=9)
    reps = [values[i].mean() for i in hand_draws(5, 30, 9)]
    low, high = hand_interval(reps)
    assert ci.value == pytest.approx(values.mean())
    assert (ci.low, ci.high) == (pytest.approx(low), pytest.approx(high))


def test_kl_rows_is_histogram_kl():
    ref = np.array([5, 0, 3, 2])
    rows = np.array([[1, 1, 1, 1], [0, 4, 0, 0], [5, 0, 3, 2]])
    got = kl_rows(ref, 1e-3)(rows)
    assert got == pytest.approx([metrics.histogram_kl(ref, r, 1e-3) for r in rows])
    assert got[2] == pytest.approx(0.0, abs=1e-12)


def test_pooled_ci_resamples_pieces_then_pools_by_hand():
    ref = np.array([4, 3, 2, 1])
    pieces = np.array([[2, 0, 0, 0], [0, 2, 1, 0], [1, 1, 1, 1]])
    ci = pooled_ci(pieces, kl_rows(ref, 0.01), n_resamples=25, seed=4)
    reps = [metrics.histogram_kl(ref, pieces[i].sum(axis=0), 0.01) for i in hand_draws(3, 25, 4)]
    low, high = hand_interval(reps)
    assert ci.value == pytest.approx(metrics.histogram_kl(ref, pieces.sum(axis=0), 0.01))
    assert (ci.low, ci.high) == (pytest.approx(low), pytest.approx(high))


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: ratio_ci(NUM, DEN, n_resamples=0), ConfigError, "evaluate.bootstrap.n_resamples=0"),
        (lambda: ratio_ci(NUM, DEN, n_resamples=2.5), ConfigError, "whole number"),
        (lambda: ratio_ci(NUM, DEN, level=1.0), ConfigError, "evaluate.bootstrap.level=1.0"),
        (lambda: ratio_ci(NUM, np.array([4.0, 0.0, 1.0, 5.0])), DataError, "positive length"),
        (lambda: ratio_ci([], []), DataError, "no files"),
        (lambda: mean_ci([]), DataError, "no files"),
    ],
)
def test_bad_input_is_a_one_line_error(call, error, words):
    with pytest.raises(error, match=words) as exc:
        call()
    assert "\n" not in str(exc.value)

