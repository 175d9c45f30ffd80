"""neshmm.models.em: EM without hmmlearn must be hmmlearn's EM (with the kernel E-step) bit for bit.

The pipeline's fits go through em.py; the hmmlearn models with the kernel E-step
(BatchedCategoricalHMM, MultiStreamCategoricalHMM) are the reference, and they in turn are
tested against stock hmmlearn in test_estep.py / test_joint.py.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT, patterned_ids, real_shaped_tokens, tool_env
from neshmm.models import em
from neshmm.models.hmm import HMMModel
from neshmm.models.hmmlearn_categorical import BatchedCategoricalHMM
from neshmm.models.joint import JointModel
from neshmm.models.multistream_hmm import MultiStreamCategoricalHMM

logging.getLogger("hmmlearn").setLevel(logging.ERROR)


@pytest.fixture(scope="module")
def tokens():
    return real_shaped_tokens(seed=3, n_sequences=90, n_symbols=200, mean_length=30.0)


def assert_same_bits(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, what
    assert a.tobytes() == b.tobytes(), f"{what}: max |diff| {np.abs(a - b).max()}"


@pytest.mark.parametrize("K", [1, 2, 5, 16])
@pytest.mark.parametrize("prior", [1.0, 1.01])
def test_categorical_fit_is_hmmlearns_bit_for_bit(tokens, K, prior):
    ids, lengths = tokens
    assert lengths.min() == 1
    ref = BatchedCategoricalHMM(n_components=K, n_features=200, n_iter=12, tol=0.0, random_state=7,
                                implementation="scaling", emissionprob_prior=prior)
    ref.n_workers = 2
    ref.fit(ids.reshape(-1, 1), lengths)
    monitor = em.ConvergenceMonitor(0.0, 12)
    start, trans, emission = em.fit_categorical(ids, lengths, K, 200, 7, prior, monitor, n_threads=2)
    assert_same_bits(start, ref.startprob_, "startprob")
    assert_same_bits(trans, ref.transmat_, "transmat")
    assert_same_bits(emission, ref.emissionprob_, "emissionprob")
    assert list(monitor.history) == list(ref.monitor_.history)
    assert monitor.iter == ref.monitor_.iter


def test_convergence_rule_stops_where_hmmlearns_does(tokens):
    ids, lengths = tokens
    ref = BatchedCategoricalHMM(n_components=4, n_features=200, n_iter=500, tol=5.0, random_state=1,
                                implementation="scaling")
    ref.fit(ids.reshape(-1, 1), lengths)
    monitor = em.ConvergenceMonitor(5.0, 500)
    em.fit_categorical(ids, lengths, 4, 200, 1, 1.0, monitor)
    assert 2 < monitor.iter < 500  # stopped on the gain, not on n_iter
    assert monitor.iter == ref.monitor_.iter and list(monitor.history) == list(ref.monitor_.history)
    assert monitor.converged and monitor.history[-1] - monitor.history[-2] < 5.0


def test_monitor_stops_at_n_iter():
    monitor = em.ConvergenceMonitor(tol=0.0, n_iter=3)
    for ll in (-10.0, -5.0):
        monitor.report(ll)
        assert not monitor.converged
    monitor.report(-1.0)
    assert monitor.converged and monitor.iter == 3


@pytest.mark.parametrize("K", [1, 3, 8])
def test_multistream_fit_is_the_hmmlearn_joint_models_bit_for_bit(K):
    n_symbols = (6, 5, 7, 4)
    lengths = np.array([1, 40, 3, 25, 60, 1, 17])
    frames = patterned_ids(n_symbols, lengths, seed=2)
    ref = MultiStreamCategoricalHMM(n_components=K, n_features=n_symbols, emission_prior=0.1, random_state=9,
                                    n_iter=10, tol=0.0, implementation="scaling")
    ref.n_workers = 1
    ref.fit(frames, lengths)
    monitor = em.ConvergenceMonitor(0.0, 10)
    start, trans, emissions = em.fit_multistream(frames, lengths, K, n_symbols, 9, 0.1, monitor, n_threads=1)
    assert_same_bits(start, ref.startprob_, "startprob")
    assert_same_bits(trans, ref.transmat_, "transmat")
    for s, (ours, theirs) in enumerate(zip(emissions, ref.emissionprob_)):
        assert_same_bits(ours, theirs, f"emissionprob[{s}]")
    assert list(monitor.history) == list(ref.monitor_.history)


def test_zero_probabilities_stay_zero_as_in_hmmlearn():
    start = np.array([0.5, 0.0, 0.5])
    trans = np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    new_start, new_trans = em.mstep_start_trans(start, trans, np.array([1.0, 2.0, 3.0]), np.ones((3, 3)))
    assert new_start[1] == 0 and np.isclose(new_start.sum(), 1)
    assert (new_trans[trans == 0] == 0).all() and np.allclose(new_trans.sum(axis=1), 1)


def test_pipeline_fits_do_not_import_hmmlearn():
    """What the module is for: a training process fits both models without hmmlearn/sklearn."""
    probe = """
import json, sys
import numpy as np
from neshmm.models.hmm import HMMModel
from neshmm.models.joint import JointModel
rng = np.random.default_rng(0)
HMMModel(20, n_components=3, n_iter=3).fit(rng.integers(0, 20, 300), np.array([100, 200]))
JointModel(n_symbols=(4, 4, 4, 4), n_components=3, n_iter=3).fit(rng.integers(1, 4, (300, 4)), np.array([300]))
print(json.dumps(sorted(m for m in ("hmmlearn", "sklearn", "scipy.stats") if m in sys.modules)))
"""
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=tool_env(), capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_log_implementation_still_fits_through_hmmlearn(tokens):
    ids, lengths = tokens
    scaling = HMMModel(200, n_components=3, n_iter=5, tol=0.0, seed=4).fit(ids, lengths)
    log = HMMModel(200, n_components=3, n_iter=5, tol=0.0, seed=4, implementation="log").fit(ids, lengths)
    np.testing.assert_allclose(log.fit_curves[0], scaling.fit_curves[0], rtol=1e-9)
    np.testing.assert_allclose(log.emissionprob_, scaling.emissionprob_, atol=1e-9)


def test_joint_model_fit_equals_the_hmmlearn_path():
    n_symbols = (5, 4, 6, 3)
    lengths = np.array([30, 1, 45])
    frames = patterned_ids(n_symbols, lengths, seed=1)
    ours = JointModel(n_symbols=n_symbols, n_components=4, n_iter=6, tol=0.0, seed=3).fit(frames, lengths)
    hmm = ours._hmm(ours.fit_info["restarts"][0]["seed"])
    hmm.fit(frames, lengths)
    assert_same_bits(ours.transmat_, hmm.transmat_, "transmat")
    assert ours.fit_info["history"] == list(hmm.monitor_.history)
