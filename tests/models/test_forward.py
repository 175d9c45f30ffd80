"""neshmm.models.forward: hmmlearn's scaling forward pass, equal to the last bit (``==``).

The compiled pass replaced hmmlearn's ``score`` in the evaluate stage on the promise that
no printed number changes; these tests compare with ``==``, never approx, against
hmmlearn's own scoring of the same parameters: single-stream (the per-voice HMM) and
four-stream (the joint model), uneven sequence lengths with length 1 among them, and
sequences that underflow (hmmlearn raises there; the kernel must say so, and the models
must then fall back to the log-space pass as before).
"""

from __future__ import annotations

import numpy as np
import pytest
from hmmlearn.hmm import CategoricalHMM

from helpers import real_shaped_tokens
from neshmm.models.base import with_unknown
from neshmm.models.forward import forward_scaling
from neshmm.models.hmm import HMMModel
from neshmm.models.joint import JointModel
from neshmm.models.multistream_hmm import MultiStreamCategoricalHMM


def random_parameters(rng, k: int, v: int, concentration: float = 0.3):
    return (rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k), size=k),
            rng.dirichlet(np.ones(v) * concentration, size=k))


def hmmlearn_scores(start, trans, emission, ids, lengths) -> list[float | None]:
    """hmmlearn's scaling ``score`` per sequence; None where it raises for an underflow."""
    m = CategoricalHMM(n_components=len(start), n_features=emission.shape[1], implementation="scaling")
    m.startprob_, m.transmat_, m.emissionprob_ = start, trans, emission
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    out = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        try:
            out.append(m.score(ids[a:b].reshape(-1, 1)))
        except ValueError as exc:
            assert "underflow" in str(exc)
            out.append(None)
    return out


@pytest.mark.parametrize("k", [1, 2, 7, 16, 40])
def test_one_stream_equals_hmmlearn_for_uneven_lengths(k):
    rng = np.random.default_rng(k)
    v = 31
    start, trans, emission = random_parameters(rng, k, v)
    ids, lengths = real_shaped_tokens(k, 60, v)
    assert (lengths == 1).any()
    got, ok = forward_scaling(start, trans, emission, ids, lengths)
    want = hmmlearn_scores(start, trans, emission, ids, lengths)
    assert ok.all() and None not in want
    assert got.tolist() == want


def test_underflow_is_flagged_where_hmmlearn_raises():
    rng = np.random.default_rng(3)
    k, v = 4, 6
    start, trans, emission = random_parameters(rng, k, v)
    emission[:, 5] = 1e-305  # in every state: the row of such a token sums below 1e-300
    emission /= emission.sum(axis=1, keepdims=True)
    ids = np.array([0, 1, 5, 2, 2, 3, 1, 2, 0, 1, 5, 5, 5, 1], dtype=np.int64)
    lengths = np.array([4, 1, 4, 5])
    got, ok = forward_scaling(start, trans, emission, ids, lengths)
    want = hmmlearn_scores(start, trans, emission, ids, lengths)
    assert ok.tolist() == [w is not None for w in want] == [False, True, True, False]
    assert [g for g, good in zip(got.tolist(), ok) if good] == [w for w in want if w is not None]


def test_four_streams_equal_hmmlearn_multistream_score():
    rng = np.random.default_rng(11)
    k, vs = 9, (28, 28, 27, 17)
    start, trans = rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k), size=k)
    emissions = tuple(rng.dirichlet(np.ones(v) * 0.5, size=k) for v in vs)
    _, lengths = real_shaped_tokens(5, 25, 10, mean_length=200)
    frames = np.stack([rng.integers(0, v, int(lengths.sum())) for v in vs], axis=1)
    m = MultiStreamCategoricalHMM(n_components=k, n_features=vs, implementation="scaling")
    m.startprob_, m.transmat_, m.emissionprob_ = start, trans, emissions
    got, ok = forward_scaling(start, trans, emissions, frames, lengths)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    assert ok.all()
    assert got.tolist() == [m.score(frames[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def fitted_hmm(rng, k: int, v: int, implementation: str = "scaling") -> HMMModel:
    model = HMMModel(v, n_components=k, implementation=implementation)
    model.startprob_, model.transmat_, model.emissionprob_ = random_parameters(rng, k, v)
    return model


def test_hmm_model_scores_as_through_hmmlearn_with_the_underflow_fallback():
    """HMMModel.log_likelihood per sequence == the hmmlearn scorer path it replaced,
    including a sequence only the log-space pass can score."""
    rng = np.random.default_rng(5)
    model = fitted_hmm(rng, 6, 12)
    model.emissionprob_[:, 11] = 1e-305
    model.emissionprob_ /= model.emissionprob_.sum(axis=1, keepdims=True)
    ids, lengths = real_shaped_tokens(2, 40, 11)
    ids[5:8] = 11  # a run of near-impossible tokens in the first sequences
    p_unk = 0.01
    got = model.log_likelihood(ids, lengths, p_unk, per_sequence=True)
    want = hmmlearn_scores(model.startprob_, model.transmat_, with_unknown(model.emissionprob_, p_unk), ids, lengths)
    assert None in want  # the fallback is exercised
    log_scorer = model.scorer(p_unk, "log")
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    want = [w if w is not None else log_scorer.score(ids[a:b].reshape(-1, 1))
            for w, a, b in zip(want, bounds[:-1], bounds[1:])]
    assert got.tolist() == want


def test_log_implementation_still_scores_through_hmmlearn():
    rng = np.random.default_rng(8)
    model = fitted_hmm(rng, 3, 9, implementation="log")
    ids, lengths = real_shaped_tokens(4, 10, 9)
    got = model.log_likelihood(ids, lengths, 0.05, per_sequence=True)
    scorer = model.scorer(0.05)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    assert got.tolist() == [scorer.score(ids[a:b].reshape(-1, 1)) for a, b in zip(bounds[:-1], bounds[1:])]


def test_joint_model_total_equals_hmmlearn_score():
    """The total is hmmlearn's sum over sequences in order (not np.sum's pairwise order)."""
    rng = np.random.default_rng(21)
    vs = (20, 20, 15, 9)
    model = JointModel(vs, n_components=7)
    model.startprob_, model.transmat_ = rng.dirichlet(np.ones(7)), rng.dirichlet(np.ones(7), size=7)
    model.emissionprob_ = tuple(rng.dirichlet(np.ones(v) * 0.5, size=7) for v in vs)
    _, lengths = real_shaped_tokens(9, 30, 10, mean_length=150)
    frames = np.stack([rng.integers(0, v, int(lengths.sum())) for v in vs], axis=1)
    for smoothing in (0.0, 0.01):
        hmm = model._hmm()
        hmm.startprob_, hmm.transmat_ = model.startprob_, model.transmat_
        hmm.emissionprob_ = tuple((1 - smoothing) * e + smoothing / e.shape[1] for e in model.emissionprob_)
        assert model.log_likelihood(frames, lengths, smoothing) == float(hmm.score(frames, lengths))
