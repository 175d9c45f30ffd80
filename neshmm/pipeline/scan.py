"""Step `scan`: list the corpus's MIDI files with sizes and content hashes (the manifest).

Runs on every ``dvc repro`` (``always_changed`` in dvc.yaml) because DVC must not hash the
raw folder itself (see :mod:`neshmm.data.manifest`); its output is byte-identical while the
files are, so ``prepare`` reruns only when the corpus really changed.
"""

from __future__ import annotations

from pathlib import Path

from neshmm import atomic
from neshmm.config import ROLES, Config
from neshmm.data.manifest import STAT_CACHE, scan
from neshmm.pipeline.paths import Paths


def remove_leftovers(paths: Paths, voices: list[str]) -> int:
    """Remove the temporary files and folders killed stages left beside their outputs
    (only those whose owner process is dead); returns how many. Scan is the one stage
    every ``dvc repro`` runs, so leftovers of a stage that does not rerun are cleaned too."""
    folders = {paths.root, paths.manifest.parent, paths.metrics, paths.plots, paths.logs, paths.metrics / "tables"}
    folders |= {paths.model_file(role, voices[0]).parent for role in ROLES}
    return sum(len(atomic.remove_stale_in(f)) for f in sorted(folders))


def run(cfg: Config, out: Path, stat_cache: Path | None = STAT_CACHE, paths: Paths | None = None) -> str:
    if paths is not None:
        remove_leftovers(paths, list(cfg.voices))
    splits = {"train": cfg.data.splits.train, "valid": cfg.data.splits.valid, "test": cfg.data.splits.test}
    manifest = scan(Path(cfg.data.path), splits, stat_cache)
    manifest.save(out)
    parts = []
    for split, sm in manifest.splits.items():
        skipped = len(sm.files) - len(sm.readable)
        state = "missing" if sm.folder_missing else f"{len(sm.readable)} files" + (f" ({skipped} unusable)" if skipped else "")
        parts.append(f"{split} {state}")
    return f"scan: {cfg.data.path}: " + ", ".join(parts) + f"; manifest {out}"
