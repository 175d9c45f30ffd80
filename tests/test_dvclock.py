"""neshmm.dvclock flags a dvc.lock cut short at any byte, as DVC's own loader would fail on it."""

from __future__ import annotations

import subprocess
import sys

import yaml

from helpers import ROOT, tool_env
from neshmm.dvclock import problem

LOCK = {
    "schema": "2.0",
    "stages": {
        "scan": {"cmd": "python -m stages.scan", "deps": [{"path": "stages/scan.py", "hash": "md5", "md5": "ab" * 16, "size": 10}],
                 "params": {"params.yaml": {"data.path": "data/raw/demo"}},
                 "outs": [{"path": "data/manifest.json", "hash": "md5", "md5": "cd" * 16, "size": 99}]},
        "prepare": {"cmd": "python -m stages.prepare", "deps": [{"path": "data/manifest.json", "hash": "md5", "md5": "cd" * 16, "size": 99}],
                    "outs": [{"path": "data/prepared", "hash": "md5", "md5": "ef" * 16 + ".dir", "size": 1, "nfiles": 4}]},
    },
}


def dvc_rejects(text: str) -> bool:
    """What DVC's own loader says (its lock schema, as `dvc repro` applies it)."""
    from dvc.schema import COMPILED_LOCKFILE_SCHEMA

    try:
        COMPILED_LOCKFILE_SCHEMA(yaml.safe_load(text) or {})
        return False
    except Exception:  # voluptuous Invalid, or YAML that does not parse
        return True


def test_every_truncation_dvc_cannot_load_is_reported(tmp_path):
    """Cuts DVC still loads (e.g. in the middle of a value) only make it rerun a stage;
    every cut it rejects, which would stop the next `dvc repro`, is flagged."""
    text = yaml.safe_dump(LOCK, sort_keys=False)
    path = tmp_path / "dvc.lock"
    path.write_text(text)
    assert problem(path) is None and not dvc_rejects(text)
    rejected = 0
    for n in range(len(text)):
        path.write_text(text[:n])
        if dvc_rejects(text[:n]):
            rejected += 1
            assert problem(path) is not None, text[:n]
    assert rejected > 50


def test_cli_says_what_to_do_in_one_line_and_fix_removes_an_untracked_lock(tmp_path):
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages:\n  scan:\n")
    env = {**tool_env(), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "neshmm.dvclock"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    assert "python -m neshmm.dvclock --fix" in proc.stderr
    fixed = subprocess.run([sys.executable, "-m", "neshmm.dvclock", "--fix"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert fixed.returncode == 0 and "removed" in fixed.stdout and not (tmp_path / "dvc.lock").exists()
