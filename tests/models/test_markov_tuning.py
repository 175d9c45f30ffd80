"""The Markov baseline chooses its smoothing alpha on the tuning split, never on train."""

from __future__ import annotations

import numpy as np
import pytest

from neshmm.errors import ConfigError
from neshmm.models.markov import MarkovConfig, MarkovModel
from neshmm.models.tuning import TuningData, grid_search


def data(seed, n=30, length=50, v=12):
    rng = np.random.default_rng(seed)
    # A sticky chain: mostly +1 steps, sometimes a random jump (needs some smoothing).
    seqs = []
    for _ in range(n):
        x = [int(rng.integers(1, v))]
        for _ in range(length - 1):
            x.append(x[-1] % (v - 1) + 1 if rng.random() < 0.8 else int(rng.integers(1, v)))
        seqs.append(x)
    return np.concatenate(seqs), np.full(n, length), v


def test_alpha_is_the_grid_point_best_on_the_tuning_split():
    ids, lengths, v = data(0)
    tids, tlengths, _ = data(1, n=10)
    grid = [1.0, 0.1, 0.01, 0.001]
    m = MarkovModel(v, alpha=1.0, alpha_grid=grid)
    m.tuning = TuningData("valid", tids, tlengths, 1e-6)
    m.fit(ids, lengths)
    scores = {a: MarkovModel(v, alpha=a).fit(ids, lengths).log_likelihood(tids, tlengths, 1e-6) / len(tids)
              for a in grid}
    assert m.alpha == max(scores, key=scores.get)
    tuning = m.fit_info["tuning"]
    assert tuning["split"] == "valid" and tuning["chosen"] == m.alpha
    assert [c["value"] for c in tuning["curve"]] == grid
    for c in tuning["curve"]:
        assert c["loglik_per_token"] == pytest.approx(scores[c["value"]], rel=1e-12)
    # The fitted chain is the one with the chosen alpha.
    ref = MarkovModel(v, alpha=m.alpha).fit(ids, lengths)
    assert np.array_equal(m.transmat_, ref.transmat_)


def test_tuning_uses_held_out_data_not_training_data():
    ids, lengths, v = data(0)
    m = MarkovModel(v, alpha_grid=[1.0, 0.001])
    m.tuning = TuningData("valid", ids, lengths, 1e-6)  # "tuning" on the training data itself
    m.fit(ids, lengths)
    assert m.alpha == 0.001  # the least smoothing always wins on train: why valid is required
    held = MarkovModel(v, alpha_grid=[1.0, 0.001])
    tids = np.array([1, 5, 2, 9, 3, 7, 1, 11] * 5)  # jumps the chain never made in training
    held.tuning = TuningData("valid", tids, np.array([len(tids)]), 1e-6)
    held.fit(ids, lengths)
    assert held.alpha == 1.0


def test_without_tuning_tokens_alpha_is_used_and_the_reason_recorded():
    ids, lengths, v = data(0)
    m = MarkovModel(v, alpha=0.5, alpha_grid=[1.0, 0.1])
    m.tuning = TuningData("valid", np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 1e-6)
    m.fit(ids, lengths)
    assert m.alpha == 0.5 and "skipped" in m.fit_info["tuning"]
    fixed = MarkovModel(v, alpha=0.5).fit(ids, lengths)  # no grid: no tuning at all
    assert "tuning" not in fixed.fit_info and np.array_equal(fixed.transmat_, m.transmat_)


def test_grid_search_takes_the_first_maximum():
    best, curve = grid_search([3.0, 2.0, 1.0], lambda a: -abs(a - 2.5) // 1)
    assert best == 3.0 and len(curve) == 3


def test_bad_grid_is_a_one_line_error():
    with pytest.raises(ConfigError, match=r"^baseline\.alpha_grid=\[1\.0, 0\.0\]: must be"):
        MarkovModel.validate_config(MarkovConfig(alpha_grid=[1.0, 0.0]), "baseline")
