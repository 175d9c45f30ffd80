"""Helpers shared by tests (import from here, never from conftest)."""

from __future__ import annotations

import numpy as np

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
