"""The joint model's steps on a small prepared corpus: train_joint, its sampling, its scores."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from omegaconf import OmegaConf

from helpers import ROOT
from neshmm.config import to_config
from neshmm.data.corpus import FileResult, Split, build_split
from neshmm.data.demo_corpus import generate_song
from neshmm.data.excerpts import total_beats
from neshmm.data.midi_io import read_midi
from neshmm.data.voices import VOICES, assign_voices
from neshmm.errors import ConfigError
from neshmm.evaluation import joint_scoring as js
from neshmm.pipeline import sample_joint, train_joint

TPB = 22050
BEATS = 16.0


def cfg_with(**updates):
    raw = OmegaConf.create(yaml.safe_load((ROOT / "params.yaml").read_text()))
    OmegaConf.set_struct(raw, False)
    base = {"joint.n_components": 3, "joint.n_iter": 4, "sample.beats": BEATS, "sample.n_samples": 3,
            "evaluate.bootstrap.n_resamples": 50, "data.sample_fraction": 0.5}
    for key, value in {**base, **updates}.items():
        OmegaConf.update(raw, key, value, force_add=True)
    return to_config(raw)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prepared")
    for k, (split, n) in enumerate((("train", 8), ("valid", 3), ("test", 1))):
        songs = [FileResult(f"{split}_{i}.mid", TPB, generate_song(np.random.default_rng([5, k, i]), n_bars=12))
                 for i in range(n)]
        build_split(songs).save(out / f"{split}.npz")
    return out


@pytest.fixture(scope="module")
def trained(prepared, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("models")
    summary = train_joint.run(cfg_with(), prepared, out / "joint.npz", out / "train_joint.json")
    assert summary.startswith("train_joint: 4 files")
    return out / "joint.npz"


def test_train_joint_uses_the_tokenize_training_files_and_is_byte_identical(prepared, trained, tmp_path):
    meta = json.loads(bytes(np.load(trained)["meta_json"]).decode())
    from neshmm.data.token_store import training_files

    split = Split.load(prepared / "train.npz")
    assert meta["train_files"] == [split.files[i] for i in training_files(len(split.files), 0.5, 17)]
    assert meta["config"]["n_components"] == 3 and meta["vocab"]["velocity"].keys() == set(VOICES)
    assert 0 <= meta["grid_loss"]["notes_merged"] < 1
    train_joint.run(cfg_with(), prepared, tmp_path / "again.npz", tmp_path / "log.json")
    assert (tmp_path / "again.npz").read_bytes() == trained.read_bytes()
    log = json.loads((tmp_path / "log.json").read_text())
    assert log["n_iter"] >= 1 and log["fit_seconds"] >= 0
    train_joint.run(cfg_with(**{"joint.seed": 18}), prepared, tmp_path / "other.npz", tmp_path / "log.json")
    assert (tmp_path / "other.npz").read_bytes() != trained.read_bytes()


def test_more_states_than_frames_is_a_config_error(prepared, tmp_path):
    with pytest.raises(ConfigError, match=r"^joint.n_components=100000: more hidden states"):
        train_joint.run(cfg_with(**{"joint.n_components": 100000}), prepared, tmp_path / "m.npz", tmp_path / "l.json")


def test_joint_pieces_last_exactly_the_sample_beats_in_every_voice(trained, tmp_path):
    cfg = cfg_with()
    entry = sample_joint.write(cfg, trained, tmp_path / "a")
    assert entry["model"] == "joint" and [f["file"] for f in entry["files"]] == ["joint/000.mid", "joint/001.mid", "joint/002.mid"]
    end = int(BEATS * cfg.sample.ticks_per_beat)
    for f in entry["files"]:
        song = read_midi(tmp_path / "a" / f["file"])
        # end_tick is where the last note ends (neshmm.data.midi_io): never past the piece.
        assert song.ticks_per_beat == cfg.sample.ticks_per_beat and 0 < song.end_tick <= end
        notes = assign_voices(song).notes
        assert sum(len(n) for n in notes.values()) == sum(f["notes"].values()) > 0
        for n in notes.values():
            assert (n[:, 1] <= end).all() and (n[:, 0] >= 0).all()
    # Same seed: same bytes; another seed: other pieces.
    sample_joint.write(cfg, trained, tmp_path / "b")
    sample_joint.write(cfg_with(**{"sample.seed": 1}), trained, tmp_path / "c")
    a, b, c = ((tmp_path / d / "joint/000.mid").read_bytes() for d in "abc")
    assert a == b and a != c


def test_missing_joint_model_names_the_stage(tmp_path):
    from neshmm.errors import DataError

    with pytest.raises(DataError, match="run `dvc repro train_joint`"):
        sample_joint.write(cfg_with(), tmp_path / "joint.npz", tmp_path)


def test_joint_heldout_loglik_per_beat_and_per_voice_total(prepared, trained):
    model, vocab = sample_joint.load(trained)
    valid = Split.load(prepared / "valid.npz")
    held = js.joint_heldout(model, vocab, valid, 1e-6)
    assert held["heldout_loglik_all_voices"] < 0 and held["heldout_frames"] > 0
    beats = total_beats(valid)
    assert held["heldout_frames"] * model.frame_beats == pytest.approx(beats, abs=len(valid.files) * model.frame_beats)
    entry = js.per_beat_entry(held["heldout_loglik_all_voices"], beats, list(VOICES))
    assert entry["heldout_loglik_per_beat_all_voices"] == pytest.approx(held["heldout_loglik_all_voices"] / beats)
    # Per-voice systems: the per-token means times token counts, summed; absent scores left out.
    total, voices = js.per_voice_total({"p1": {"heldout_loglik_per_token": -2.0, "heldout_tokens": 10},
                                        "tr": {"heldout_loglik_per_token": -1.5, "heldout_tokens": 4},
                                        "no": {"heldout_tokens": 0}})
    assert total == -26.0 and voices == ["p1", "tr"]
    assert js.per_beat_entry(-26.0, 0.0, voices)["heldout_loglik_per_beat_all_voices"] is None


def test_cross_voice_of_joint_pieces_and_the_real_control(prepared, trained, tmp_path):
    cfg = cfg_with()
    entry = sample_joint.write(cfg, trained, tmp_path)
    train, valid = Split.load(prepared / "train.npz"), Split.load(prepared / "valid.npz")
    scores = js.cross_voice_all(cfg, {"joint": [tmp_path / f["file"] for f in entry["files"]]}, train, [0, 1], valid)
    assert list(scores) == ["joint", "real_valid"]
    assert scores["joint"]["cross_voice_pieces"] == 3 and scores["real_valid"]["cross_voice_pieces"] == 3
    for col in scores.values():
        lo, value, hi = col["harmony_consonance_ci_low"], col["harmony_consonance"], col["harmony_consonance_ci_high"]
        assert 0 <= lo <= value <= hi <= 1
    md = js.cross_voice_markdown(scores, 0.95, 50)
    assert "| harmony_consonance | " in md and md.count("[") >= 2 * len(js.CROSS_VOICE_METRICS) - 4
    # No held-out song as long as the pieces: the control says why instead of a number.
    long = js.cross_voice_all(cfg_with(**{"sample.beats": 4096.0}), {}, train, [0], valid)
    assert "skipped" in long["real_valid"] and "| kl_co_onset | skipped |" in js.cross_voice_markdown(long, 0.95, 50)
    assert not math.isnan(scores["joint"]["key_agreement"])
