"""A voice with too little data is skipped and marked, end to end, not a crash of the run.

A real `dvc repro` on a corpus whose noise voice has almost no notes: its train stages
write placeholder models marked ``skipped`` (with a warning), `sample` leaves the voice
silent and lists it, `evaluate` writes ``{"skipped": 1}`` for it, and the other voice is
scored as usual.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from neshmm.data.demo_corpus import generate_corpus
from neshmm.data.midi_io import read_midi, write_midi
from neshmm.models.base import read_model_file
from neshmm.data.voices import PROGRAMS, assign_voices

from helpers import changed_stages, compose_params, dvc, init_repo, set_conf

pytestmark = pytest.mark.e2e


def sparse_noise_corpus(out: Path) -> None:
    """The demo corpus with the noise voice cut to one note in every fourth file."""
    paths = generate_corpus(out, seed=5, n_train=8, n_valid=2, n_test=2)
    for i, path in enumerate(p for split in paths.values() for p in split):
        song = read_midi(path)
        notes = assign_voices(song).notes
        if "no" in notes:
            notes["no"] = notes["no"][:1] if i % 4 == 0 else np.zeros((0, 4), dtype=np.int64)
        write_midi(path, notes, song.ticks_per_beat, PROGRAMS)


def test_voice_with_almost_no_notes_is_skipped_through_train_sample_and_evaluate(tmp_path):
    repo = init_repo(tmp_path / "repo")
    sparse_noise_corpus(repo / "data/raw/sparse")
    set_conf(repo, "data/demo.yaml", path="data/raw/sparse")
    config = yaml.safe_load((repo / "conf/config.yaml").read_text())
    config["voices"] = ["p1", "no"]  # two voices keep the run short
    (repo / "conf/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    compose_params(repo)

    proc = dvc(repo, "repro", "evaluate")
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    assert "warning: train no/model: skipped," in out and "< data.min_train_tokens=100" in out
    assert "warning: train no/baseline: skipped," in out
    report = json.loads((repo / "data/prepared/report.json").read_text())
    assert report["splits"]["train"]["notes_per_voice"]["no"] <= 2

    for role in ("model", "baseline"):
        meta, _ = read_model_file(repo / f"models/{role}/no.npz")
        assert meta["skipped"] is True and "min_train_tokens" in meta["reason"]
        assert not read_model_file(repo / f"models/{role}/p1.npz")[0].get("skipped")

    index = json.loads((repo / "samples/index.json").read_text())
    for role in ("model", "baseline"):
        assert set(index["roles"][role]["skipped_voices"]) == {"no"}
        for f in index["roles"][role]["files"]:
            assert f["tokens"].get("no", 0) == 0 and f["tokens"]["p1"] > 0
            assert "no" not in assign_voices(read_midi(repo / "samples" / f["file"])).notes

    kl = json.loads((repo / "metrics/kl.json").read_text())
    loglik = json.loads((repo / "metrics/loglik.json").read_text())
    for model in ("hmm", "markov"):
        assert kl["no"][model] == {"skipped": 1}
        assert loglik["no"][model] == {"skipped": 1}
        assert kl["p1"][model]["kl_pitch"] >= 0
        assert np.isfinite(loglik["p1"][model]["heldout_loglik_per_token"])
    assert changed_stages(repo, "evaluate") == set()
