"""Step `scan`: list the corpus's MIDI files with sizes and content hashes (the manifest).

Runs on every ``dvc repro`` (``always_changed`` in dvc.yaml) because DVC must not hash the
raw folder itself (see :mod:`neshmm.data.manifest`); its output is byte-identical while the
files are, so ``prepare`` reruns only when the corpus really changed.
"""

from __future__ import annotations

from pathlib import Path

from neshmm.config import Config
from neshmm.data.manifest import STAT_CACHE, scan


def run(cfg: Config, out: Path, stat_cache: Path | None = STAT_CACHE) -> str:
    splits = {"train": cfg.data.splits.train, "valid": cfg.data.splits.valid, "test": cfg.data.splits.test}
    manifest = scan(Path(cfg.data.path), splits, stat_cache)
    manifest.save(out)
    parts = []
    for split, sm in manifest.splits.items():
        skipped = len(sm.files) - len(sm.readable)
        state = "missing" if sm.folder_missing else f"{len(sm.readable)} files" + (f" ({skipped} unusable)" if skipped else "")
        parts.append(f"{split} {state}")
    return f"scan: {cfg.data.path}: " + ", ".join(parts) + f"; manifest {out}"
