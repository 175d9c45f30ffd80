"""`dvc metrics diff` across two commits: one readable row per changed number.

The user's loop from the README: commit a run, change a hyperparameter in conf/, rerun,
commit, and ask DVC what changed. Only the numbers that depend on the changed model may
move; the baseline's and the real-vs-real control's must not.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from helpers import clone_of, compose_params, dvc, set_conf, sh

pytestmark = pytest.mark.e2e

VOICES = ("p1", "p2", "tr", "no")


@pytest.fixture(scope="module")
def two_commits(reproduced_repo: Path, tmp_path_factory) -> Path:
    """The first run's commit, then a commit with model.n_components changed (read-only)."""
    repo = clone_of(reproduced_repo, tmp_path_factory.mktemp("diff") / "repo")
    set_conf(repo, "model/hmm.yaml", n_components=3)
    compose_params(repo)
    (repo.parent / "repro.out").write_text(dvc(repo, "repro").stdout)  # for the test just below
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "hmm with 3 states")
    return repo


def test_the_hmm_fits_and_what_follows_them_rerun_not_tokenize_or_the_baselines(two_commits: Path):
    out = (two_commits.parent / "repro.out").read_text()
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage '")}
    assert {f"train@{v}-model" for v in VOICES} | {"sample", "evaluate", "render"} <= ran, out
    assert not ran & {"demo", "prepare", "tokenize", "train_joint"}, out
    assert not any(s.endswith("-baseline") for s in ran), out


def test_metrics_diff_lists_the_changed_headline_per_voice(two_commits: Path):
    diff = json.loads(dvc(two_commits, "metrics", "diff", "HEAD~1", "--json").stdout)
    assert set(diff) == {"metrics/summary.json"}  # the headline only; detail is in the tables
    rows = diff["metrics/summary.json"]
    for v in VOICES:
        for key in (f"{v}.hmm.heldout_loglik_per_beat", f"{v}.hmm.heldout_loglik_per_beat_minus_baseline",
                    f"{v}.hmm.kl_pitch"):
            row = rows[key]
            assert set(row) == {"old", "new", "diff"}, key
            assert row["old"] != row["new"]
            assert row["diff"] == pytest.approx(row["new"] - row["old"], rel=1e-9, abs=1e-12)
    # The Markov baseline, the joint model and the real-vs-real control did not change, so
    # they are not listed; of the whole-piece numbers only the HMM's moved.
    assert not {k for k in rows if ".markov." in k or ".real_valid." in k or ".joint." in k}, sorted(rows)
    assert any(k.startswith("all_voices.hmm.") for k in rows), sorted(rows)


def test_metrics_diff_text_is_a_readable_number_of_rows(two_commits: Path):
    out = dvc(two_commits, "metrics", "diff", "HEAD~1").stdout
    rows = [line.split() for line in out.splitlines() if line.startswith("metrics/")]
    keys = {(r[0], r[1]) for r in rows}
    assert ("metrics/summary.json", "p1.hmm.heldout_loglik_per_beat") in keys
    # Path, metric, HEAD~1 value, workspace value, change: five cells per row; only the
    # model's headline numbers changed: about a dozen per voice and for all voices at once.
    assert all(len(r) == 5 for r in rows), out
    assert 8 <= len(rows) <= 60, out


def test_metrics_show_flattens_voice_system_metric(repro_copy: Path):
    shown = json.loads(dvc(repro_copy, "metrics", "show", "--json").stdout)
    data = shown[""]["data"]["metrics/summary.json"]["data"]
    assert set(data) == set(VOICES) | {"all_voices"}
    assert {"hmm", "markov", "real_valid"} <= set(data["p1"]) and "joint" in data["all_voices"]
    flat = dvc(repro_copy, "metrics", "show").stdout
    assert "p1.hmm.heldout_loglik_per_beat_low" in flat and "tr.real_valid.kl_pitch" in flat


def test_plots_diff_shows_both_revisions(two_commits: Path, tmp_path: Path):
    dvc(two_commits, "plots", "diff", "HEAD~1", "-o", str(tmp_path / "out"))
    page = (tmp_path / "out" / "index.html").read_text()
    spec = json.loads(re.search(r"var spec = (\{.*?\});\n", page, flags=re.S).group(1))
    revs = {v["rev"] for v in spec["data"]["values"]}
    assert revs == {"HEAD~1", "workspace"}  # told apart by line dash in the template
    assert len(re.findall(r'<img src="static/', page)) == 2  # the PNG of each revision (the inlined Vega code has its own '<img src=')
