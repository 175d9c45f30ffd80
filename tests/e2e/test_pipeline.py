"""The user's journey with real git and DVC: repro, no-op repro, selective reruns, dvc exp."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from helpers import NESMDB_DIR, changed_stages, compose_params, dvc, init_repo, requires_nesmdb, set_conf, sh

pytestmark = pytest.mark.e2e

VOICES = ("p1", "p2", "tr", "no")


def ran_stages(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")}


def test_repro_leaves_every_artifact(reproduced_repo: Path):
    r = reproduced_repo
    for role in ("model", "baseline"):
        for v in VOICES:
            assert (r / "models" / role / f"{v}.npz").is_file()
        assert sorted(p.name for p in (r / "samples" / role).glob("*.mid")) == ["000.mid", "001.mid"]
    kl = json.loads((r / "metrics/kl.json").read_text())
    assert set(kl) == set(VOICES)
    for v in VOICES:
        assert {"hmm", "markov"} <= set(kl[v])
        assert kl[v]["hmm"]["kl_pitch"] >= 0
    csv = (r / "metrics/kl.csv").read_text().splitlines()
    assert csv[0].split(",")[:3] == ["voice", "hmm", "markov"]
    assert [line.split(",")[0] for line in csv[1:]] == list(VOICES)
    assert "| voice" in (r / "metrics/kl.md").read_text()
    # Artifacts are DVC outputs, kept out of git.
    tracked = sh(r, "git", "ls-files").stdout.split()
    assert not any(t.startswith(("models/", "samples/", "data/tokens/")) and not t.endswith(".gitignore") for t in tracked)
    assert "metrics/kl.json" in tracked


def test_second_repro_does_nothing(repro_copy: Path):
    out = dvc(repro_copy, "repro").stdout
    assert ran_stages(out) == {"scan"}, out  # always_changed: it stats the corpus, nothing else runs
    assert "stage 'prepare' didn't change" in out.lower()
    assert changed_stages(repro_copy) == set()
    assert sh(repro_copy, "git", "status", "--porcelain").stdout == ""  # dvc.lock unchanged


def test_n_components_invalidates_the_hmm_train_stages_only(repro_copy: Path):
    """What DVC will rerun first: the HMM fits (their params changed) and the params check,
    not tokenize or the baselines. (That `dvc repro` then reruns sample, evaluate and render
    after the new models, and leaves the baseline's numbers alone, is test_metrics_diff's
    fixture and tests: the same edit, reproduced and committed.)"""
    set_conf(repro_copy, "model/hmm.yaml", n_components=3)
    compose_params(repro_copy)
    assert changed_stages(repro_copy) == {"params"} | {f"train@{v}-model" for v in VOICES}


def test_duration_bin_invalidates_from_tokenize(repro_copy: Path):
    """Tokenization settings invalidate tokenize (and through its outputs everything after
    it), never the demo corpus or the parsed notes."""
    set_conf(repro_copy, "tokenize/default.yaml", duration_bins=[0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
    compose_params(repro_copy)
    assert changed_stages(repro_copy) == {"params", "tokenize"}


def test_params_yaml_equals_conf_composition(tmp_path: Path):
    """The committed params.yaml is exactly what DVC composes from the committed conf/,
    together with this machine's git-ignored conf/local/ when there is one (composed the
    same way as `dvc exp run` composes here). Uncommitted experiments in the working tree
    (`dvc exp apply`) are the stage check's business (neshmm/freshness.py), not this test's."""
    import shutil
    import subprocess

    from helpers import ROOT
    from neshmm.params import composed_text

    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    archive = subprocess.run(["git", "archive", "HEAD", "conf", "params.yaml", "hydra_plugins"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive, check=True)
    if (ROOT / "conf/local").is_dir():
        shutil.copytree(ROOT / "conf/local", tmp_path / "conf/local")
    assert (tmp_path / "params.yaml").read_text(encoding="utf-8") == composed_text([], tmp_path), (
        "params.yaml is not what conf/ composes to; run `python -m neshmm.params` and commit")


def _hashes(repo: Path) -> dict[str, str]:
    out = {}
    for top in ("data/prepared", "data/tokens", "models", "samples", "metrics"):
        for p in sorted((repo / top).rglob("*")):
            if p.is_file() and p.name != ".gitignore":
                out[str(p.relative_to(repo))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_same_params_same_seed_byte_identical(reproduced_repo: Path, tmp_path: Path):
    """A second, independent repo run from scratch gives byte-identical artifacts."""
    other = init_repo(tmp_path / "again")
    dvc(other, "repro")
    a, b = _hashes(reproduced_repo), _hashes(other)
    assert a.keys() == b.keys()
    assert {k for k in a if a[k] != b[k]} == set()


def test_missing_nesmdb_folder_is_one_clear_error(repro_copy: Path):
    proc = dvc(repro_copy, "exp", "run", "-S", "data=nesmdb", check=False)
    assert proc.returncode != 0
    err = proc.stdout + proc.stderr
    assert "no NES-MDB MIDI files found" in err and "sha256" in err
    assert "Traceback" not in err


@requires_nesmdb()
def test_exp_run_on_real_nesmdb_subset(repro_copy: Path, tmp_path: Path):
    """`data=nesmdb` with data.path pointing at a small real subset runs the whole pipeline."""
    import shutil

    sub = tmp_path / "nesmdb_subset"
    for split, n in (("train", 24), ("valid", 6)):
        (sub / split).mkdir(parents=True)
        for f in sorted((NESMDB_DIR / split).glob("*.mid"))[:n]:
            (sub / split / f.name).symlink_to(f)
    out = dvc(repro_copy, "exp", "run", "-S", "data=nesmdb", "-S", f"data.path={sub}").stdout
    assert "prepare:" in out and "evaluate:" in out
    report = json.loads((repro_copy / "data/prepared/report.json").read_text())
    assert report["data"] == "nesmdb" and report["splits"]["train"]["files_read"] >= 20
    shutil.rmtree(sub)
