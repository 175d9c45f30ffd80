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

from helpers import ROOT as ROOT_DIR


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


# --- crafted or damaged model files, through the sample stage ------------------------------


@pytest.fixture(scope="module")
def trained_project(tmp_path_factory):
    """A project folder with params.yaml, tokens and trained models, as `dvc repro` leaves them
    before `sample` (made by the pipeline's own steps on a small demo corpus)."""
    import shutil

    import yaml

    from neshmm.config import to_config
    from neshmm.data.demo_corpus import generate_corpus
    from neshmm.data.manifest import scan
    from neshmm.pipeline import prepare, tokenize, train
    from neshmm.pipeline.paths import Paths

    root = tmp_path_factory.mktemp("sample_models")
    generate_corpus(root / "corpus", seed=0, n_train=6, n_valid=2, n_test=2)
    params = yaml.safe_load((ROOT_DIR / "params.yaml").read_text())
    params["data"].update(path="corpus", sample_fraction=1.0, min_train_tokens=1)
    params["model"].update(n_components=2, n_iter=2)
    params["sample"].update(n_samples=1, beats=8.0)
    params["jobs"] = 1
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    cfg = to_config(params)
    paths = Paths(root)
    manifest = scan(root / "corpus", {"train": "train", "valid": "valid", "test": "test"}, stat_cache=None)
    prepare.run(to_config({**params, "data": {**params["data"], "path": str(root / "corpus")}}),
                manifest=manifest, out=paths.prepared, failed_report=root / "failed.json")
    tokenize.run(cfg, prepared=paths.prepared, out=paths.tokens)
    for role in ("model", "baseline"):
        for voice in cfg.voices:
            train.run(cfg, voice, role, paths.tokens, paths.model_file(role, voice), paths.fit_log(role, voice))
    shutil.copy(paths.model_file("model", "p1"), root / "good_p1.npz")
    return root


def _craft(path, header, **arrays):
    import io
    import json

    buf = io.BytesIO()
    meta = header if isinstance(header, bytes) else json.dumps(header).encode()
    np.savez(buf, meta_json=np.frombuffer(meta, dtype=np.uint8), **arrays)
    path.write_bytes(buf.getvalue())


def _good(root):
    import json

    with np.load(root / "good_p1.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(bytes(arrays.pop("meta_json")).decode()), arrays


CRAFTED = {
    "unknown model": (lambda m, a: ({**m, "model": "evil"}, a), "header model='evil': unknown model; allowed: hmm, markov"),
    "model is os": (lambda m, a: ({**m, "model": "os"}, a), "header model='os': unknown model"),
    "no model key": (lambda m, a: ({k: v for k, v in m.items() if k != "model"}, a), "header model=None: unknown model"),
    "header not JSON": (lambda m, a: (b"\xff{not json", a), "not a readable model file"),
    "header a list": (lambda m, a: ([1, 2], a), "model header is not a JSON object"),
    "missing array": (lambda m, a: (m, {k: v for k, v in a.items() if k != "transmat"}), "lacks the fitted array 'transmat'"),
    "wrong shape": (lambda m, a: (m, {**a, "transmat": np.eye(3)}), "array 'transmat' has shape (3, 3), expected (2, 2)"),
    "no n_symbols": (lambda m, a: ({k: v for k, v in m.items() if k != "n_symbols"}, a), "header lacks a 'config' mapping"),
    "NaN probabilities": (lambda m, a: (m, {**a, "startprob": np.array([np.nan, 1.0])}), "not a table of finite"),
    "skipped without reason": (lambda m, a: ({**m, "skipped": True}, a), "lacks its 'reason'"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_model_file_fails_sample_in_one_line_naming_the_file(trained_project, case):
    import subprocess
    import sys

    from helpers import tool_env

    make, expected = CRAFTED[case]
    meta, arrays = make(*_good(trained_project))
    target = trained_project / "models" / "model" / "p1.npz"
    if isinstance(meta, (bytes, dict)):
        _craft(target, meta, **arrays)
    else:
        _craft(target, __import__("json").dumps(meta).encode(), **arrays)
    env = {**tool_env(), "PYTHONPATH": str(ROOT_DIR)}
    proc = subprocess.run([sys.executable, "-m", "stages.sample"], cwd=trained_project, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("error [sample]: models/model/p1.npz: ") and expected in lines[0], lines[0]
