"""Fixtures shared by the whole suite (helpers they use live in tests/helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import clone_of, dvc, init_repo, sh


@pytest.fixture(scope="session")
def reproduced_repo(tmp_path_factory) -> Path:
    """A repo where `dvc repro` has run once on the small demo and everything is committed.

    Session-scoped because a repro is the expensive part; tests that change it work on a
    copy from :func:`clone_of`.
    """
    repo = init_repo(tmp_path_factory.mktemp("e2e") / "repo")
    dvc(repo, "repro")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "first run")
    return repo


@pytest.fixture
def repro_copy(reproduced_repo, tmp_path) -> Path:
    return clone_of(reproduced_repo, tmp_path / "repo")
