"""A change to library code marks exactly the stages that run it as changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import changed_stages

pytestmark = pytest.mark.e2e


def test_editing_the_sampler_marks_sample_changed(repro_copy: Path):
    assert changed_stages(repro_copy) == set()
    sampler = repro_copy / "neshmm/models/sampling.py"
    sampler.write_text(sampler.read_text() + "\n# an edit to the sampler\n")
    changed = changed_stages(repro_copy)
    assert "sample" in changed, changed
    assert {"evaluate", "render"} <= changed  # they import the model code too
    (repro_copy / "neshmm/audio/synth.py").write_text((repro_copy / "neshmm/audio/synth.py").read_text() + "\n# x\n")
    sampler.write_text(sampler.read_text().replace("\n# an edit to the sampler\n", ""))
    assert changed_stages(repro_copy) == {"render"}
