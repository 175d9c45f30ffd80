"""Files in the corpus that DVC itself cannot hash, through a real `dvc repro`.

DVC used to hash ``${data.path}`` (a dependency of `prepare`) before any of our code ran: a
FIFO named ``x.mid`` hung it, a dangling or looping symlink, an unreadable file or a
non-UTF-8 name aborted it. Now stage `scan` lists the folder (DVC depends on its manifest
only), so each such file is skipped and counted in data/prepared/report.json, and a second
`dvc repro` reruns nothing but the scan.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from helpers import changed_stages, compose_params, dvc, init_repo, set_conf, sh
from neshmm.data.demo_corpus import generate_corpus

pytestmark = pytest.mark.e2e


def corpus_repo(tmp_path: Path) -> tuple[Path, Path]:
    repo = init_repo(tmp_path / "repo")
    corpus = repo / "corpus"
    generate_corpus(corpus, seed=3, n_train=24, n_valid=3, n_test=2)
    set_conf(repo, "data/demo.yaml", path="corpus")
    compose_params(repo)
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "own corpus")
    return repo, corpus


def report(repo: Path) -> dict:
    return json.loads((repo / "data/prepared/report.json").read_text())


def test_fifo_symlinks_and_non_utf8_name_are_skipped_and_counted(tmp_path):
    repo, corpus = corpus_repo(tmp_path)
    train = corpus / "train"
    os.mkfifo(train / "x.mid")
    (train / "dangling.mid").symlink_to(train / "nowhere.mid")
    (train / "loop_a.mid").symlink_to(train / "loop_b.mid")
    (train / "loop_b.mid").symlink_to(train / "loop_a.mid")
    good = sorted(train.glob("*_Demo_*.mid"))[0]
    bad_name = os.fsencode(train) + b"/caf\xe9.mid"  # Latin-1, not UTF-8
    with open(bad_name, "wb") as fh:
        fh.write(good.read_bytes())
    out = dvc(repo, "repro", "tokenize", timeout=600).stdout  # would hang on the FIFO before
    assert "Running stage 'scan'" in out and "Running stage 'prepare'" in out
    rep = report(repo)["splits"]["train"]
    assert rep["files_found"] == 24 + 5 and rep["files_read"] == 24
    assert rep["files_skipped"] == {"not_a_file": 1, "undecodable_name": 1, "unreadable_file": 3}
    details = {e["file"]: e["detail"] for e in rep["skipped_examples"]}
    assert details["loop_a.mid"] == "symlink loop" and details["dangling.mid"].startswith("broken symlink")
    assert "caf\\xe9.mid" in details
    # Nothing changed: the scan reruns (always_changed), its manifest is the same bytes,
    # so prepare does not; dvc.lock is untouched.
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "first run")
    again = dvc(repo, "repro", "tokenize").stdout
    assert "Stage 'prepare' didn't change, skipping" in again, again
    assert changed_stages(repo, "tokenize") == set()
    assert sh(repo, "git", "status", "--porcelain").stdout == ""
    # A real change is seen: one more good file reruns prepare.
    (train / "extra.mid").write_bytes(good.read_bytes())
    assert "Running stage 'prepare'" in dvc(repo, "repro", "tokenize").stdout
    assert report(repo)["splits"]["train"]["files_read"] == 25


def chmod_blocks_reads(folder: Path) -> bool:
    probe = folder / "probe"
    probe.write_text("x")
    probe.chmod(0)
    try:
        probe.read_text()
        return False
    except PermissionError:
        return True
    finally:
        probe.chmod(stat.S_IRUSR | stat.S_IWUSR)
        probe.unlink()


def test_unreadable_file_is_skipped_and_counted(tmp_path):
    if not chmod_blocks_reads(tmp_path):
        pytest.skip("running as root (or with CAP_DAC_OVERRIDE): chmod 000 does not block reads here")
    repo, corpus = corpus_repo(tmp_path)
    locked = corpus / "train" / "locked.mid"
    locked.write_bytes(sorted((corpus / "train").glob("*.mid"))[0].read_bytes())
    locked.chmod(0)
    dvc(repo, "repro", "tokenize")
    rep = report(repo)["splits"]["train"]
    assert rep["files_skipped"] == {"unreadable_file": 1} and rep["files_read"] == 24


@pytest.mark.parametrize("missing,override,expected", [
    ("valid", [], "corpus/valid: folder missing, but evaluate.heldout=valid, render.reference_split=valid needs it"),
    ("test", ["evaluate/default.yaml", {"heldout": "test"}], "corpus/test: folder missing, but evaluate.heldout=test needs it"),
])
def test_missing_required_split_fails_prepare_in_one_line(tmp_path, missing, override, expected):
    import shutil

    repo, corpus = corpus_repo(tmp_path)
    shutil.rmtree(corpus / missing)
    if override:
        set_conf(repo, override[0], **override[1])
        compose_params(repo)
    proc = dvc(repo, "repro", "prepare", check=False)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error [prepare]")]
    assert len(lines) == 1 and expected in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_optional_test_split_may_be_missing(tmp_path):
    import shutil

    repo, corpus = corpus_repo(tmp_path)
    shutil.rmtree(corpus / "test")
    dvc(repo, "repro", "prepare")
    assert report(repo)["splits"]["test"]["folder_missing"] is True
