"""A new user's day (issue 15), step by step with real git and DVC: each test repeats what
the user typed and checks what they see now (one line, exit code) and what stays untouched."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import changed_stages, compose_params, dvc, set_conf, sh, tool_env

pytestmark = pytest.mark.e2e

FIX = "run `python -m neshmm.params` (or `python -m neshmm.sweep.adopt` to keep params.yaml's values in conf/)"


def ran_stages(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")}


def digest(repo: Path, *rels: str) -> dict[str, str]:
    out = {}
    for rel in rels:
        paths = sorted((repo / rel).rglob("*")) if (repo / rel).is_dir() else [repo / rel]
        for p in paths:
            if p.is_file():
                out[str(p.relative_to(repo))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("error", "ERROR"))]


# 1. Editing conf/ and running `dvc repro` without recomposing params.yaml.

def test_conf_edit_without_recompose_stops_repro_with_one_line(repro_copy: Path):
    r = repro_copy
    kept = digest(r, "params.yaml", "dvc.lock", "models", "samples", "metrics")
    set_conf(r, "model/hmm.yaml", n_components=5)
    proc = dvc(r, "repro", check=False)
    assert proc.returncode != 0
    assert ran_stages(proc.stdout) == {"params"}, proc.stdout  # DVC noticed conf/, nothing else ran
    line = f"error [params]: params.yaml is stale: conf/ gives model.n_components=5, params.yaml has 4; {FIX}"
    assert error_lines(proc.stderr)[0] == line, proc.stderr
    assert "Traceback" not in proc.stderr
    assert digest(r, "params.yaml", "dvc.lock", "models", "samples", "metrics") == kept

    # A stage run by hand (or rerun by DVC for another reason) refuses the same way.
    by_hand = sh(r, sys.executable, "-m", "stages.sample", check=False)
    assert by_hand.returncode == 2
    assert by_hand.stderr.strip() == line.replace("[params]", "[sample]")

    # The fix the line names; then DVC sees exactly the stages of the changed parameter.
    # (The repro after such an edit: test_metrics_diff.py, whose fixture makes the same one.)
    compose_params(r)
    sh(r, sys.executable, "-m", "neshmm.params", "--check")
    assert changed_stages(r) == {"params"} | {f"train@{v}-model" for v in ("p1", "p2", "tr", "no")}


def test_hand_edited_params_yaml_is_refused_naming_the_key(repro_copy: Path):
    r = repro_copy
    params = yaml.safe_load((r / "params.yaml").read_text())
    params["model"]["n_component"] = params["model"].pop("n_components")
    (r / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    proc = sh(r, sys.executable, "-m", "stages.train", "--voice", "p1", "--role", "model", check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error [train]: params.yaml is stale: params.yaml has model.n_component=4, conf/ lacks it; " + FIX)


# 2. Choosing NES-MDB once (git-ignored conf/local/), not on every `dvc exp run`.

def test_local_data_choice_sticks_across_exp_runs_and_checks(repro_copy: Path, tmp_path: Path):
    r = repro_copy
    corpus = r / "data/raw/demo"  # stands in for NES-MDB: same layout and format
    (r / "conf/local").mkdir()
    (r / "conf/local/default.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /data: nesmdb\ndata:\n  path: " + str(corpus) + "\n")
    assert "conf/local" not in sh(r, "git", "status", "--porcelain").stdout  # git-ignored
    compose_params(r)
    sh(r, sys.executable, "-m", "neshmm.params", "--check")
    sh(r, "git", "commit", "-qam", "use NES-MDB here")
    # No -S data=... needed. Run up to prepare only: which data the run read is decided there
    # (the stages after it are the same whatever the corpus).
    out = dvc(r, "exp", "run", "-S", "model.n_components=3", "prepare").stdout
    assert "prepare" in ran_stages(out)
    params = yaml.safe_load((r / "params.yaml").read_text())
    assert params["data"] == {**params["data"], "name": "nesmdb", "path": str(corpus)}
    assert params["model"]["n_components"] == 3
    assert yaml.safe_load((r / "data/prepared/report.json").read_text())["data"] == "nesmdb"
    # The run is listed as an experiment of the commit (what `dvc exp show` tables are made of).
    shown = json.loads(dvc(r, "exp", "show", "--json").stdout)
    runs = [rev for entry in shown for group in (entry.get("experiments") or []) for rev in group.get("revs", [])]
    assert len(runs) == 1, shown


# 3. data.path one level too deep.

def test_data_path_one_level_too_deep_says_what_was_found(repro_copy: Path):
    r = repro_copy
    deep = r / "data/raw/demo/train"
    n = len(list(deep.glob("*.mid")))
    proc = dvc(r, "exp", "run", "-S", "data=nesmdb", "-S", f"data.path={deep}", check=False)
    assert proc.returncode != 0
    assert error_lines(proc.stderr)[0] == (
        f"error [prepare]: {deep}: no NES-MDB MIDI files found in {deep}/train/ ({deep} itself holds {n} MIDI "
        f"files); expected data.path to be the folder holding train/, valid/, test/ with the .mid files; "
        f"set data.path={deep.parent} (one level up)"
    )


# 4. Long work shows progress on a terminal, and only there.

def _train(r: Path, tty: bool, **env_extra) -> subprocess.CompletedProcess:
    env = tool_env()
    env.pop("CI", None)
    env.update(NESHMM_PROGRESS_SECONDS="0", **env_extra)
    cmd = f"{sys.executable} -m dvc repro -s -f train@p1-model"
    args = ["script", "-q", "-e", "-c", cmd, "/dev/null"] if tty else cmd.split()
    return subprocess.run(args, cwd=r, env=env, capture_output=True, text=True, timeout=600)


def test_em_progress_on_a_terminal_only_and_artifacts_unchanged(repro_copy: Path):
    r = repro_copy
    model = digest(r, "models/model/p1.npz")
    on_tty = _train(r, tty=True)
    assert on_tty.returncode == 0, on_tty.stdout + on_tty.stderr
    lines = [x for x in on_tty.stdout.splitlines() if "EM iterations, log-likelihood" in x]
    assert lines and lines[0].startswith("HMM fit, 4 states, ") and "1/8 EM iterations" in lines[0], on_tty.stdout
    assert digest(r, "models/model/p1.npz") == model  # progress never changes an artifact
    for quiet in (_train(r, tty=False), _train(r, tty=True, CI="true")):
        assert quiet.returncode == 0
        assert "EM iterations" not in quiet.stdout + quiet.stderr
    assert digest(r, "models/model/p1.npz") == model


# 5. A mistyped key in `dvc exp run -S`.

@pytest.mark.parametrize("override", ["model.n_component=8", "+model.n_component=8"])
def test_override_typo_is_one_line_with_closest_key_and_params_untouched(repro_copy: Path, override: str):
    r = repro_copy
    kept = digest(r, "params.yaml", "conf", "dvc.lock")
    proc = dvc(r, "exp", "run", "-S", override, check=False)
    assert proc.returncode == 255
    assert proc.stderr.strip() == (
        f"ERROR: {override}: conf/ has no key model.n_component; did you mean model.n_components?")
    assert ran_stages(proc.stdout) == set()
    assert digest(r, "params.yaml", "conf", "dvc.lock") == kept
    # The same line from the project's own composer.
    own = sh(r, sys.executable, "-m", "neshmm.params", override, check=False)
    assert own.returncode == 2 and own.stderr.strip() == proc.stderr.strip().replace("ERROR:", "error:")


def test_params_check_cache_follows_edits(repro_copy: Path):
    """The freshness stamp never hides an edit: stale after a conf/ edit, fresh after recompose."""
    r = repro_copy
    assert sh(r, sys.executable, "-m", "stages.params").stdout.startswith("params.yaml matches conf/")
    again = sh(r, sys.executable, "-m", "stages.params").stdout
    assert again.strip() == "params.yaml matches conf/ (cached)"
    set_conf(r, "sample/default.yaml", seed=1)
    assert sh(r, sys.executable, "-m", "stages.params", check=False).returncode == 2
    compose_params(r)
    assert sh(r, sys.executable, "-m", "stages.params").stdout.strip() == "params.yaml matches conf/"


# 7. The rendered page says what it shows (and stays byte-identical: no commit, no time).

def test_render_page_names_dataset_splits_and_config_hash(reproduced_repo: Path):
    html = (reproduced_repo / "render/index.html").read_text()
    assert "<td>dataset</td><td>demo (data/raw/demo)</td>" in html
    assert "<td>metrics: reference / held-out split</td><td>train / valid</td>" in html
    assert "config sha256 (params.yaml, validated)" in html
