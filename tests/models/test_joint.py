import itertools

import numpy as np
import pytest
from hmmlearn.hmm import CategoricalHMM

from neshmm.errors import ConfigError, DataError
from neshmm.models.joint import JointModel, restart_seeds
from neshmm.models.multistream_hmm import MultiStreamCategoricalHMM
from helpers import patterned_ids, random_ids

N_SYMBOLS = (5, 4, 6, 3)


def tiny_hmm(k=3, n_features=(3, 2, 4, 2), seed=0, implementation="scaling") -> MultiStreamCategoricalHMM:
    rng = np.random.default_rng(seed)
    hmm = MultiStreamCategoricalHMM(n_components=k, n_features=n_features, implementation=implementation)
    hmm.startprob_ = rng.dirichlet(np.ones(k))
    hmm.transmat_ = rng.dirichlet(np.ones(k), size=k)
    hmm.emissionprob_ = tuple(rng.dirichlet(np.ones(n), size=k) for n in n_features)
    return hmm


def brute_force(hmm, X):
    """p(X), posteriors, expected transition counts and per-stream emission counts, by
    summing over every state path."""
    k, t = hmm.n_components, len(X)
    total, gamma, xi = 0.0, np.zeros((t, k)), np.zeros((k, k))
    for path in itertools.product(range(k), repeat=t):
        p = hmm.startprob_[path[0]]
        for i in range(1, t):
            p *= hmm.transmat_[path[i - 1], path[i]]
        for i in range(t):
            for s, e in enumerate(hmm.emissionprob_):
                p *= e[path[i], X[i, s]]
        total += p
        for i in range(t):
            gamma[i, path[i]] += p
        for i in range(1, t):
            xi[path[i - 1], path[i]] += p
    gamma /= total
    xi /= total
    obs = [np.zeros_like(e) for e in hmm.emissionprob_]
    for s in range(X.shape[1]):
        for i in range(t):
            obs[s][:, X[i, s]] += gamma[i]
    return np.log(total), gamma, xi, obs


@pytest.mark.parametrize("implementation", ["scaling", "log"])
@pytest.mark.parametrize("k", [2, 3])
def test_estep_matches_enumeration_over_state_paths(implementation, k):
    hmm = tiny_hmm(k=k, implementation=implementation, seed=k)
    X = random_ids(np.random.default_rng(1), hmm.n_features, 4)
    logp, gamma, xi, obs = brute_force(hmm, X)
    assert hmm.score(X) == pytest.approx(logp, rel=1e-12)
    np.testing.assert_allclose(hmm.predict_proba(X), gamma, rtol=1e-10)
    stats, curr = hmm._do_estep(X, np.array([4]))
    assert curr == pytest.approx(logp, rel=1e-12)
    np.testing.assert_allclose(stats["start"], gamma[0], rtol=1e-10)
    np.testing.assert_allclose(stats["trans"], xi, rtol=1e-10)
    for got, want in zip(stats["obs"], obs):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-15)


def test_mstep_counts_on_a_hand_computed_case():
    hmm = MultiStreamCategoricalHMM(n_components=2, n_features=(3, 2), emission_prior=0.5, params="e")
    X = np.array([[0, 1], [2, 1], [2, 0]])
    post = np.array([[1.0, 0.0], [0.25, 0.75], [0.5, 0.5]])
    stats = hmm._initialize_sufficient_statistics()
    hmm._accumulate_sufficient_statistics(stats, X, None, post, None, None)
    np.testing.assert_allclose(stats["obs"][0], [[1.0, 0.0, 0.75], [0.0, 0.0, 1.25]])
    np.testing.assert_allclose(stats["obs"][1], [[0.5, 1.25], [0.5, 0.75]])
    hmm._do_mstep(stats)
    # (counts + 0.5) / row sum: state 0 stream 0 is (1.5, 0.5, 1.25) / 3.25.
    np.testing.assert_allclose(hmm.emissionprob_[0], [[1.5 / 3.25, 0.5 / 3.25, 1.25 / 3.25], [0.5 / 2.75, 0.5 / 2.75, 1.75 / 2.75]])
    np.testing.assert_allclose(hmm.emissionprob_[1], [[1.0 / 2.75, 1.75 / 2.75], [1.0 / 2.25, 1.25 / 2.25]])


def test_one_stream_fit_equals_hmmlearn_categorical_hmm():
    # With one stream and a negligible prior the multi-stream model is CategoricalHMM:
    # same start, same E-step, same M-step, hence the same parameters after EM.
    X = patterned_ids((6,), [30, 40, 25], seed=3)[:, :1]
    ref = tiny_hmm(k=3, n_features=(6,), seed=5)
    ours = MultiStreamCategoricalHMM(n_components=3, n_features=(6,), emission_prior=1e-300, n_iter=5, tol=-1, init_params="")
    theirs = CategoricalHMM(n_components=3, n_features=6, n_iter=5, tol=-1, init_params="")
    for m in (ours, theirs):
        m.startprob_, m.transmat_ = ref.startprob_.copy(), ref.transmat_.copy()
    ours.emissionprob_ = (ref.emissionprob_[0].copy(),)
    theirs.emissionprob_ = ref.emissionprob_[0].copy()
    ours.fit(X, [30, 40, 25])
    theirs.fit(X, [30, 40, 25])
    np.testing.assert_allclose(ours.transmat_, theirs.transmat_, rtol=1e-9)
    np.testing.assert_allclose(ours.emissionprob_[0], theirs.emissionprob_, rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(ours.monitor_.history, theirs.monitor_.history, rtol=1e-12)


def test_hmmlearn_sample_uses_the_stream_emissions():
    hmm = tiny_hmm()
    X, states = hmm.sample(200, random_state=0)
    assert X.shape == (200, 4) and states.shape == (200,)
    assert all((X[:, s] < n).all() and (X[:, s] >= 0).all() for s, n in enumerate(hmm.n_features))
    # A state that never emits a symbol never shows it.
    hmm.emissionprob_[1][:, 1] = 0.0
    hmm.emissionprob_[1][:, 0] = 1.0
    assert (hmm.sample(50, random_state=1)[0][:, 1] == 0).all()


LENGTHS = [40, 60, 50, 30]


def fitted(**kw) -> JointModel:
    params = dict(n_components=3, n_iter=15, seed=4, frame_beats=0.125)
    params.update(kw)
    return JointModel(N_SYMBOLS, **params).fit(patterned_ids(N_SYMBOLS, LENGTHS), LENGTHS)


def test_fit_info_and_no_zero_emission_after_fitting():
    m = fitted(emission_prior=0.01)
    # id 0 (<unk>) and the last id of each voice never occur in training.
    for e in m.emissionprob_:
        assert e.min() > 0
        np.testing.assert_allclose(e.sum(axis=1), 1)
    info = m.fit_info
    assert info["n_frames"] == sum(LENGTHS) and info["n_sequences"] == 4
    assert len(info["history"]) == info["n_iter"] and info["train_loglik"] == info["history"][-1]
    assert info["converged"] == (info["n_iter"] < 15 or info["history"][-1] - info["history"][-2] < m.tol)
    unseen = np.array([[0, 0, 0, 0], [4, 3, 5, 2]])
    assert np.isfinite(m.log_likelihood(unseen, [2]))
    assert m.log_likelihood(unseen, [2], unk_smoothing=0.5) > m.log_likelihood(unseen, [2])


def test_log_likelihood_is_the_sum_over_sequences():
    m = fitted()
    X = patterned_ids(N_SYMBOLS, [10, 20], seed=9)
    whole = m.log_likelihood(X, [10, 20])
    assert whole == pytest.approx(m.log_likelihood(X[:10], [10]) + m.log_likelihood(X[10:], [20]), rel=1e-12)
    assert whole < 0


def test_sampling_all_voices_same_length_and_deterministic():
    m = fitted()
    a = m.sample(np.random.default_rng(7), beats=8)
    b = m.sample(np.random.default_rng(7), beats=8)
    c = m.sample(np.random.default_rng(8), beats=8)
    assert a.shape == (64, 4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert (a > 0).all()  # <unk> never drawn
    assert all((a[:, s] < n).all() for s, n in enumerate(N_SYMBOLS))
    assert m.sample(np.random.default_rng(0), beats=0.125).shape == (1, 4)
    with pytest.raises(ConfigError, match="multiple of frame_beats"):
        m.sample(np.random.default_rng(0), beats=1.01)


def test_save_load_round_trip(tmp_path):
    m = fitted()
    m.save(tmp_path / "a.npz", vocab={"note": "kept"})
    back, meta = JointModel.load(tmp_path / "a.npz")
    assert meta["vocab"] == {"note": "kept"} and meta["model"] == "joint"
    assert back.config_dict() == m.config_dict() and back.n_symbols == m.n_symbols
    np.testing.assert_array_equal(back.transmat_, m.transmat_)
    for x, y in zip(back.emissionprob_, m.emissionprob_):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(back.sample(np.random.default_rng(3), 4), m.sample(np.random.default_rng(3), 4))
    assert back.fit_info == m.fit_info
    back.save(tmp_path / "b.npz", vocab={"note": "kept"})
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    np.savez(tmp_path / "c.npz", meta_json=np.frombuffer(b'{"model": "hmm"}', dtype=np.uint8))
    with pytest.raises(DataError, match="not a joint one"):
        JointModel.load(tmp_path / "c.npz")
    (tmp_path / "d.npz").write_bytes(b"junk")
    with pytest.raises(DataError):
        JointModel.load(tmp_path / "d.npz")


def test_same_seed_same_bytes(tmp_path):
    fitted(n_init=2).save(tmp_path / "a.npz")
    fitted(n_init=2).save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_restarts_keep_the_best_and_are_seeded_from_seed():
    assert restart_seeds(4, 3)[:1] == restart_seeds(4, 1)
    assert len(set(restart_seeds(4, 3))) == 3
    best = fitted(n_init=3)
    X = patterned_ids(N_SYMBOLS, LENGTHS)
    singles = []
    for s in restart_seeds(4, 3):
        *_, monitor = best._fit_one(X, np.array(LENGTHS), s)
        singles.append(monitor.history[-1])
    assert [r["train_loglik"] for r in best.fit_info["restarts"]] == singles
    assert len(set(singles)) > 1  # the restarts really differ
    assert all(best.fit_info["train_loglik"] >= s for s in singles)
    assert best.fit_info["train_loglik"] == max(singles)
    assert fitted(n_init=1).fit_info["train_loglik"] == singles[0]


def test_unfitted_model_says_so_in_one_line():
    m = JointModel(N_SYMBOLS)
    for call in (lambda: m.sample(np.random.default_rng(0), 4), lambda: m.log_likelihood(np.ones((2, 4), int), [2]), lambda: m.save("x.npz")):
        with pytest.raises(DataError, match="not fitted") as exc:
            call()
        assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    "kw, key",
    [({"emission_prior": 0}, "emission_prior"), ({"n_components": 0}, "n_components"), ({"n_init": 1.5}, "n_init"),
     ({"frame_beats": 0}, "frame_beats"), ({"implementation": "fast"}, "implementation"), ({"tol": -1}, "tol")],
)
def test_bad_hyperparameters_are_config_errors(kw, key):
    with pytest.raises(ConfigError, match=key):
        JointModel(N_SYMBOLS, **kw).fit(patterned_ids(N_SYMBOLS, [10]), [10])


def test_bad_frames_are_data_errors():
    m = JointModel(N_SYMBOLS, n_iter=2)
    with pytest.raises(DataError, match="shape"):
        m.fit(np.zeros((10, 3), dtype=int), [10])
    with pytest.raises(DataError, match="lengths"):
        m.fit(np.zeros((10, 4), dtype=int), [9])
    with pytest.raises(DataError, match="ids of voice"):
        m.fit(np.full((10, 4), 5), [10])


def test_from_config_takes_mappings_and_objects():
    from types import SimpleNamespace

    a = JointModel.from_config({"n_components": 5, "frame_beats": 0.25}, N_SYMBOLS)
    b = JointModel.from_config(SimpleNamespace(n_components=5, frame_beats=0.25, name="joint"), N_SYMBOLS)
    assert a.config_dict() == b.config_dict()
    assert a.n_components == 5 and a.frame_beats == 0.25 and a.n_init == 1


@pytest.mark.parametrize("break_it, what", [
    (lambda m: setattr(m, "transmat_", m.transmat_ * 0.5), "transmat_ must be non-negative and sum to 1"),
    (lambda m: setattr(m, "startprob_", m.startprob_[:-1] / m.startprob_[:-1].sum()), "startprob_ must have shape"),
    (lambda m: setattr(m, "emissionprob_", m.emissionprob_[:2] + (m.emissionprob_[2][:, :-1],) + m.emissionprob_[3:]),
     "emissionprob_tr_ must have shape"),
])
def test_load_refuses_parameters_hmmlearn_would_refuse(tmp_path, break_it, what):
    m = fitted()
    break_it(m)
    m.save(tmp_path / "bad.npz")
    with pytest.raises(DataError, match=f"bad.npz: not a usable joint model file .*{what}"):
        JointModel.load(tmp_path / "bad.npz")
