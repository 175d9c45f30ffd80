"""Fixtures shared by the whole suite (helpers they use live in tests/helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from filelock import FileLock

from helpers import clone_of, dvc, init_repo, sh


@pytest.fixture(scope="session")
def reproduced_repo(tmp_path_factory, worker_id) -> Path:
    """A repo where `dvc repro` has run once on the small demo and everything is committed.

    Built once per test session, whatever the number of xdist workers (the first worker to
    need it builds it under a file lock; each worker then works on its own copy, so two
    workers never run DVC in one repo). Tests that change it work on a further copy from
    :func:`clone_of` (fixture ``repro_copy``).
    """
    own = tmp_path_factory.mktemp("e2e") / "repo"
    if worker_id == "master":  # not under xdist
        return _build_reproduced(own)
    shared = tmp_path_factory.getbasetemp().parent / "reproduced-repo"
    done = shared.with_name(shared.name + ".done")
    with FileLock(str(shared) + ".lock"):
        if not done.exists():
            _build_reproduced(shared)
            done.touch()
    return clone_of(shared, own)


def _build_reproduced(repo: Path) -> Path:
    init_repo(repo)
    dvc(repo, "repro")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "first run")
    return repo


@pytest.fixture
def repro_copy(reproduced_repo, tmp_path) -> Path:
    return clone_of(reproduced_repo, tmp_path / "repo")
