"""The joint four-voice model in a real DVC repo: trained, sampled, scored and rendered as `joint`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import changed_stages, compose_params, dvc, set_conf

pytestmark = pytest.mark.e2e

VOICES = ("p1", "p2", "tr", "no")


def test_train_joint_writes_the_model_and_samples_last_exactly_the_beats(reproduced_repo: Path):
    from neshmm.data.midi_io import read_midi
    from neshmm.data.voices import assign_voices
    from neshmm.models.joint import JointModel

    r = reproduced_repo
    model, meta = JointModel.load(r / "models/joint.npz")
    assert (model.n_components, model.n_iter) == (4, 5)  # tests/helpers.py SMALL_CONF
    tokens = json.loads((r / "data/tokens/summary.json").read_text())
    assert meta["train_files"] == tokens["train_files"]  # the per-voice models' training songs
    index = json.loads((r / "samples/index.json").read_text())
    assert set(index["roles"]) == {"model", "baseline", "joint"}  # JSON keys are written sorted
    files = [f["file"] for f in index["roles"]["joint"]["files"]]
    assert files == ["joint/000.mid", "joint/001.mid"]
    end = int(index["beats"] * index["ticks_per_beat"])
    for f in files:
        song = read_midi(r / "samples" / f)
        notes = assign_voices(song).notes
        assert 0 < song.end_tick <= end and all(n[:, 1].max() <= end for n in notes.values() if len(n))
        assert sum(len(n) for n in notes.values()) > 0


def test_joint_is_a_column_of_the_per_voice_tables(reproduced_repo: Path):
    kl = json.loads((reproduced_repo / "metrics/kl.json").read_text())
    for v in VOICES:
        assert kl[v]["joint"]["kl_pitch"] >= 0 and kl[v]["joint"]["kl_duration"] >= 0
    header = (reproduced_repo / "metrics/kl.csv").read_text().splitlines()[0]
    assert header.split(",") == ["voice", "hmm", "markov", "joint", "real_valid"]


def test_cross_voice_metrics_for_every_system_and_the_real_control(reproduced_repo: Path):
    cv = json.loads((reproduced_repo / "metrics/cross_voice.json").read_text())
    assert set(cv) == {"hmm", "markov", "joint", "real_valid"}
    for name, scores in cv.items():
        assert scores["cross_voice_pieces"] >= 1, name
        lo, value, hi = (scores[f"harmony_consonance{s}"] for s in ("_ci_low", "", "_ci_high"))
        assert 0 <= lo <= value <= hi <= 1, name
        assert scores["kl_co_onset"] >= 0
    assert cv["hmm"]["cross_voice_pieces"] == cv["joint"]["cross_voice_pieces"] == 2
    md = (reproduced_repo / "metrics/cross_voice.md").read_text()
    assert "| metric | hmm | markov | joint | real_valid |" in md
    row = next(line for line in md.splitlines() if line.startswith("| harmony_consonance |"))
    assert row.count("[") == 4 and row.count("]") == 4


def test_heldout_loglik_per_beat_over_all_voices(reproduced_repo: Path):
    r = reproduced_repo
    per_beat = json.loads((r / "metrics/loglik_all_voices.json").read_text())
    ll = json.loads((r / "metrics/loglik.json").read_text())
    assert set(per_beat) == {"hmm", "markov", "joint"}
    beats = {e["heldout_beats"] for e in per_beat.values()}
    assert len(beats) == 1 and beats.pop() > 0  # one denominator for every system
    for name in ("hmm", "markov"):
        total = sum(ll[v][name]["heldout_loglik_per_token"] * ll[v][name]["heldout_tokens"] for v in VOICES)
        e = per_beat[name]
        assert e["heldout_loglik_all_voices"] == pytest.approx(total, rel=1e-9)
        assert e["heldout_loglik_per_beat_all_voices"] == pytest.approx(total / e["heldout_beats"], rel=1e-9)
        assert e["voices"] == "p1,p2,tr,no"
    joint = per_beat["joint"]
    assert joint["heldout_loglik_per_beat_all_voices"] < 0 and joint["heldout_frames"] > 0
    assert np.isfinite(joint["heldout_loglik_all_voices"])


def test_render_has_the_joint_pieces_compare_and_the_listening_test(reproduced_repo: Path):
    render = reproduced_repo / "render"
    assert (render / "joint/000.wav").stat().st_size > 1000 and (render / "joint/000.png").exists()
    manifest = json.loads((render / "render.json").read_text())
    groups = [e.get("role", e["kind"]) for e in manifest["pieces"]]
    assert groups == ["model", "baseline", "joint", "reference"]
    assert next(e for e in manifest["pieces"] if e.get("role") == "joint")["title"].startswith("joint n_components=4 (joint)")
    assert "joint: joint" in (render / "index.html").read_text()
    key = json.loads((render / "listen_key.json").read_text())
    assert len(key["pairs"]) == 6 and {c["source"] for c in key["clips"].values()} == {"model", "baseline", "joint", "reference"}
    for cid in key["clips"]:
        assert (render / "listen" / f"{cid}.wav").exists()


def test_changing_joint_invalidates_the_joint_fit_not_the_per_voice_models(repro_copy: Path):
    # What DVC reruns first; sample, evaluate and render follow from the new model file
    # (a repro after a model edit: test_metrics_diff.py).
    set_conf(repro_copy, "joint/default.yaml", n_components=3)
    compose_params(repro_copy)
    assert changed_stages(repro_copy) == {"params", "train_joint"}
    # A frame that does not divide the piece length fails before any stage, in one line.
    set_conf(repro_copy, "joint/default.yaml", frame_beats=0.3)
    proc = dvc(repro_copy, "exp", "run", check=False)
    err = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "joint.frame_beats=0.3: must be a divisor of sample.beats=32" in err, err[-2000:]
