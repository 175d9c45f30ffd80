"""Shared test helpers: real git + DVC repositories made from this checkout, tool environments.

End-to-end tests never touch the working tree: they copy the project's files (tracked and
untracked, minus ignored ones) into a temp dir, shrink the demo config there so a full
``dvc repro`` takes seconds, and run real ``git`` and ``dvc`` in it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NESMDB_DIR = Path(os.environ.get("NESMDB_DIR", ROOT.parent / "shared" / "nesmdb_midi"))

# Small enough for seconds per repro, big enough that every voice trains.
SMALL_CONF = {
    "demo/default.yaml": {"n_train": 16, "n_valid": 4, "n_test": 4},
    "model/hmm.yaml": {"n_components": 4, "n_iter": 8},
    "sample/default.yaml": {"n_samples": 2, "beats": 32.0},
    "render/default.yaml": {"max_per_role": 1, "n_reference": 1},
}


def tool_env() -> dict[str, str]:
    """Environment in which `python`, `dvc` and `git` are this interpreter's and quiet."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(
        DVC_NO_ANALYTICS="1",
        DVC_SITE_CACHE_DIR=str(Path(os.environ.get("TMPDIR", "/tmp")) / "neshmm-dvc-site"),
        GIT_AUTHOR_NAME="neshmm test",
        GIT_AUTHOR_EMAIL="test@neshmm.invalid",
        GIT_COMMITTER_NAME="neshmm test",
        GIT_COMMITTER_EMAIL="test@neshmm.invalid",
        PYTHONHASHSEED="0",
    )
    env.pop("PYTHONPATH", None)
    return env


def sh(cwd: Path, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a command; on failure show its output in the test report."""
    proc = subprocess.run(
        list(args), cwd=cwd, env=tool_env(), capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


def dvc(cwd: Path, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    return sh(cwd, sys.executable, "-m", "dvc", *args, check=check, timeout=timeout)


def project_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    return [f for f in out if f and (ROOT / f).is_file()]


def set_conf(repo: Path, rel: str, **values) -> None:
    """Edit one conf/ file in place (a real user edit), keeping the other keys."""
    path = repo / "conf" / rel
    data = yaml.safe_load(path.read_text()) or {}
    data.update(values)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def compose_params(repo: Path) -> None:
    sh(repo, sys.executable, "-m", "neshmm.params")


def copy_project(dest: Path, small: bool = True) -> Path:
    for rel in project_files():
        if rel.startswith(("data/raw/demo/", "data/prepared/", "data/tokens/", "models/", "samples/")):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    for rel in ("dvc.lock",):
        (dest / rel).unlink(missing_ok=True)
    if small:
        for rel, values in SMALL_CONF.items():
            set_conf(dest, rel, **values)
    compose_params(dest)
    return dest


def init_repo(dest: Path, small: bool = True) -> Path:
    """A fresh git + DVC repo holding this project, first commit made, nothing run yet."""
    copy_project(dest, small=small)
    sh(dest, "git", "init", "-q", "-b", "main")
    if not (dest / ".dvc").exists():
        dvc(dest, "init", "-q")
    dvc(dest, "config", "hydra.enabled", "true")
    sh(dest, "git", "add", "-A")
    sh(dest, "git", "commit", "-qm", "project")
    return dest


def clone_of(repo: Path, dest: Path) -> Path:
    """A full copy (work tree, .git, DVC cache) so a test can change it freely."""
    shutil.copytree(repo, dest, symlinks=True)
    return dest


def requires_nesmdb():
    return pytest.mark.skipif(
        not (NESMDB_DIR / "train").is_dir(),
        reason=f"real NES-MDB not found at {NESMDB_DIR} (set NESMDB_DIR)",
    )


# Stage `scan` is `always_changed` (it lists the raw corpus, which DVC must not hash), so
# `dvc status` always names it and every `dvc repro` runs it; nothing else may be listed.
ALWAYS_RUNS = {"scan"}


def changed_stages(repo: Path, *targets: str) -> set[str]:
    """Stages `dvc status` reports as changed, leaving out scan's standing "always changed"."""
    import json

    status = json.loads(dvc(repo, "status", "--json", *targets).stdout or "{}")
    return {s for s, why in status.items() if not (s in ALWAYS_RUNS and why == ["always changed"])}
