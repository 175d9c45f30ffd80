"""Step `train`: the baseline tunes alpha on the tuning split (never test), and every train
stage reports its fit as a DVC metric and its EM curve as a DVC plot."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest

from helpers import dvc
from neshmm.config import load_params
from neshmm.data.token_store import VoiceTokens
from neshmm.models import load_model
from neshmm.pipeline import train
from neshmm.pipeline.fit_report import EM_COLUMNS
from neshmm.pipeline.paths import Paths

pytestmark = pytest.mark.e2e
VOICES = ("p1", "p2", "tr", "no")


def test_train_reads_the_tuning_split_never_test(reproduced_repo: Path, tmp_path: Path, monkeypatch):
    cfg = load_params(reproduced_repo / "params.yaml")
    cfg = replace(cfg, evaluate=replace(cfg.evaluate, heldout="test"))  # final evaluation on test
    read = []
    original = VoiceTokens.ids
    monkeypatch.setattr(VoiceTokens, "ids", lambda self, split: read.append(split) or original(self, split))
    paths = Paths(tmp_path)
    line = train.run(cfg, "p1", "baseline", reproduced_repo / "data/tokens", paths.model_file("baseline", "p1"),
                     paths.fit_log("baseline", "p1"), paths.train_metrics("baseline", "p1"),
                     paths.em_curve("baseline", "p1"))
    assert sorted(set(read)) == ["train", "valid"]
    metrics = json.loads(paths.train_metrics("baseline", "p1").read_text())
    assert metrics["tune_split"] == "valid" and metrics["tuned_alpha"] in cfg.baseline.alpha_grid
    assert f"alpha={metrics['tuned_alpha']:g} (chosen on valid)" in line
    assert load_model(paths.model_file("baseline", "p1")).alpha == metrics["tuned_alpha"]


def test_train_metrics_and_em_curves_of_the_pipeline(reproduced_repo: Path):
    paths = Paths(reproduced_repo)
    for voice in VOICES:
        hmm = json.loads(paths.train_metrics("model", voice).read_text())
        assert hmm["model"] == "hmm" and hmm["n_init"] == 1 and hmm["bic"] > 0 and hmm["n_params"] > 0
        with open(paths.em_curve("model", voice)) as fh:
            rows = list(csv.DictReader(fh))
        assert tuple(rows[0]) == EM_COLUMNS
        assert len(rows) == hmm["n_iter"] and [int(r["iteration"]) for r in rows] == list(range(1, len(rows) + 1))
        assert float(rows[-1]["loglik"]) == hmm["train_loglik"]
        markov = json.loads(paths.train_metrics("baseline", voice).read_text())
        curve = markov["tune_loglik_per_token"]
        assert markov["tune_split"] == "valid" and len(curve) == 7
        assert curve[f"alpha_{format(markov['tuned_alpha'], 'g').replace('.', '_')}"] == max(curve.values())
        assert paths.em_curve("baseline", voice).read_text().strip() == ",".join(EM_COLUMNS)  # no EM


def test_train_metrics_are_written_but_not_in_the_headline(reproduced_repo: Path):
    """The fit facts and the tuning curve are files in git; `dvc metrics show` lists only the
    headline (metrics/summary.json), so `dvc metrics diff` stays readable."""
    for name in ("baseline_p1", "model_no"):
        assert (reproduced_repo / f"metrics/train/{name}.json").is_file()
    assert "tuned_alpha" in json.loads((reproduced_repo / "metrics/train/baseline_p1.json").read_text())
    out = json.loads(dvc(reproduced_repo, "metrics", "show", "--json").stdout)
    assert set(next(iter(out.values()))["data"]) == {"metrics/summary.json"}
