"""The compiled E-step (neshmm/models/estep.py) computes what hmmlearn's stock E-step does.

Also guards the hmmlearn adapter (neshmm/models/hmmlearn_estep.py): if an hmmlearn upgrade
changes the private hooks it overrides, the comparisons with stock hmmlearn here fail.
Speed is measured by ``python -m benchmarks.scaling``, never here.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hmmlearn.base import BaseHMM
from hmmlearn.hmm import CategoricalHMM

from neshmm.models import estep
from neshmm.models.hmmlearn_categorical import BatchedCategoricalHMM
from neshmm.models.hmmlearn_estep import KernelEStepMixin
from tests.helpers import real_shaped_tokens, record_estep_logprob

logging.getLogger("hmmlearn").setLevel(logging.ERROR)

V = 300
N_ITER = 4


@pytest.fixture(scope="module")
def tokens():
    """~5k tokens in 120 sequences of uneven length (several of length 1), 300 symbols."""
    return real_shaped_tokens(seed=5, n_sequences=120, n_symbols=V, mean_length=25.0)


def fit(cls, K, X, lengths, implementation="scaling", workers=1, n_iter=N_ITER, params="ste"):
    model = cls(n_components=K, n_features=V, n_iter=n_iter, tol=-np.inf, random_state=11,
                implementation=implementation, params=params, init_params="ste")
    model.n_workers = workers
    history = record_estep_logprob(model)
    model.fit(X.reshape(-1, 1), lengths)
    return model, np.array(history)


@pytest.mark.parametrize("K", [1, 3, 16, 64])
@pytest.mark.parametrize("stock_impl", ["scaling", "log"])
def test_loglik_per_iteration_and_fit_match_stock_hmmlearn(tokens, K, stock_impl):
    ids, lengths = tokens
    assert lengths.min() == 1 and len(ids) > 3000
    stock, stock_history = fit(CategoricalHMM, K, ids, lengths, stock_impl)
    ours, our_history = fit(BatchedCategoricalHMM, K, ids, lengths, "scaling")
    assert len(our_history) == len(stock_history) == N_ITER
    assert np.isfinite(our_history).all()
    np.testing.assert_allclose(our_history, stock_history, rtol=1e-9, atol=0)
    for attr in ("startprob_", "transmat_", "emissionprob_"):
        np.testing.assert_allclose(getattr(ours, attr), getattr(stock, attr), rtol=0, atol=1e-9, err_msg=attr)


def test_fit_respects_params_subset(tokens):
    """Parameters left out of ``params`` are not re-estimated, as in hmmlearn."""
    ids, lengths = tokens
    stock, stock_history = fit(CategoricalHMM, 5, ids, lengths, params="t")
    ours, our_history = fit(BatchedCategoricalHMM, 5, ids, lengths, params="t")
    np.testing.assert_allclose(our_history, stock_history, rtol=1e-9)
    np.testing.assert_array_equal(ours.emissionprob_, stock.emissionprob_)
    np.testing.assert_array_equal(ours.startprob_, stock.startprob_)
    np.testing.assert_allclose(ours.transmat_, stock.transmat_, atol=1e-9)


@pytest.mark.parametrize("K", [3, 16])
def test_bit_identical_for_any_thread_count(tokens, monkeypatch, K):
    monkeypatch.setattr(estep, "CHUNK_TOKENS", 200)  # ~25 chunks, so both threads get work
    ids, lengths = tokens
    one, one_history = fit(BatchedCategoricalHMM, K, ids, lengths, workers=1)
    two, two_history = fit(BatchedCategoricalHMM, K, ids, lengths, workers=2)
    assert one_history.tobytes() == two_history.tobytes()
    for attr in ("startprob_", "transmat_", "emissionprob_"):
        assert getattr(one, attr).tobytes() == getattr(two, attr).tobytes(), attr


def test_chunking_changes_only_the_summation_order(tokens):
    ids, lengths = tokens
    model = CategoricalHMM(n_components=8, n_features=V, random_state=2)
    model._init(ids.reshape(-1, 1), lengths)
    args = (ids, lengths, model.startprob_, model.transmat_, model.emissionprob_)
    whole = estep.categorical_estep(*args, chunk_tokens=10**9)
    small = estep.categorical_estep(*args, chunk_tokens=1)
    assert small.log_likelihood == pytest.approx(whole.log_likelihood, rel=1e-13)
    for a, b in zip(small[1:], whole[1:]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------
# The generic frame-probability API, and the adapter other emission models use


class FrameHMM(BaseHMM):
    """A stock hmmlearn HMM whose observations are row numbers into a fixed frameprob table.

    Stands in for any emission model: the E-step only ever sees ``_compute_likelihood``.
    """

    frameprob_: np.ndarray

    def _compute_likelihood(self, X):
        return self.frameprob_[X[:, 0]]

    def _compute_log_likelihood(self, X):
        return np.log(self._compute_likelihood(X))


class KernelFrameHMM(KernelEStepMixin, FrameHMM):
    def _accumulate_emission_statistics(self, stats, X, posteriors):
        stats["posteriors"] = posteriors


def frame_model(cls, K, seed, implementation="scaling"):
    rng = np.random.default_rng(seed)
    model = cls(n_components=K, implementation=implementation, params="st")
    model.startprob_ = rng.dirichlet(np.ones(K))
    model.transmat_ = rng.dirichlet(np.ones(K) * 0.3, size=K)
    return model


@pytest.fixture(scope="module")
def frames(tokens):
    """Unnormalised frame probabilities over 12 orders of magnitude, like density values."""
    _, lengths = tokens
    rng = np.random.default_rng(9)
    T = int(lengths.sum())
    return rng.random((T, 7)) * 10.0 ** rng.uniform(-6, 6, (T, 1)), lengths


@pytest.mark.parametrize("stock_impl", ["scaling", "log"])
def test_generic_estep_matches_stock_do_estep(frames, stock_impl):
    frameprob, lengths = frames
    X = np.arange(len(frameprob)).reshape(-1, 1)
    stock = frame_model(FrameHMM, 7, 1, stock_impl)
    stock.frameprob_ = frameprob
    ref, ref_logprob = stock._do_estep(X, lengths)
    _, ref_posteriors = stock.score_samples(X, lengths)
    ours = estep.estep(frameprob, lengths, stock.startprob_, stock.transmat_, n_threads=1)
    assert ours.log_likelihood == pytest.approx(ref_logprob, rel=1e-12)
    assert ours.n_sequences == ref["nobs"] == len(lengths)
    np.testing.assert_allclose(ours.start, ref["start"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.trans, ref["trans"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.emission, ref_posteriors, rtol=1e-9, atol=1e-12)


def test_adapter_matches_stock_do_estep(frames):
    """KernelEStepMixin on a stock BaseHMM subclass: same stats dict, same log-likelihood."""
    frameprob, lengths = frames
    X = np.arange(len(frameprob)).reshape(-1, 1)
    stock, ours = frame_model(FrameHMM, 7, 3), frame_model(KernelFrameHMM, 7, 3)
    stock.frameprob_ = ours.frameprob_ = frameprob
    ref, ref_logprob = stock._do_estep(X, lengths)
    stats, logprob = ours._do_estep(X, lengths)
    assert logprob == pytest.approx(ref_logprob, rel=1e-12)
    assert set(stats) == set(ref) | {"posteriors"}
    assert stats["nobs"] == ref["nobs"]
    for key in ("start", "trans"):
        np.testing.assert_allclose(stats[key], ref[key], rtol=1e-9, atol=1e-12, err_msg=key)
    np.testing.assert_allclose(stats["posteriors"], stock.predict_proba(X, lengths), rtol=1e-9, atol=1e-12)


def test_adapter_without_emission_hook_says_what_is_missing(frames):
    frameprob, lengths = frames

    class Incomplete(KernelEStepMixin, FrameHMM):
        pass

    model = frame_model(Incomplete, 7, 4)
    model.frameprob_ = frameprob
    with pytest.raises(NotImplementedError, match="_accumulate_emission_statistics"):
        model._do_estep(np.arange(len(frameprob)).reshape(-1, 1), lengths)


def test_underflow_is_reported_like_hmmlearn(frames):
    frameprob, lengths = frames
    frameprob = frameprob.copy()
    seq = int(np.flatnonzero(lengths[5:] >= 2)[0]) + 5
    frameprob[int(lengths[:seq].sum()) + 1] = 0.0  # its second token is impossible
    model = frame_model(FrameHMM, 7, 5)
    with pytest.raises(ValueError, match="underflow"):
        estep.estep(frameprob, lengths, model.startprob_, model.transmat_)
    with pytest.raises(estep.UnderflowError, match=f"sequence {seq}"):
        estep.estep(frameprob, lengths, model.startprob_, model.transmat_)


def test_lengths_must_cover_the_frames(frames):
    frameprob, lengths = frames
    model = frame_model(FrameHMM, 7, 6)
    with pytest.raises(ValueError, match="sum to the number of frames"):
        estep.estep(frameprob, lengths[:-1], model.startprob_, model.transmat_)


def test_multistream_estep_matches_the_generic_path_and_stock_hmmlearn(tokens):
    """The multi-stream fast path (joint model) gives the statistics of the generic E-step
    on the product of the streams' frame probabilities, and hmmlearn's log-likelihood."""
    ids, lengths = tokens
    rng = np.random.default_rng(3)
    sizes = (V, 40, 7, 1)  # a one-symbol stream too
    X = np.column_stack([ids % V, rng.integers(0, 40, len(ids)), rng.integers(0, 7, len(ids)), np.zeros(len(ids), int)])
    K = 6
    startprob = rng.dirichlet(np.ones(K))
    transmat = rng.dirichlet(np.ones(K), size=K)
    emissions = [rng.dirichlet(np.ones(n), size=K) for n in sizes]
    frameprob = emissions[0][:, X[:, 0]].T.copy()
    for s in range(1, len(sizes)):
        frameprob *= emissions[s][:, X[:, s]].T
    generic = estep.estep(frameprob, lengths, startprob, transmat, n_threads=1)
    ours = estep.multistream_estep(X, lengths, startprob, transmat, emissions, n_threads=2, chunk_tokens=500)
    assert ours.log_likelihood == pytest.approx(generic.log_likelihood, rel=1e-12)
    assert ours.n_sequences == generic.n_sequences == len(lengths)
    np.testing.assert_allclose(ours.start, generic.start, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(ours.trans, generic.trans, rtol=1e-10, atol=1e-13)
    for s, n in enumerate(sizes):
        expected = np.zeros((K, n))
        np.add.at(expected.T, X[:, s], generic.emission)
        np.testing.assert_allclose(ours.emission[s], expected, rtol=1e-10, atol=1e-12, err_msg=f"stream {s}")
    stock = FrameHMM(n_components=K, implementation="scaling")
    stock.startprob_, stock.transmat_, stock.frameprob_ = startprob, transmat, frameprob
    _, ref_logprob = stock._do_estep(np.arange(len(X)).reshape(-1, 1), lengths)
    assert ours.log_likelihood == pytest.approx(ref_logprob, rel=1e-12)
    again = estep.multistream_estep(X, lengths, startprob, transmat, emissions, n_threads=1, chunk_tokens=500)
    assert again.log_likelihood == ours.log_likelihood  # bit-identical for any thread count
    for a, b in zip(again.emission, ours.emission):
        assert np.array_equal(a, b)


def test_multistream_estep_refuses_ids_out_of_range(tokens):
    ids, lengths = tokens
    X = np.column_stack([ids % V, np.full(len(ids), 5)])
    emissions = [np.full((2, V), 1.0 / V), np.full((2, 5), 0.2)]
    with pytest.raises(ValueError, match="stream"):
        estep.multistream_estep(X, lengths, np.full(2, 0.5), np.full((2, 2), 0.5), emissions)
