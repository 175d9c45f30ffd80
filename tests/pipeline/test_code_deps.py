"""Every stage's code deps in dvc.yaml cover the code it runs, by the import closure."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from helpers import ROOT
from neshmm.pipeline.code_deps import closure

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def covered(path: Path, deps: list[str]) -> bool:
    return any(path == Path(d) or Path(d) in path.parents for d in deps)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_dvc_yaml_deps_cover_the_stage_import_closure(stage):
    module = re.search(r"python -m (stages\.\w+)", STAGES[stage]["cmd"]).group(1)
    deps = [d for d in STAGES[stage]["deps"] if isinstance(d, str)]
    files = closure([module])
    assert Path(module.replace(".", "/") + ".py") in files
    missing = [str(f) for f in files if not covered(f, deps)]
    assert not missing, f"dvc.yaml stage {stage} lacks code deps: {missing}"


def test_closure_follows_imports_inside_functions_and_the_model_registry(tmp_path):
    pkg = tmp_path / "neshmm"
    (pkg / "models").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from neshmm import b\n    from .models import registry\n")
    (pkg / "b.py").write_text("import os\n")
    (pkg / "c.py").write_text("")  # never imported
    (pkg / "models" / "__init__.py").write_text("")
    (pkg / "models" / "registry.py").write_text("")
    files = {p.as_posix() for p in closure(["neshmm.a"], root=tmp_path)}
    assert files == {"neshmm/__init__.py", "neshmm/a.py", "neshmm/b.py", "neshmm/models/__init__.py",
                     "neshmm/models/registry.py"} | {f"neshmm/models/{m}.py" for m in ()}


def test_sweep_cache_key_changes_with_code_the_job_runs_only():
    from neshmm.sweep.cache import code_version  # noqa: F401 - imported for its closure below

    files = {p.as_posix() for p in closure(["neshmm.sweep.job"])}
    assert {"neshmm/pipeline/train.py", "neshmm/models/sampling.py", "neshmm/evaluation/metrics.py"} <= files
    assert not files & {"neshmm/sweep/summary.py", "neshmm/sweep/plot.py", "neshmm/audio/synth.py"}
