"""Fixtures shared by the whole suite (helpers they use live in tests/helpers.py)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from filelock import FileLock

from helpers import clone_of, dvc, init_repo, sh


def _shared_repo_path(basetemp: Path) -> Path:
    return basetemp / "reproduced-repo"


def _build_shared(shared: Path) -> None:
    """Build the shared reproduced repo once, whoever asks first (under a file lock)."""
    done = shared.with_name(shared.name + ".done")
    with FileLock(str(shared) + ".lock"):
        if not done.exists():
            _build_reproduced(shared)
            done.touch()


def pytest_sessionstart(session):
    """Under xdist, start building the shared reproduced repo in the background at once.

    Why: every worker's first end-to-end test needs it, and building it takes ~30 s of
    `dvc repro`; built on first use, both workers used to sit idle waiting for it. Started
    here, in the controlling process (which only schedules tests), it is built while the
    workers run the unit tests that come first. Only for whole-suite runs (no path, -k or
    -m given), where the e2e tests are certainly selected.
    """
    config = session.config
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return  # an xdist worker, or not under xdist
    if config.args_source is not pytest.Config.ArgsSource.TESTPATHS or config.option.keyword or config.option.markexpr:
        return
    shared = _shared_repo_path(config._tmp_path_factory.getbasetemp())
    threading.Thread(target=_build_shared, args=(shared,), name="build-reproduced-repo", daemon=True).start()


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
    shared = _shared_repo_path(tmp_path_factory.getbasetemp().parent)
    _build_shared(shared)
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
