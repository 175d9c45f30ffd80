"""A stage shell imports only what starting needs: the heavy libraries wait until used.

Issue 14 asked for stages that start in under half a second; the time itself is measured by
``python -m benchmarks.repro --startup-only`` (never in a test). What keeps it so is checked
here: importing any stage shell must not pull in hmmlearn/scikit-learn (~1 s), numba,
pandas, matplotlib or scipy.stats, which the steps import inside the functions that use
them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import ROOT, tool_env

STAGES = ("params", "demo", "scan", "prepare", "tokenize", "train", "train_joint", "sample", "evaluate", "render")
HEAVY = ("hmmlearn", "sklearn", "numba", "pandas", "matplotlib", "scipy.stats")


@pytest.mark.parametrize("stage", STAGES)
def test_importing_a_stage_shell_loads_no_heavy_library(stage):
    probe = f"import json, sys, stages.{stage}; print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=tool_env(), capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert json.loads(out.strip().splitlines()[-1]) == [], f"stages.{stage} imports these at start-up"
