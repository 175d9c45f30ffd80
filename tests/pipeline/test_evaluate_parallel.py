"""The evaluate step gives the same bytes for any worker count.

Voices, cross-voice columns and reference-feature slices are scored on forked workers and
the plot is drawn on one (neshmm.parallel); every random stream is seeded per task, so
``jobs`` must not change a single byte. Compared: every file evaluate writes, for jobs=1
(all in-process) and jobs=2, and both against what `dvc repro` wrote in the repo.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from neshmm.config import load_params
from neshmm.pipeline import evaluate

pytestmark = pytest.mark.e2e


def outputs(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_jobs_1_and_2_write_identical_files(reproduced_repo: Path, tmp_path: Path):
    cfg = load_params(reproduced_repo / "params.yaml")
    written = {}
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}"
        (out / "metrics").mkdir(parents=True)
        (out / "plots").mkdir()
        evaluate.run(dataclasses.replace(cfg, jobs=jobs), reproduced_repo / "data/tokens", reproduced_repo / "models",
                     reproduced_repo / "samples", out / "metrics", out / "plots", prepared=reproduced_repo / "data/prepared")
        written[jobs] = outputs(out)
    assert "metrics/mgeval.json" in written[1] and "plots/pitch_hist.png" in written[1]
    assert written[1].keys() == written[2].keys()
    for name in written[1]:
        assert written[1][name] == written[2][name], name
        assert written[1][name] == (reproduced_repo / name).read_bytes(), name
