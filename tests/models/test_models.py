"""Both models on tiny data: fit, score by hand, sample within the vocabulary, save/load."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neshmm.models.hmm import HMMConfig
from neshmm.models.markov import MarkovConfig
from neshmm.models import build_model, load_model
from neshmm.models.hmm import HMMModel
from neshmm.models.markov import MarkovModel
from neshmm.models.base import read_model_file


def test_markov_counts_and_loglik_by_hand():
    # Symbols 1,2 (0 is <unk>); sequences [1,2,1] and [2,2].
    ids = np.array([1, 2, 1, 2, 2])
    lengths = np.array([3, 2])
    m = MarkovModel(3, alpha=1.0).fit(ids, lengths)
    # starts: 1 once, 2 once -> (0+1, 1+1, 1+1)/(2+3)
    assert m.startprob_.tolist() == pytest.approx([1 / 5, 2 / 5, 2 / 5])
    # transitions inside sequences: 1->2, 2->1, 2->2 (never across the boundary 1|2)
    assert m.transmat_[1].tolist() == pytest.approx([1 / 4, 1 / 4, 2 / 4])
    assert m.transmat_[2].tolist() == pytest.approx([1 / 5, 2 / 5, 2 / 5])
    pu = 0.1
    ll = m.log_likelihood(np.array([1, 2, 0]), np.array([3]), pu)
    # <unk> gets p_unk; known ids their probability given "known" (the chain's own <unk>
    # mass removed) times 1 - p_unk: start in 1 (2/5 of 4/5), 1->2 (2/4 of 3/4), 2-><unk>.
    expected = math.log(0.9 * (2 / 5) / (4 / 5)) + math.log(0.9 * (2 / 4) / (3 / 4)) + math.log(pu)
    assert ll == pytest.approx(expected, rel=1e-12)


def test_markov_sample_never_emits_unk_and_respects_beats():
    m = MarkovModel(4, alpha=1.0).fit(np.array([1, 2, 3, 1, 2, 3]), np.array([6]))
    beats = np.array([0.0, 1.0, 0.5, 2.0])
    ids = m.sample(np.random.default_rng(0), beats, 16.0)
    assert (ids != 0).all()
    assert beats[ids].sum() <= 16.0
    again = m.sample(np.random.default_rng(0), beats, 16.0)
    assert ids.tolist() == again.tolist()


def _toy_sequences(seed=0, n=20, length=30):
    """Two-regime data an HMM should find: low ids then high ids."""
    rng = np.random.default_rng(seed)
    seqs = []
    for _ in range(n):
        half = length // 2
        seqs.append(np.concatenate([rng.integers(1, 4, half), rng.integers(4, 7, length - half)]))
    return np.concatenate(seqs), np.full(n, length)


def test_hmm_fits_scores_and_beats_a_uniform_model():
    ids, lengths = _toy_sequences()
    m = HMMModel(7, n_components=2, n_iter=50, seed=1, emission_prior=1.0).fit(ids, lengths)
    assert m.fit_info["n_iter"] >= 1 and m.fit_info["n_tokens"] == len(ids)
    ll = m.log_likelihood(ids, lengths, 1e-6)
    uniform = len(ids) * math.log(1 / 6)
    assert ll > uniform + 0.1 * len(ids)
    # <unk> (id 0) was never trained and there is no prior (emission_prior=1): finite only
    # because of the documented smoothing.
    assert np.isfinite(m.log_likelihood(np.array([0, 1]), np.array([2]), 1e-6))
    assert m.emissionprob_[:, 0].max() < 1e-12


def test_hmm_is_deterministic_given_seed():
    ids, lengths = _toy_sequences()
    a = HMMModel(7, n_components=3, n_iter=10, seed=5).fit(ids, lengths)
    b = HMMModel(7, n_components=3, n_iter=10, seed=5).fit(ids, lengths)
    assert np.array_equal(a.transmat_, b.transmat_) and np.array_equal(a.emissionprob_, b.emissionprob_)


def test_save_load_round_trip_without_pickle(tmp_path):
    ids, lengths = _toy_sequences()
    for cfg in (HMMConfig(n_components=2, n_iter=5), MarkovConfig(alpha=0.5)):
        m = build_model(cfg, 7).fit(ids, lengths)
        path = tmp_path / f"{cfg.name}.npz"
        m.save(path, voice="p1", role="model")
        with np.load(path, allow_pickle=False) as z:  # would raise if anything were pickled
            assert "meta_json" in z.files
        meta, _ = read_model_file(path)
        assert meta["model"] == cfg.name and meta["voice"] == "p1"
        back = load_model(path)
        assert back.log_likelihood(ids, lengths, 1e-6) == pytest.approx(m.log_likelihood(ids, lengths, 1e-6))
        rng_a, rng_b = np.random.default_rng(2), np.random.default_rng(2)
        beats = np.ones(7)
        assert back.sample(rng_a, beats, 20).tolist() == m.sample(rng_b, beats, 20).tolist()


def test_hmm_sample_uses_only_vocabulary_ids():
    ids, lengths = _toy_sequences()
    m = HMMModel(7, n_components=2, n_iter=10).fit(ids, lengths)
    out = m.sample(np.random.default_rng(9), np.full(7, 0.5), 50.0)
    assert len(out) == 100 and out.min() >= 1 and out.max() <= 6
