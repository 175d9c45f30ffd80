"""HMMModel training: emission prior (MAP), random restarts, BIC, per-fit curves."""

from __future__ import annotations

import numpy as np
import pytest

from neshmm.errors import ConfigError
from neshmm.models.hmm import HMMConfig, HMMModel, bic, n_free_parameters, restart_seed


def corpus(seed=0, n=12, length=40, vocab=30):
    """Two regimes over the low and high ids; the top ids (and <unk>, id 0) never occur."""
    rng = np.random.default_rng(seed)
    seqs = [np.concatenate([rng.integers(1, 8, length // 2), rng.integers(8, 16, length - length // 2)])
            for _ in range(n)]
    return np.concatenate(seqs), np.full(n, length), vocab


def test_emission_prior_leaves_no_token_impossible_in_any_state():
    ids, lengths, v = corpus()
    unseen = np.setdiff1d(np.arange(v), ids)
    assert len(unseen) >= 10  # the point of the test: many ids never seen in training
    ml = HMMModel(v, n_components=4, n_iter=30, emission_prior=1.0).fit(ids, lengths)
    assert (ml.emissionprob_[:, unseen] == 0).all()  # maximum likelihood: impossible
    m = HMMModel(v, n_components=4, n_iter=30, emission_prior=1.01).fit(ids, lengths)
    assert (m.emissionprob_ > 0).all()
    np.testing.assert_allclose(m.emissionprob_.sum(axis=1), 1.0)
    # MAP with alpha-1 pseudo-counts: an unseen token's probability in a state is
    # (alpha-1) / (expected emissions of the state + (alpha-1) V).
    n_state = m.emissionprob_[:, unseen[0]]
    assert np.all(n_state < 0.01 / 1.0) and np.all(n_state > 0.01 / (len(ids) + 0.01 * v) - 1e-15)


def test_restart_seeds_are_deterministic_distinct_and_start_at_seed():
    assert restart_seed(17, 0) == 17
    seeds = [restart_seed(17, r) for r in range(5)]
    assert seeds == [restart_seed(17, r) for r in range(5)]
    assert len(set(seeds)) == 5 and all(0 <= s < 2**32 for s in seeds)


def test_best_of_n_init_is_at_least_every_restart_and_deterministic():
    ids, lengths, v = corpus(seed=3)
    multi = HMMModel(v, n_components=5, n_iter=15, seed=4, n_init=4).fit(ids, lengths)
    restarts = multi.fit_info["restarts"]
    assert len(restarts) == 4 and len(multi.fit_curves) == 4
    singles = []
    for r in restarts:  # every restart equals a single fit from its seed
        one = HMMModel(v, n_components=5, n_iter=15, seed=r["seed"]).fit(ids, lengths)
        assert one.fit_info["train_loglik"] == r["train_loglik"]
        singles.append(one)
    assert multi.fit_info["train_loglik"] >= max(s.fit_info["train_loglik"] for s in singles)
    best = singles[multi.fit_info["best_restart"]]
    assert np.array_equal(multi.emissionprob_, best.emissionprob_)
    assert len({r["train_loglik"] for r in restarts}) > 1  # restarts really differ
    again = HMMModel(v, n_components=5, n_iter=15, seed=4, n_init=4).fit(ids, lengths)
    assert again.fit_info == multi.fit_info and np.array_equal(again.transmat_, multi.transmat_)
    # n_init=1 is the single fit from `seed` it always was.
    first = HMMModel(v, n_components=5, n_iter=15, seed=4).fit(ids, lengths)
    assert first.fit_info["train_loglik"] == restarts[0]["train_loglik"]


def test_fit_info_reports_iterations_curve_and_bic():
    ids, lengths, v = corpus()
    m = HMMModel(v, n_components=3, n_iter=7, tol=0.0).fit(ids, lengths)
    info = m.fit_info
    assert info["n_iter"] == 7 and not info["converged"] and len(m.fit_curves[0]) == 7
    assert info["train_loglik"] == m.fit_curves[0][-1]
    assert info["n_params"] == 2 + 3 * 2 + 3 * (v - 1)
    assert info["bic"] == pytest.approx(-2 * info["train_loglik"] + info["n_params"] * np.log(len(ids)))


def test_n_free_parameters_and_bic_by_hand():
    assert n_free_parameters(1, 2) == 1
    assert n_free_parameters(16, 1700) == 15 + 16 * 15 + 16 * 1699
    assert bic(-100.0, 3, 1) == 200.0


@pytest.mark.parametrize("key,value", [("emission_prior", 0.5), ("n_init", 0)])
def test_bad_training_keys_are_one_line_errors(key, value):
    with pytest.raises(ConfigError, match=rf"^model\.{key}={value}: must be"):
        HMMModel.validate_config(HMMConfig(**{key: value}), "model")
