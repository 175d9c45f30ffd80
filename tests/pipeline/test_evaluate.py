"""The evaluate stage's outputs in a real repo: layout, the control column, determinism."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from helpers import dvc, sh

pytestmark = pytest.mark.e2e

VOICES = ("p1", "p2", "tr", "no")


def test_kl_json_has_every_voice_model_and_the_control_with_spread(reproduced_repo: Path):
    kl = json.loads((reproduced_repo / "metrics/kl.json").read_text())
    for v in VOICES:
        assert set(kl[v]) == {"hmm", "markov", "joint", "real_valid"}
        for model in kl[v].values():
            for key in ("kl_pitch", "kl_pitch_ci_low", "kl_pitch_pooled", "kl_duration", "kl_velocity",
                        "kl_pitch_class", "kl_interval", "kl_rest_ratio"):
                assert model[key] is not None and model[key] >= 0, key


def test_loglik_json_reports_unknown_tokens_and_perplexity(reproduced_repo: Path):
    ll = json.loads((reproduced_repo / "metrics/loglik.json").read_text())
    summary = json.loads((reproduced_repo / "data/tokens/summary.json").read_text())
    for v in VOICES:
        assert set(ll[v]) == {"hmm", "markov"}  # the control has no model to score
        valid = summary["voices"][v]["valid"]
        for m in ll[v].values():
            assert m["heldout_tokens"] == valid["tokens"]
            assert m["heldout_unknown_tokens"] == valid["unknown_tokens"]
            assert m["heldout_loglik_per_token"] < 0
            assert m["heldout_perplexity"] == pytest.approx(2.718281828459045 ** -m["heldout_loglik_per_token"])
            for key in ("heldout_loglik_per_beat", "heldout_loglik_per_second", "heldout_loglik_per_token"):
                assert m[f"{key}_ci_low"] <= m[key] <= m[f"{key}_ci_high"], key
            assert 0 < m["p_unk"] < 1
        assert "heldout_loglik_per_beat_minus_baseline" in ll[v]["hmm"]


def test_summary_is_the_headline_with_intervals(reproduced_repo: Path):
    summary = json.loads((reproduced_repo / "metrics/summary.json").read_text())
    n = sum(len(row) for by_system in summary.values() for row in by_system.values())
    assert 20 <= n <= 160, n  # a few numbers per voice and system
    for v in VOICES:
        hmm = summary[v]["hmm"]
        assert hmm["heldout_loglik_per_beat_low"] <= hmm["heldout_loglik_per_beat"] <= hmm["heldout_loglik_per_beat_high"]
        assert hmm["heldout_loglik_per_beat_minus_baseline_significant"] in (0, 1)
        assert "heldout_loglik_per_beat" not in summary[v]["real_valid"]  # no model to score
    md = (reproduced_repo / "metrics/summary.md").read_text()
    assert "heldout_loglik_per_beat" in md and " [" in md


def test_tables_rows_voices_columns_models(reproduced_repo: Path):
    tables = reproduced_repo / "metrics/tables"
    for name in ("kl_pitch", "kl_rest_ratio", "heldout_loglik_per_beat", "heldout_unknown_tokens", "oa_mean"):
        with open(tables / f"{name}.csv") as fh:
            rows = list(csv.reader(fh))
        assert rows[0][:3] == ["voice", "hmm", "markov"], name
        assert [r[0] for r in rows[1:]] == list(VOICES), name
    md = (reproduced_repo / "metrics/kl.md").read_text()
    assert "### kl_pitch\n" in md and " [" in md and "real_valid" in md
    assert "real_valid" not in (reproduced_repo / "metrics/loglik.md").read_text()


def test_pitch_hist_plot_data_and_png(reproduced_repo: Path):
    with open(reproduced_repo / "plots/pitch_hist.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["voice", "pitch", "source", "probability"]
    assert {r["voice"] for r in rows} == set(VOICES)
    assert {r["source"] for r in rows} == {"train", "hmm", "markov", "joint", "real_valid"}
    for v in VOICES:
        total = sum(float(r["probability"]) for r in rows if r["voice"] == v and r["source"] == "train")
        assert total == pytest.approx(1.0, abs=1e-4)
    assert (reproduced_repo / "plots/pitch_hist.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "plots/pitch_hist.csv" in sh(reproduced_repo, "git", "ls-files").stdout  # small, in git


def test_forced_rerun_of_evaluate_is_byte_identical(repro_copy: Path):
    dvc(repro_copy, "repro", "--force", "--single-item", "evaluate")
    status = sh(repro_copy, "git", "status", "--porcelain", "--", "metrics", "plots").stdout
    assert status == "", status


def test_heldout_test_split_renames_the_control(repro_copy: Path):
    out = dvc(repro_copy, "exp", "run", "-S", "evaluate.heldout=test", "evaluate").stdout
    assert "held-out (test)" in out
    kl = json.loads((repro_copy / "metrics/kl.json").read_text())
    assert "real_test" in kl["p1"] and "real_valid" not in kl["p1"]
