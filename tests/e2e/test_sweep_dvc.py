"""A sweep as DVC experiments: queue a grid, run it with queue workers, compare, apply, commit."""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers import changed_stages, dvc, sh

pytestmark = pytest.mark.e2e


def wait_for_queue(repo: Path, timeout: float = 900) -> str:
    """Poll `dvc queue status` until no experiment is queued or running; return the last status."""
    deadline = time.monotonic() + timeout
    while True:
        status = dvc(repo, "queue", "status").stdout
        if not any(state in status for state in ("Queued", "Running")):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"queue still busy after {timeout} s:\n{status}")
        time.sleep(0.5)


def test_queued_grid_runs_compares_applies_and_commits(repro_copy: Path):
    r = repro_copy
    out = dvc(r, "exp", "run", "--queue", "-S", "model.n_components=2,3").stdout
    assert out.count("Queued experiment") == 2
    try:
        dvc(r, "queue", "start", "-j", "2")
        status = wait_for_queue(r)
    finally:
        dvc(r, "queue", "stop", check=False)
    assert status.count("Success") == 2, status

    # Params and metrics side by side, one row per experiment.
    shown = dvc(r, "exp", "show", "--md", "--drop", ".*", "--keep",
                "Experiment|model.n_components|p1.hmm.heldout_loglik_per_beat$|p1.hmm.kl_pitch$").stdout
    assert "model.n_components" in shown and "p1.hmm.heldout_loglik_per_beat" in shown
    assert len(shown.splitlines()[0]) < 140, shown  # the first `dvc exp show` fits a terminal
    assert len([line for line in shown.splitlines() if "[" in line]) == 2  # the two named experiments

    # The same summary table and plot as a Hydra sweep, from the experiments.
    unnamed = sh(r, sys.executable, "-m", "stages.sweep_summary", "--dvc", check=False)
    assert unnamed.returncode == 2
    assert unnamed.stderr.strip() == ("error: --dvc: name the sweep to rank: --vary model.n_components "
                                      "(2 experiments), or --name PREFIX")
    sh(r, sys.executable, "-m", "stages.sweep_summary", "--dvc", "--vary", "model.n_components")
    with open(r / "multirun/dvc-exps/summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(int(row["n_components"]) for row in rows) == [2, 3, 4]  # the commit and 2 experiments
    assert all(row["status"] == "ok" and row["loglik_p1"] for row in rows)
    assert (r / "multirun/dvc-exps/summary.png").exists()
    exps = [row for row in rows if row["name"] != "main"]
    best = max(exps, key=lambda row: float(row["loglik_mean"]))

    # Apply the best experiment, carry its values into conf/, commit.
    dvc(r, "exp", "apply", best["name"])
    changes = sh(r, sys.executable, "-m", "neshmm.sweep.adopt").stdout
    assert f"conf/model/hmm.yaml: n_components = {best['n_components']}" in changes
    sh(r, sys.executable, "-m", "neshmm.params", "--check")
    # conf/ changed, so DVC reruns the cheap `params` check once, besides `scan` (always
    # run: it lists the corpus), and nothing else.
    rerun = dvc(r, "repro").stdout
    ran = [x for x in rerun.splitlines() if x.startswith("Running stage")]
    assert ran == ["Running stage 'params':", "Running stage 'scan':"], rerun
    sh(r, "git", "add", "-A")
    sh(r, "git", "commit", "-qm", f"adopt {best['name']}")
    params = yaml.safe_load((r / "params.yaml").read_text())
    assert params["model"]["n_components"] == int(best["n_components"])
    assert changed_stages(r) == set()
    diff = dvc(r, "metrics", "diff", "HEAD~1", "--md").stdout
    assert "heldout_loglik_per_beat" in diff
