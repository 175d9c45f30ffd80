"""Helpers shared by tests (plain functions; fixtures stay in conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def nesmdb_root() -> Path:
    """NES-MDB's MIDI root: $NESMDB_PATH, else $NESMDB_DIR, else shared/nesmdb_midi beside
    the checkout (or beside its parent folder, for a git worktree under wt/)."""
    env = os.environ.get("NESMDB_PATH") or os.environ.get("NESMDB_DIR")
    if env:
        return Path(env)
    candidates = [p / "shared" / "nesmdb_midi" for p in (ROOT.parent, ROOT.parent.parent)]
    return next((c for c in candidates if c.is_dir()), candidates[0])


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
