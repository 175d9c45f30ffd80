"""Fast implementations agree with the reference ones they replace.

- HMM: hmmlearn's 'log' and 'scaling' implementations, and our compiled scaling E-step
  (:class:`neshmm.models.hmmlearn_categorical.BatchedCategoricalHMM`) against hmmlearn's
  own (the kernel itself is tested in more depth in tests/models/test_estep.py);
- metrics: the one-pass corpus histograms and the KDE used by MGEval against the
  per-file loops and ``scipy.stats.gaussian_kde`` they replaced.

Speed is measured by ``python -m benchmarks.pipeline``, never here; these tests only pin
down that the faster paths compute the same numbers.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
from hmmlearn.hmm import CategoricalHMM

from neshmm.evaluation import metrics
from neshmm.models import estep
from neshmm.models.hmm import HMMModel
from neshmm.models.hmmlearn_categorical import BatchedCategoricalHMM

logging.getLogger("hmmlearn").setLevel(logging.ERROR)

K, V = 5, 23


def true_model(seed: int = 0) -> CategoricalHMM:
    rng = np.random.default_rng(seed)
    m = CategoricalHMM(n_components=K, n_features=V)
    m.startprob_ = rng.dirichlet(np.ones(K))
    m.transmat_ = rng.dirichlet(np.ones(K) * 0.5, size=K)
    m.emissionprob_ = rng.dirichlet(np.ones(V) * 0.3, size=K)
    return m


@pytest.fixture(scope="module")
def data():
    """Sequences of very different lengths, including length 1 and 2."""
    m = true_model()
    lengths = np.array([1, 2, 3, 50, 400, 7, 1, 1200, 90, 33, 2, 640])
    seqs = [m.sample(n, random_state=i)[0] for i, n in enumerate(lengths)]
    return np.concatenate(seqs).astype(np.int64), lengths


def stock(implementation: str, n_iter: int = 1, **kw) -> CategoricalHMM:
    return CategoricalHMM(
        n_components=K, n_features=V, n_iter=n_iter, tol=-np.inf, random_state=17,
        implementation=implementation, **kw,
    )


def batched(n_iter: int = 1, workers: int = 1, **kw) -> BatchedCategoricalHMM:
    m = BatchedCategoricalHMM(
        n_components=K, n_features=V, n_iter=n_iter, tol=-np.inf, random_state=17,
        implementation="scaling", **kw,
    )
    m.n_workers = workers
    return m


def initialised(model, X, lengths):
    model._init(X, lengths)
    model._check()
    return model


# ---------------------------------------------------------------------------------------
# hmmlearn 'log' vs 'scaling'


def test_log_and_scaling_give_the_same_log_likelihood(data):
    X, lengths = data
    m = true_model(1)
    scores = {}
    for impl in ("log", "scaling"):
        s = stock(impl)
        s.startprob_, s.transmat_, s.emissionprob_ = m.startprob_, m.transmat_, m.emissionprob_
        scores[impl] = s.score(X, lengths)
    assert np.isfinite(scores["log"])
    assert scores["scaling"] == pytest.approx(scores["log"], rel=1e-10)


def test_log_and_scaling_fits_follow_the_same_path(data):
    X, lengths = data
    log = stock("log", n_iter=8).fit(X, lengths)
    scaling = stock("scaling", n_iter=8).fit(X, lengths)
    np.testing.assert_allclose(scaling.monitor_.history, log.monitor_.history, rtol=1e-9)
    np.testing.assert_allclose(scaling.emissionprob_, log.emissionprob_, atol=1e-9)
    np.testing.assert_allclose(scaling.transmat_, log.transmat_, atol=1e-9)


def test_hmm_model_scores_alike_with_either_implementation(data):
    X, lengths = data
    model = HMMModel(V, n_components=K, n_iter=5, seed=3).fit(X, lengths)
    log = model.scorer(1e-6, implementation="log").score(X.reshape(-1, 1), lengths)
    assert model.log_likelihood(X, lengths, 1e-6) == pytest.approx(log, rel=1e-10)


# ---------------------------------------------------------------------------------------
# Our batched scaling E-step vs hmmlearn's


@pytest.mark.parametrize("chunk_tokens", [1, 100, 10**6])
def test_batched_estep_matches_hmmlearn(data, monkeypatch, chunk_tokens):
    monkeypatch.setattr(estep, "CHUNK_TOKENS", chunk_tokens)
    X, lengths = data
    X2 = X.reshape(-1, 1)
    ref = initialised(stock("scaling"), X2, lengths)
    ours = initialised(batched(), X2, lengths)
    ref_stats, ref_lp = ref._do_estep(X2, lengths)
    stats, lp = ours._do_estep(X2, lengths)
    assert lp == pytest.approx(ref_lp, rel=1e-12)  # same recursion, sums in another order
    assert stats["nobs"] == ref_stats["nobs"] == len(lengths)
    for key in ("start", "trans", "obs"):
        np.testing.assert_allclose(stats[key], ref_stats[key], rtol=1e-11, atol=1e-12, err_msg=key)


def test_batched_fit_matches_hmmlearn(data):
    X, lengths = data
    X2 = X.reshape(-1, 1)
    ref = stock("scaling", n_iter=15).fit(X2, lengths)
    ours = batched(n_iter=15).fit(X2, lengths)
    np.testing.assert_allclose(ours.monitor_.history, ref.monitor_.history, rtol=1e-10)
    for attr in ("startprob_", "transmat_", "emissionprob_"):
        np.testing.assert_allclose(getattr(ours, attr), getattr(ref, attr), atol=1e-9, err_msg=attr)


def test_batched_fit_respects_params_subset(data):
    """Parameters left out of ``params`` are not re-estimated, as in hmmlearn."""
    X, lengths = data
    X2 = X.reshape(-1, 1)
    ref = stock("scaling", n_iter=4, params="st").fit(X2, lengths)
    ours = batched(n_iter=4, params="st").fit(X2, lengths)
    np.testing.assert_allclose(ours.emissionprob_, ref.emissionprob_, atol=1e-12)
    np.testing.assert_allclose(ours.transmat_, ref.transmat_, atol=1e-9)


def test_batched_result_does_not_depend_on_threads(data, monkeypatch):
    monkeypatch.setattr(estep, "CHUNK_TOKENS", 64)  # many chunks, so the threads share them
    X, lengths = data
    X2 = X.reshape(-1, 1)
    one = batched(n_iter=4, workers=1).fit(X2, lengths)
    two = batched(n_iter=4, workers=2).fit(X2, lengths)
    assert one.monitor_.history == two.monitor_.history
    for attr in ("startprob_", "transmat_", "emissionprob_"):
        assert np.array_equal(getattr(one, attr), getattr(two, attr)), attr


def test_log_implementation_is_hmmlearns_own(data):
    """With implementation='log' the subclass runs hmmlearn's stock E-step unchanged."""
    X, lengths = data
    X2 = X.reshape(-1, 1)
    ref = stock("log", n_iter=3).fit(X2, lengths)
    ours = BatchedCategoricalHMM(
        n_components=K, n_features=V, n_iter=3, tol=-np.inf, random_state=17, implementation="log"
    ).fit(X2, lengths)
    assert ours.monitor_.history == ref.monitor_.history
    assert np.array_equal(ours.emissionprob_, ref.emissionprob_)


def test_hmm_model_fit_is_the_same_for_any_n_jobs(data):
    X, lengths = data
    a, b = HMMModel(V, n_components=K, n_iter=5), HMMModel(V, n_components=K, n_iter=5)
    a.n_jobs, b.n_jobs = 1, 2
    a.fit(X, lengths)
    b.fit(X, lengths)
    assert a.fit_info == b.fit_info
    assert np.array_equal(a.emissionprob_, b.emissionprob_)
    assert "n_jobs" not in a.config_dict()  # not a model parameter, not saved


@pytest.mark.parametrize(
    "lengths,size,expected",
    [
        ([], 10, [0]),
        ([3, 3, 3], 100, [0, 3]),
        ([3, 3, 3], 3, [0, 1, 2, 3]),
        ([5, 1, 1, 9, 2], 6, [0, 2, 4, 5]),
    ],
)
def test_sequence_chunks_cover_every_sequence_in_order(lengths, size, expected):
    assert estep.sequence_chunks(np.array(lengths, dtype=np.int64), size).tolist() == expected


# ---------------------------------------------------------------------------------------
# Metrics fast paths


def random_corpus(seed: int, n_files: int = 40) -> list[np.ndarray]:
    """Token files with rests, silent (rest-only) files and empty files mixed in."""
    rng = np.random.default_rng(seed)
    files = []
    for i in range(n_files):
        n = int(rng.integers(0, 60)) if i % 7 else 0
        pitch = rng.integers(30, 90, n)
        velocity = rng.choice([0, 2, 4, 8], n)
        if i % 11 == 3:
            velocity[:] = 0
        pitch[velocity == 0] = 0
        files.append(np.stack([pitch, rng.integers(0, 9, n), velocity], axis=1).astype(np.int64))
    return files


def per_file_histograms(files: list[np.ndarray], n_bins: int) -> dict[str, np.ndarray]:
    """The straightforward per-file computation that metrics.feature_histograms replaces."""
    notes = [f[f[:, 2] > 0] for f in files]
    allnotes = np.concatenate(notes) if notes else np.zeros((0, 3), dtype=np.int64)
    intervals = [np.clip(np.diff(n[:, 0]), -metrics.MAX_INTERVAL, metrics.MAX_INTERVAL) for n in notes]
    intervals = np.concatenate(intervals) if intervals else np.zeros(0, dtype=np.int64)
    n_tokens = sum(len(f) for f in files)
    return {
        "pitch": np.bincount(allnotes[:, 0], minlength=128),
        "duration": np.bincount(allnotes[:, 1], minlength=n_bins),
        "velocity": np.bincount(allnotes[:, 2], minlength=128),
        "pitch_class": np.bincount(allnotes[:, 0] % 12, minlength=12),
        "interval": np.bincount(intervals + metrics.MAX_INTERVAL, minlength=metrics.N_INTERVALS),
        "rest_ratio": np.array([len(allnotes), n_tokens - len(allnotes)]),
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_pass_histograms_equal_per_file_loops(seed):
    files = random_corpus(seed)
    fast = metrics.feature_histograms(files, 9)
    slow = per_file_histograms(files, 9)
    assert fast.keys() == slow.keys()
    for key in fast:
        assert np.array_equal(fast[key], slow[key]), key
    assert np.array_equal(metrics.feature_histograms([], 9)["interval"], np.zeros(metrics.N_INTERVALS))


def test_kl_all_with_precomputed_reference_is_the_same():
    ref, gen = random_corpus(3), random_corpus(4, 5)
    hist = metrics.feature_histograms(ref, 9)
    assert metrics.kl_all(ref, gen, 9, 1e-8, hist) == metrics.kl_all(ref, gen, 9, 1e-8)


@pytest.mark.parametrize(
    "sample",
    [
        np.random.default_rng(0).gamma(2.0, size=3000),  # continuous
        np.random.default_rng(1).integers(0, 25, 2000).astype(float),  # many repeats
        np.array([1.0, 2.0, 2.0, 7.5]),
    ],
)
def test_kde_logpdf_matches_scipy(sample):
    from scipy.stats import gaussian_kde

    kde = gaussian_kde(sample)
    h = float(np.sqrt(kde.covariance[0, 0]))
    x = np.linspace(sample.min() - 30 * h, sample.max() + 30 * h, 3001)  # deep tails too
    np.testing.assert_allclose(metrics._kde_logpdf(x, sample, h), kde.logpdf(x), rtol=1e-11, atol=1e-10)


def test_mgeval_does_not_depend_on_thread_count(monkeypatch):
    ref, gen = random_corpus(5, 60), random_corpus(6, 8)
    bins = [0.25, 0.5, 0.75, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    monkeypatch.setattr(metrics.os, "cpu_count", lambda: 1)
    one = metrics.mgeval(ref, gen, bins, seed=3, max_pairs=500)
    monkeypatch.setattr(metrics.os, "cpu_count", lambda: 4)
    four = metrics.mgeval(ref, gen, bins, seed=3, max_pairs=500)
    assert one == four or all(
        (np.isnan(one[k]) and np.isnan(four[k])) or one[k] == four[k] for k in one
    )


def test_tiny_unknown_probability_scores_in_log_space_instead_of_failing():
    """hmmlearn's scaling pass raises "underflow" for unknown tokens costing ~1e-300; the
    model falls back to the log-space pass, which gives the same number where both work."""
    rng = np.random.default_rng(0)
    model = HMMModel(6000, n_components=4, n_iter=3).fit(rng.integers(1, 6, 200), np.array([100, 100]))
    held = np.concatenate([rng.integers(1, 6, 50), np.zeros(20, np.int64), np.arange(100, 150)])
    lengths = np.array([len(held)])
    with pytest.raises(ValueError, match="underflow"):
        model.scorer(1e-300).score(held.reshape(-1, 1), lengths)
    tiny = model.log_likelihood(held, lengths, 1e-300)
    assert np.isfinite(tiny)
    ok = 1e-250
    assert model.log_likelihood(held, lengths, ok) == pytest.approx(
        float(model.scorer(ok, "log").score(held.reshape(-1, 1), lengths)), rel=1e-9)


def test_memory_estimate_grows_like_the_em_arrays_and_refuses_what_cannot_fit():
    """Counted, not timed: the estimate scales as K^2 for the transition statistics and as
    tokens x K for the E-step arrays (until a chunk is full), and the refusal names the need."""
    m = lambda k, v=100: HMMModel(v, n_components=k)  # noqa: E731
    small, big = m(1000).memory_bytes(20_000), m(2000).memory_bytes(20_000)
    assert 1.9 < big / small < 4.1
    assert m(10).memory_bytes(2 * estep.CHUNK_TOKENS) > 1.9 * m(10).memory_bytes(estep.CHUNK_TOKENS) / 2
    assert m(100_000, 2000).memory_bytes(10**6) > 74.5 * 2**30  # the case that died with MemoryError
    msg = m(100_000, 2000).memory_problem(10**6, "p1", available=16 * 2**30)
    assert msg.startswith("n_components=100000: fitting voice p1 (1000000 tokens, 2000 symbols) needs about ")
    k_max = int(msg.rsplit("<= ", 1)[1])
    assert m(k_max, 2000).memory_bytes(10**6, os.cpu_count() or 1) <= 16 * 2**30 and "\n" not in msg
    assert m(16).memory_problem(10**6, "p1", available=16 * 2**30) is None


def test_train_refuses_a_model_bigger_than_memory_in_one_line(tmp_path, monkeypatch):
    from neshmm.config import to_config
    from neshmm.errors import ConfigError
    from neshmm.pipeline import train

    monkeypatch.setattr(train, "available_memory", lambda: 2**20)  # a 1 MiB machine
    tokens = _token_dir(tmp_path)
    cfg = to_config({"model": {"name": "hmm", "n_components": 400}, "data": {"min_train_tokens": 1}})
    with pytest.raises(ConfigError) as e:
        train.run(cfg, "p1", "model", tokens, tmp_path / "m.npz", tmp_path / "log.json")
    assert str(e.value).startswith("model.n_components=400: fitting voice p1") and "GiB" in str(e.value)
    assert not (tmp_path / "m.npz").exists()


def _token_dir(tmp_path):
    """Tokens of a small demo corpus, made by the pipeline's own steps (scan, prepare, tokenize)."""
    from neshmm.config import to_config
    from neshmm.data.demo_corpus import generate_corpus
    from neshmm.data.manifest import scan
    from neshmm.pipeline import prepare, tokenize

    corpus = tmp_path / "corpus"
    generate_corpus(corpus, seed=0, n_train=6, n_valid=2, n_test=2)
    cfg = to_config({"data": {"path": str(corpus), "sample_fraction": 1.0}, "jobs": 1})
    manifest = scan(corpus, {"train": "train", "valid": "valid", "test": "test"}, stat_cache=None)
    prepare.run(cfg, manifest=manifest, out=tmp_path / "prepared", failed_report=tmp_path / "failed.json")
    tokenize.run(cfg, prepared=tmp_path / "prepared", out=tmp_path / "tokens")
    return tmp_path / "tokens"
