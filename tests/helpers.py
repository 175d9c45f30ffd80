"""Shared test helpers (import from here, never from conftest): real git + DVC repositories
made from this checkout, tool environments, hand-built notes.

End-to-end tests never touch the working tree: they copy the project's files (tracked and
untracked, minus ignored ones) into a temp dir, shrink the demo config there so a full
``dvc repro`` takes seconds, and run real ``git`` and ``dvc`` in it.
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from neshmm.data.tokens import Quantizer

ROOT = Path(__file__).resolve().parents[1]


def nesmdb_root() -> Path:
    """NES-MDB's MIDI root: $NESMDB_PATH, else $NESMDB_DIR, else shared/nesmdb_midi beside
    the checkout (or beside its parent folder, for a git worktree under wt/)."""
    env = os.environ.get("NESMDB_PATH") or os.environ.get("NESMDB_DIR")
    if env:
        return Path(env)
    candidates = [p / "shared" / "nesmdb_midi" for p in (ROOT.parent, ROOT.parent.parent)]
    return next((c for c in candidates if c.is_dir()), candidates[0])


NESMDB_DIR = nesmdb_root()

# Small enough for seconds per repro, big enough that every voice trains.
SMALL_CONF = {
    "demo/default.yaml": {"n_train": 16, "n_valid": 4, "n_test": 4},
    "model/hmm.yaml": {"n_components": 4, "n_iter": 8},
    "sample/default.yaml": {"n_samples": 2, "beats": 32.0},
    "render/default.yaml": {"max_per_role": 1, "n_reference": 1},
    "joint/default.yaml": {"n_components": 4, "n_iter": 5},
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

TPB = 22050  # NES-MDB's ticks per beat


def notes(*rows: tuple[float, float, int] | tuple[float, float, int, int], tpb: int = TPB) -> np.ndarray:
    """A voice's ``(n, 4)`` note array from ``(start_beat, end_beat, pitch[, velocity])`` rows."""
    out = []
    for row in rows:
        start, end, pitch, *vel = row
        out.append((int(round(start * tpb)), int(round(end * tpb)), int(pitch), int(vel[0]) if vel else 8))
    return np.array(out, dtype=np.int64).reshape(-1, 4)


def line(pitches, start: float = 0.0, step: float = 1.0, length: float | None = None, tpb: int = TPB) -> np.ndarray:
    """Notes of ``pitches`` one after another every ``step`` beats, each ``length`` beats long."""
    length = step if length is None else length
    return notes(*((start + k * step, start + k * step + length, p) for k, p in enumerate(pitches)), tpb=tpb)


def run_module(module: str, *args: str, tmp_path, timeout: float = 900, real: bool = False) -> str:
    """Run ``python -m module args`` from the checkout and return its stdout; fail with its output.

    Unless ``real``, NES-MDB is hidden (``NESMDB_PATH``/``NESMDB_DIR`` point nowhere) so the
    scripts fall back to a demo corpus made under ``tmp_path``.
    """
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ)
    if not real:
        env["NESMDB_DIR"] = env["NESMDB_PATH"] = str(Path(tmp_path) / "no-nesmdb-here")
    env["TMPDIR"] = str(tmp_path)
    env["PYTHONPATH"] = str(root)
    env.setdefault("PYTHONHASHSEED", "0")
    proc = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=root, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"{module} failed\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    return proc.stdout

# Two ticks per beat: at tempo 120 one tick is exactly 0.25 s, i.e. 25 piano-roll frames of
# 10 ms, and a 4/4 bar is 8 ticks, so every MGEval feature can be worked out by hand.
TINY_TPB = 2


def tiny_pieces() -> list[np.ndarray]:
    """Three short pieces, notes as (start, end, pitch, velocity) in ticks at TINY_TPB."""
    a = [[0, 2, 60, 10], [2, 4, 62, 10], [4, 5, 67, 5], [6, 8, 72, 10]]
    b = [[0, 4, 64, 8], [4, 6, 64, 8], [8, 9, 65, 8], [9, 11, 67, 8], [12, 16, 60, 8]]
    c = [[0, 1, 60, 10], [1, 2, 61, 10], [3, 6, 60, 10], [8, 16, 48, 10]]
    return [np.array(p, dtype=np.int64) for p in (a, b, c)]


def random_ids(rng: np.random.Generator, n_symbols, n_frames: int) -> np.ndarray:
    """Uniform ids ``(n_frames, len(n_symbols))``, column ``s`` in ``0..n_symbols[s]-1``."""
    return np.stack([rng.integers(0, n, n_frames) for n in n_symbols], axis=1).astype(np.int64)


def patterned_ids(n_symbols, lengths, seed: int = 0) -> np.ndarray:
    """Ids with structure an HMM can find: each voice cycles through a few symbols in step
    with the others, with 10% noise; id 0 (<unk>) and the largest id never occur."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in lengths:
        phase = rng.integers(0, 4)
        t = (np.arange(n) + phase) % 4
        cols = [1 + (t * (s + 1)) % (k - 2) for s, k in enumerate(n_symbols)]
        x = np.stack(cols, axis=1)
        noise = rng.random(x.shape) < 0.1
        x[noise] = (1 + rng.integers(0, 10**6, noise.sum()) % (np.asarray(n_symbols) - 2)[np.nonzero(noise)[1]])
        rows.append(x)
    return np.concatenate(rows).astype(np.int64)


# MIDI files built byte by byte, so each test shows which bytes are wrong (no committed binaries).


def vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def chunk(kind: bytes, body: bytes) -> bytes:
    return kind + len(body).to_bytes(4, "big") + body


def track(events: list[tuple[int, bytes]]) -> bytes:
    """An MTrk chunk from (absolute tick, event bytes), stable-sorted by tick, + end of track."""
    body, now = b"", 0
    for tick, ev in sorted(events, key=lambda e: e[0]):
        body += vlq(tick - now) + ev
        now = tick
    return chunk(b"MTrk", body + b"\x00\xff\x2f\x00")


def name_event(name: str) -> bytes:
    raw = name.encode("latin-1")
    return b"\xff\x03" + vlq(len(raw)) + raw


def note_track(name: str, program: int | None, notes, channel: int = 0) -> bytes:
    """A named track; notes are (start, end, pitch, velocity). Note-offs sort before
    note-ons at the same tick, as in NES-MDB (so back-to-back notes never overlap), except
    the off of a zero-length note, which follows its own on."""
    events = [(0, name_event(name))]
    if program is not None:
        events.append((0, bytes([0xC0 | channel, program])))
    timed = []
    for start, end, pitch, vel in notes:
        timed.append((start, 1, bytes([0x90 | channel, pitch, vel])))
        timed.append((end, 2 if end == start else 0, bytes([0x80 | channel, pitch, 0])))
    events += [(t, ev) for t, _, ev in sorted(timed, key=lambda e: (e[0], e[1]))]
    return track(events)


def smf(*tracks: bytes, tpb: int = TPB, fmt: int = 1) -> bytes:
    header = chunk(b"MThd", fmt.to_bytes(2, "big") + len(tracks).to_bytes(2, "big") + tpb.to_bytes(2, "big"))
    return header + b"".join(tracks)


def conductor() -> bytes:
    return track([(0, b"\xff\x51\x03\x07\xa1\x20")])  # tempo 120


def good_song(tpb: int = TPB, shift: int = 0) -> bytes:
    """A small valid four-voice file in the NES-MDB layout."""
    def beat(x):
        return int(round(x * tpb))

    return smf(
        conductor(),
        note_track("p1", 80, [(beat(0), beat(1), 60 + shift, 9), (beat(1), beat(1.5), 62, 12), (beat(2), beat(4), 64, 5)], 0),
        note_track("p2", 81, [(beat(0), beat(2), 55, 7), (beat(2), beat(2.75), 57, 3)], 1),
        note_track("tr", 38, [(beat(0), beat(4), 43, 1)], 2),
        note_track("no", 121, [(beat(0), beat(0.25), 5, 15), (beat(1), beat(1.25), 3, 8)], 9),
        tpb=tpb,
    )


# A small project folder on which single stages run (robustness and config tests).
def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def params_for(tmp: Path, corpus: Path, **data) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(path=str(corpus), **data)
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))


def run_stage(cwd: Path, stage: str) -> subprocess.CompletedProcess:
    """Run one stage as DVC does; `prepare` is preceded by `scan`, whose manifest it reads
    (DVC runs scan before prepare on every repro)."""
    env = tool_env()
    env["PYTHONPATH"] = str(ROOT)
    if stage == "prepare":
        scanned = subprocess.run([sys.executable, "-m", "stages.scan"], cwd=cwd, env=env, capture_output=True,
                                 text=True, timeout=300)
        if scanned.returncode != 0:
            return scanned
    return subprocess.run([sys.executable, "-m", f"stages.{stage}"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def bad_corpus(root: Path, n_good: int = 12) -> None:
    """Every failure mode in one corpus, among enough good files to stay under the limit."""
    for split, n in (("train", n_good), ("valid", 3), ("test", 3)):
        for i in range(n):
            write(root / split, f"good{i:02d}.mid", good_song(shift=i % 5))
    t = root / "train"
    write(t, "empty.mid", b"")
    write(t, "text.mid", b"not midi\n")
    write(t, "cut.mid", good_song()[:77])
    write(t, "weird/instruments.mid", smf(conductor(), note_track("p1", 80, [(0, TPB, 60, 9)]),
                                          note_track("Piano", 0, [(0, TPB, 60, 99)], 3),
                                          note_track("p1", 80, [(0, TPB, 61, 9)], 4)))
    write(t, "zero_length.mid", smf(conductor(), note_track("p2", 81, [(0, 0, 60, 9), (0, TPB, 62, 9)])))
    write(t, "resolution.mid", good_song(480))
    (t / "weird" / "loop").symlink_to(t, target_is_directory=True)


# Tokens and tiny HMMs for evaluation tests.
BINS = (0.25, 0.5, 0.75, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
Q = Quantizer(BINS, (1, 4, 8, 12, 16), (0, 2, 4, 6, 8, 10))


def toks(*rows) -> np.ndarray:
    """Tokens (pitch, duration bin, velocity) as the (n, 3) int64 array the library uses."""
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def hmm_path_sum(startprob, transmat, emission, seq) -> float:
    """log P(seq) of an HMM by summing over every state path (tiny models only)."""
    k = len(startprob)
    p = 0.0
    for path in itertools.product(range(k), repeat=len(seq)):
        q = startprob[path[0]] * emission[path[0], seq[0]]
        for t in range(1, len(seq)):
            q *= transmat[path[t - 1], path[t]] * emission[path[t], seq[t]]
        p += q
    return math.log(p)


# Real-shaped token data and E-step recording for the HMM kernel tests.
def real_shaped_tokens(seed: int, n_sequences: int, n_symbols: int, mean_length: float = 60.0):
    """Token ids and lengths shaped like NES-MDB voices: uneven lengths, some of length 1.

    Lengths are log-normal (NES-MDB p1: median ~100, max ~4800) with a few 1s and 2s forced
    in; ids follow a Zipf-like law over ``n_symbols`` with local repetition, so that
    a few symbols dominate and rare ones occur, as with real note tokens.
    """
    rng = np.random.default_rng(seed)
    lengths = np.maximum(1, rng.lognormal(np.log(mean_length), 1.0, n_sequences).astype(np.int64))
    lengths[:: max(1, n_sequences // 7)] = 1
    lengths[3 % n_sequences] = 2
    weights = 1.0 / np.arange(1, n_symbols + 1) ** 1.1
    ids = rng.choice(n_symbols, size=int(lengths.sum()), p=weights / weights.sum())
    repeat = rng.random(len(ids)) < 0.3  # notes repeat: copy the previous token
    for t in np.flatnonzero(repeat[1:]) + 1:
        ids[t] = ids[t - 1]
    return ids.astype(np.int64), lengths


def record_estep_logprob(model) -> list[float]:
    """Make ``model`` record the log-likelihood of every E-step; returns the (growing) list.

    hmmlearn's ConvergenceMonitor keeps only the last two values, not the whole path.
    """
    seen: list[float] = []
    do_estep = model._do_estep

    def recording(X, lengths):
        stats, logprob = do_estep(X, lengths)
        seen.append(float(logprob))
        return stats, logprob

    model._do_estep = recording
    return seen


# Stage `scan` is `always_changed` (it lists the raw corpus, which DVC must not hash), so
# `dvc status` always names it and every `dvc repro` runs it; nothing else may be listed.
ALWAYS_RUNS = {"scan"}


def changed_stages(repo: Path, *targets: str) -> set[str]:
    """Stages `dvc status` reports as changed, leaving out scan's standing "always changed"."""
    import json

    status = json.loads(dvc(repo, "status", "--json", *targets).stdout or "{}")
    return {s for s, why in status.items() if not (s in ALWAYS_RUNS and why == ["always changed"])}
