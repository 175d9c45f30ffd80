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
