"""Interrupted runs and concurrent writers never leave a truncated or mixed artifact.

- In a copy of a reproduced repo, ``dvc repro -f -s <stage>`` of a seeded random stage is
  SIGKILLed (the whole process group: DVC and the stage it runs) after a seeded random
  delay, several times. After each kill every output file is either the complete file of
  the uninterrupted run or absent, never a half-written one; a plain ``dvc repro`` then
  finishes with exactly the uninterrupted run's hashes. Forcing single stages keeps the
  test short (each attempt costs one stage) while the kills land inside every stage.
- Several processes write the same file (or folder) through neshmm.atomic at once while
  another reads it: every read sees one writer's complete content (the sweep cache and
  every stage output rely on this primitive).
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neshmm import atomic

from helpers import changed_stages, dvc, sh, tool_env

# Outputs of every stage up to `evaluate` (render is left out to keep the test short).
OUTPUT_DIRS = ("data/raw/demo", "data/prepared", "data/tokens", "models", "samples", "metrics")
TARGET = "evaluate"
STAGES = ("demo", "prepare", "tokenize", "train@p1-model", "train@no-baseline", "sample", "evaluate")


def output_hashes(repo: Path) -> dict[str, str]:
    """sha256 of every output file, leaving out the hidden *.tmp leftovers of a kill
    (git- and DVC-ignored, see .gitignore and .dvcignore)."""
    out = {}
    for top in OUTPUT_DIRS:
        for p in sorted((repo / top).rglob("*")):
            rel = p.relative_to(repo)
            if p.is_file() and p.name != ".gitignore" and not any(part.endswith(".tmp") for part in rel.parts):
                out[rel.as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def repro_killed_after(repo: Path, args: list[str], delay: float, log: Path) -> str:
    """:func:`repro_signalled_after` with SIGKILL; returns "killed" or "finished"."""
    where = repro_signalled_after(repo, args, delay, signal.SIGKILL, log)
    return "killed" if where == "interrupted" else where


def finish_repro(repo: Path, *targets: str) -> None:
    """What a user does after a kill: run `dvc repro` again.

    DVC itself ignores the rwlock entries of dead processes and its `.dvc/tmp/lock` is an
    OS lock that dies with the process. Only a kill in the middle of DVC's own (non-atomic)
    write of dvc.lock can leave that file unreadable; `python -m neshmm.dvclock` says so in
    one line and `--fix` restores or removes it, and the run cache then restores every stage
    that had finished.
    """
    targets = targets or (TARGET,)
    proc = dvc(repo, "repro", *targets, check=False)
    if proc.returncode != 0:
        check = sh(repo, sys.executable, "-m", "neshmm.dvclock", check=False)
        assert check.returncode == 1 and len(check.stderr.strip().splitlines()) == 1, (proc.stderr, check.stderr)
        sh(repo, sys.executable, "-m", "neshmm.dvclock", "--fix")
        proc = dvc(repo, "repro", *targets, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def repro_signalled_after(repo: Path, args: list[str], delay: float, sig: int, log: Path,
                          timing: list[float] | None = None) -> str:
    """Start `dvc repro ARGS` in its own process group; once DVC has started the stage's
    command, send ``sig`` to the whole group ``delay`` seconds later (SIGINT is what a
    terminal's Ctrl-C sends to DVC and the stage it runs; a run that outlives it a minute
    is SIGKILLed).

    Waiting for DVC's "Running stage" line first makes the signal land in the stage (or in
    DVC's bookkeeping right after it) whatever the machine's speed. Returns "interrupted",
    or "finished" when the run was done before the delay was over (then the seconds it
    took from that line are appended to ``timing``, if given).
    """
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dvc", "repro", *args], cwd=repo, env=tool_env(),
            stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while "Running stage '" not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        try:
            proc.wait(timeout=delay)
            if timing is not None:
                timing.append(time.monotonic() - started)
            return "finished"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return "interrupted"


def leftovers(repo: Path) -> list[str]:
    """Temporary files or folders of our atomic writes anywhere in the work tree."""
    return sorted(
        p.relative_to(repo).as_posix() for p in repo.rglob("*.tmp")
        if not p.relative_to(repo).as_posix().startswith((".dvc/", ".git/", ".cache/"))
    )


@pytest.mark.e2e
def test_ctrl_c_and_kill_at_random_moments_then_repro_converges_to_the_clean_lock(repro_copy, reproduced_repo, tmp_path):
    """SIGINT (Ctrl-C) and SIGKILL at seeded random moments, render included; then the
    documented recovery gives back the uninterrupted run's dvc.lock, byte for byte, and no
    temporary file is left (the next run of a stage, or the scan every repro runs, removes
    the leftovers of dead writers)."""
    repo = repro_copy
    clean_lock = (reproduced_repo / "dvc.lock").read_bytes()
    rng = random.Random(16)
    # The moments are drawn within each stage's own run time on this machine (measured once,
    # uninterrupted): fixed seconds would miss stages that got faster, or never reach late ones.
    choices = ("render", "render", "sample", "prepare", "evaluate", "tokenize")
    run_time = {}
    for stage in sorted(set(choices)):
        timing: list[float] = []
        repro_signalled_after(repo, ["-f", "-s", stage], 600, signal.SIGKILL, tmp_path / f"{stage}.log", timing)
        run_time[stage] = timing[0]
    outcomes = []
    for attempt in range(6):
        stage = rng.choice(choices)
        sig = rng.choice((signal.SIGINT, signal.SIGKILL))
        delay = rng.uniform(0.0, run_time[stage])
        where = repro_signalled_after(repo, ["-f", "-s", stage], delay, sig, tmp_path / f"{attempt}.log")
        text = (tmp_path / f"{attempt}.log").read_text()
        assert "Traceback" not in text, text  # Ctrl-C in a stage: one line, no traceback
        outcomes.append((stage, signal.Signals(sig).name, round(delay, 2), where))
    print(f"signals (stage, signal, delay, outcome): {outcomes}")
    assert sum(o[-1] == "interrupted" for o in outcomes) >= 2, outcomes
    finish_repro(repo, "render")
    assert (repo / "dvc.lock").read_bytes() == clean_lock
    assert changed_stages(repo) == set()
    assert leftovers(repo) == []


@pytest.mark.e2e
def test_sigkilled_stages_leave_whole_files_and_repro_restores_identical_hashes(repro_copy, reproduced_repo, tmp_path):
    reference = output_hashes(reproduced_repo)
    repo = repro_copy
    assert output_hashes(repo) == reference
    rng = random.Random(20240605)
    outcomes = []
    for attempt in range(8):
        stage, delay = rng.choice(STAGES), rng.uniform(0.0, 1.5)
        outcomes.append((stage, round(delay, 2), repro_killed_after(repo, ["-f", "-s", stage], delay, tmp_path / f"{attempt}.log")))
        for path, digest in output_hashes(repo).items():
            assert digest == reference.get(path), (
                f"after killing {stage} at {delay:.2f} s: {path} is not the complete file of an uninterrupted run"
            )
    print(f"kills (stage, delay, where): {outcomes}")
    assert sum(where == "killed" for _, _, where in outcomes) >= 2, outcomes
    finish_repro(repo)
    assert output_hashes(repo) == reference
    assert changed_stages(repo, TARGET) == set()


# --- concurrent writers of one file ---------------------------------------------------------


def _writer(path: str, tag: int, rounds: int, barrier) -> None:
    barrier.wait()
    for i in range(rounds):
        # Big enough that a torn write would be visible, and self-checking: every byte
        # of one version equals its first byte.
        atomic.write_bytes(path, bytes([tag * 16 + i % 16]) * 200_000)


def _reader(path: str, stop, bad, reads, barrier) -> None:
    barrier.wait()
    while not stop.is_set():
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            bad.value += 1  # the file must never disappear once it exists
            continue
        reads.value += 1
        if len(data) != 200_000 or data.count(data[:1]) != len(data):
            bad.value += 1


def test_concurrent_atomic_writers_never_tear_the_shared_file(tmp_path):
    path = tmp_path / "cache" / "entry.bin"
    atomic.write_bytes(path, bytes([0]) * 200_000)
    ctx = mp.get_context("fork")
    writers = 4
    barrier, stop, bad, reads = ctx.Barrier(writers + 1), ctx.Event(), ctx.Value("i", 0), ctx.Value("i", 0)
    procs = [ctx.Process(target=_writer, args=(str(path), w + 1, 40, barrier)) for w in range(writers)]
    reader = ctx.Process(target=_reader, args=(str(path), stop, bad, reads, barrier))
    for p in procs + [reader]:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    stop.set()
    reader.join(60)
    assert bad.value == 0 and reads.value > 0
    data = path.read_bytes()
    assert data.count(data[:1]) == 200_000 and data[0] // 16 in range(1, writers + 1)
    # No temporary file is left behind by writers that finished.
    assert [p.name for p in path.parent.iterdir()] == ["entry.bin"]


def _dir_writer(path: str, tag: int, rounds: int, barrier) -> None:
    barrier.wait()
    for i in range(rounds):
        with atomic.atomic_dir(path) as tmp:
            for name in ("a", "b", "c"):
                (tmp / name).write_text(f"{tag}-{i}")


def test_atomic_dir_swaps_a_whole_folder_even_with_concurrent_writers(tmp_path):
    path = tmp_path / "out"
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(4)  # 4 x 100 swaps: a naive "move old away, rename new in" fails here
    procs = [ctx.Process(target=_dir_writer, args=(str(path), w, 100, barrier)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    contents = {(path / n).read_text() for n in ("a", "b", "c")}
    assert len(contents) == 1  # one writer's complete folder, never a mix
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_write_that_fails_keeps_the_previous_file(tmp_path):
    path = tmp_path / "x.json"
    atomic.write_json(path, {"v": 1})
    with pytest.raises(ValueError):
        atomic.write_json(path, {"v": float("nan")})  # allow_nan=False refuses it mid-write
    assert path.read_text() == '{\n  "v": 1\n}\n'
    with pytest.raises(RuntimeError):
        with atomic.atomic_dir(tmp_path / "d") as tmp:
            (tmp / "half").write_text("x")
            raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]
