"""`python -m stages.sweep` as a user runs it: Hydra multirun, launchers, sweeper, resume."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import clone_of, copy_project, sh, tool_env

pytestmark = pytest.mark.e2e

VOICES = ("p1", "p2", "tr", "no")
# Outputs of the DVC pipeline that a sweep must leave exactly as they are.
PIPELINE_FILES = ("params.yaml", "dvc.lock", "models", "samples", "metrics", "data", "plots", "render")


def sweep(repo: Path, *overrides: str, check: bool = True) -> subprocess.CompletedProcess:
    return sh(repo, sys.executable, "-m", "stages.sweep", "-m", *overrides, check=check)


def results(sweep_dir: Path) -> dict[int, dict]:
    return {int(p.parent.name): json.loads(p.read_text()) for p in sweep_dir.glob("*/result.json")}


def summary_rows(sweep_dir: Path) -> list[dict]:
    with open(sweep_dir / "summary.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def tree_hashes(repo: Path) -> dict[str, str]:
    out = {}
    for top in PIPELINE_FILES:
        root = repo / top
        paths = [root] if root.is_file() else sorted(root.rglob("*")) if root.is_dir() else []
        for p in paths:
            if p.is_file():
                out[str(p.relative_to(repo))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def grid(reproduced_repo, tmp_path_factory):
    """A repo after `dvc repro`, then the grid {0, 3, 4} x {hmm, markov}: 0 is invalid for an HMM."""
    repo = clone_of(reproduced_repo, tmp_path_factory.mktemp("sweep") / "repo")
    before = tree_hashes(repo)
    proc = sweep(repo, "model.n_components=0,3,4", "model=hmm,markov", "hydra.sweep.dir=multirun/grid", check=False)
    return repo, before, proc


def test_grid_writes_one_result_per_job_and_a_summary(grid):
    repo, _, proc = grid
    d = repo / "multirun/grid"
    assert set(results(d)) == {1, 2, 3, 4, 5}
    # One corpus, parsed once and tokenized once, for all jobs.
    assert [len(list((repo / ".cache/neshmm" / kind).iterdir())) for kind in ("prepared", "tokens")] == [1, 1]
    # Progress: one line per finished job with its figures.
    lines = [line for line in proc.stdout.splitlines() if line.startswith("job ")]
    assert len(lines) == 5 and all("held-out log-lik/beat p1" in line and "KL pitch" in line for line in lines)
    rows = summary_rows(d)
    assert [r["job"] for r in rows] == ["0", "1", "2", "3", "4", "5"]
    assert [r["status"] for r in rows] == ["failed"] + ["ok"] * 5
    assert [r["model"] for r in rows] == ["", "markov", "hmm", "markov", "hmm", "markov"]
    # The Markov chain has no hidden states: the three Markov jobs are one run, computed once.
    markov = [results(d)[j] for j in (1, 3, 5)]
    assert [m["ignored"] for m in markov] == [["model.n_components"]] * 3
    assert [m["cached"] for m in markov] == [False, True, True]
    assert {f"loglik_{v}" for v in VOICES} | {f"kl_{v}" for v in VOICES} | {"fit_s", "converged"} <= set(rows[0])
    md = (d / "summary.md").read_text()
    best = max(rows[1:], key=lambda r: float(r["loglik_mean"]))
    assert "**Best configuration** (highest mean held-out log-likelihood" in md
    assert f"job {best['job']}, `{best['overrides']}`" in md and "Pareto front" in md
    assert (d / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_invalid_job_fails_alone_with_one_line(grid):
    repo, _, proc = grid
    assert proc.returncode == 1
    assert "job 0 [model.n_components=0 model=hmm] failed: model.n_components=0: must be an integer >= 1" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    error = json.loads((repo / "multirun/grid/0/error.json").read_text())
    assert error["status"] == "failed" and not (repo / "multirun/grid/0/result.json").exists()
    md = (repo / "multirun/grid/summary.md").read_text()
    assert "- job 0 `model.n_components=0 model=hmm`: failed: model.n_components=0: must be" in md


def test_sweep_leaves_the_dvc_pipeline_untouched(grid):
    repo, before, _ = grid
    assert tree_hashes(repo) == before
    assert sh(repo, "git", "status", "--porcelain").stdout == ""  # multirun/ and .cache/ are ignored


def test_sweep_figures_equal_the_dvc_pipeline(grid):
    """Job 4 has the committed config (hmm, n_components=4): same numbers as `dvc repro`."""
    repo, _, _ = grid
    job = results(repo / "multirun/grid")[4]
    kl = json.loads((repo / "metrics/kl.json").read_text())
    ll = json.loads((repo / "metrics/loglik.json").read_text())
    for v in VOICES:
        for role, name in (("model", "hmm"), ("baseline", "markov")):
            got = job["voices"][v][role]
            assert got["kl_pitch"] == pytest.approx(kl[v][name]["kl_pitch"], rel=1e-12)
            assert got["heldout_loglik_per_beat"] == pytest.approx(ll[v][name]["heldout_loglik_per_beat"], rel=1e-12)


def test_rerun_reuses_every_finished_job(grid):
    repo, _, _ = grid
    proc = sweep(repo, "model.n_components=3,4", "hydra.sweep.dir=multirun/again")
    again = results(repo / "multirun/again")
    assert all(r["cached"] for r in again.values()) and len(again) == 2
    assert proc.stdout.count("reused from cache") == 2
    first = results(repo / "multirun/grid")
    assert again[0]["voices"] == first[2]["voices"] and again[1]["voices"] == first[4]["voices"]
    latest = sh(repo, sys.executable, "-m", "stages.sweep_summary", "--latest").stdout
    assert latest.startswith("sweep multirun/again: 2 jobs, 2 finished")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The project without git or DVC (a sweep needs neither); tests share its cache."""
    return copy_project(tmp_path_factory.mktemp("sweep-project") / "project")


def test_killed_sweep_resumes_without_half_written_results(project: Path):
    slow = ("model.n_components=12", "model.n_iter=30", "sweep.cache_dir=.cache/killed")  # own cache
    proc = subprocess.Popen(
        [sys.executable, "-m", "stages.sweep", "-m", *slow, "hydra.sweep.dir=multirun/killed"],
        cwd=project, env=tool_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    runs, scratch = project / ".cache/killed/runs", project / ".cache/killed/tmp"
    try:
        deadline = time.monotonic() + 300
        while not list(scratch.glob("runs-*")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the job finished before it could be interrupted"
        os.killpg(proc.pid, signal.SIGKILL)  # no cleanup code runs
    finally:
        proc.wait(30)
    assert not runs.exists() or list(runs.iterdir()) == []  # no entry, only scratch
    assert not (project / "multirun/killed/0/result.json").exists()
    out = sh(project, sys.executable, "-m", "stages.sweep_summary", "multirun/killed").stdout
    assert "1 unfinished" in out
    resumed = sweep(project, *slow, "hydra.sweep.dir=multirun/resumed")
    assert "reused from cache" not in resumed.stdout and results(project / "multirun/resumed")[0]["status"] == "ok"
    assert len(list(runs.iterdir())) == 1 and list(scratch.glob("runs-*")) == []  # scratch cleaned


def test_joblib_launcher_runs_jobs_in_parallel_processes(project: Path):
    # Two training subsets (data.seed): two token sets from one prepared corpus, built by
    # two processes at once (one waits for the other's prepare through the cache lock).
    proc = sweep(project, "hydra/launcher=parallel", "sweep.n_jobs=2", "model.n_components=3", "data.seed=5,6",
                 "hydra.sweep.dir=multirun/par")
    assert "Joblib.Parallel(n_jobs=2" in proc.stdout + proc.stderr
    got = results(project / "multirun/par")
    assert sorted(got) == [0, 1] and all(not r["cached"] for r in got.values())
    assert [r["status"] for r in summary_rows(project / "multirun/par")] == ["ok", "ok"]
    cache = project / ".cache/neshmm"
    assert len(list((cache / "prepared").iterdir())) == 1
    seeds = [json.loads((d / "inputs.json").read_text())["params"]["data.seed"] for d in (cache / "tokens").iterdir()]
    assert sorted(s for s in seeds if s in (5, 6)) == [5, 6]


def test_submitit_local_launcher(project: Path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="extra [slurm] not installed")
    sweep(project, "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", "model.n_components=6",
          "hydra.sweep.dir=multirun/sub")
    assert results(project / "multirun/sub")[0]["status"] == "ok"
    assert list((project / "multirun/sub/.submitit").glob("*/*_log.out"))
    assert [r["status"] for r in summary_rows(project / "multirun/sub")] == ["ok"]


def test_optuna_sweeper_maximizes_heldout_loglik(project: Path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="extra [optuna] not installed")
    sweep(project, "hydra/sweeper=optuna_loglik", "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=1",
          "model.n_components=choice(3,5)", "model.n_iter=4", "hydra.sweep.dir=multirun/opt")
    d = project / "multirun/opt"
    import yaml

    best = yaml.safe_load((d / "optimization_results.yaml").read_text())
    objectives = [r["objective"] for r in results(d).values()]
    assert best["best_value"] == pytest.approx(max(objectives))


def test_two_sweeps_started_in_the_same_second_get_their_own_folders(tmp_path):
    """The default sweep folder was multirun/<date>/<HH-MM-SS>/: two sweeps started in one
    second wrote into the same job folders. A per-sweep suffix (PID + random) keeps them apart
    and never reaches a result or a cache key."""
    repo = copy_project(tmp_path / "repo")
    cmd = [sys.executable, "-m", "stages.sweep", "-m", "model=markov", "baseline.alpha=0.5,1.0"]
    # One with the joblib launcher: its worker processes must see the suffix the launching
    # process resolved, or their results land outside the sweep folder.
    extra = [[], ["hydra/launcher=parallel", "sweep.n_jobs=2"]]
    procs = [subprocess.Popen(cmd + e, cwd=repo, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for e in extra]
    outs = [p.communicate(timeout=900) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    dirs = sorted(p.parent for p in (repo / "multirun").rglob("multirun.yaml"))
    assert len(dirs) == 2, dirs
    assert all(re.fullmatch(r"\d\d-\d\d-\d\d-\d+-[0-9a-f]{4}", d.name) for d in dirs), dirs
    for d in dirs:
        assert [r["status"] for r in summary_rows(d)] == ["ok", "ok"]
        assert sorted(results(d)) == [0, 1]
    same_config = [{k: v for k, v in results(d)[0].items() if k in ("config", "voices")} for d in dirs]
    assert same_config[0] == same_config[1]  # the folder name changes no result
