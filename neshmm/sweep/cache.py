"""Content-addressed cache for sweep work: one folder per (kind, hash of its inputs).

A sweep's jobs share their corpus and tokens, and a sweep run again after an interruption
must find the jobs that finished. Each entry is built in a scratch folder beside its final
name and renamed into place only when complete; a rename is atomic, so an entry that
exists is whole, and a killed build leaves only scratch, removed by the next build of that
key. A lock file per entry (``flock``, released by the OS when a process dies) makes
concurrent jobs wait for one builder instead of building the same thing twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

KEY_LENGTH = 16

def digest(obj: Any) -> str:
    """A short, stable hash of a JSON-able object (key order does not matter)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:KEY_LENGTH]


def code_version() -> str:
    """Hash of the Python sources a sweep job runs (its import closure).

    Part of every key, like the code deps of a DVC stage, and by the same rule
    (:mod:`neshmm.pipeline.code_deps`): after a change to code the job runs, a cached result
    may no longer be what the code computes, so it is recomputed; editing code it does not
    run (summaries, plots, rendering) keeps the cache.
    """
    from neshmm.pipeline.code_deps import ROOT, closure

    h = hashlib.sha256()
    for rel in closure(["neshmm.sweep.job"]):
        h.update(rel.as_posix().encode() + b"\0" + (ROOT / rel).read_bytes() + b"\0")
    return h.hexdigest()[:KEY_LENGTH]


def folder_manifest(folder: Path, data, cache: "Cache"):
    """The corpus manifest of ``folder`` (``data``: its ``DataConfig``), as stage `scan`
    writes it: names, sizes and content hashes, unusable files with their reason.

    The same code as `dvc repro` uses, so a FIFO, a broken or looping symlink or an
    unreadable file is counted, not a crash; content hashes are remembered by stat
    signature under the cache, so a repeated sweep only stats the files.
    """
    from neshmm.data.manifest import scan

    splits = {"train": data.splits.train, "valid": data.splits.valid, "test": data.splits.test}
    return scan(folder, splits, cache.root / "scan")


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@dataclass
class Cache:
    """Entries live at ``root/<kind>/<key>/``; each holds ``inputs.json``, what made it."""

    root: Path

    def entry(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def ensure(self, kind: str, key: str, inputs: Any, build: Callable[[Path], None]) -> tuple[Path, bool]:
        """The entry's folder, built by ``build(scratch)`` if absent; True if it existed.

        Scratch lives in ``root/tmp/`` (same file system, so the final rename is atomic);
        whatever a killed build left there under this key, including the temporary
        siblings a stage makes next to its output, is removed before building again.
        """
        final = self.entry(kind, key)
        if final.is_dir():
            return final, True
        with file_lock(self.root / "locks" / f"{kind}-{key}.lock"):
            if final.is_dir():  # another job built it while this one waited
                return final, True
            tmp = self.root / "tmp"
            for stale in tmp.glob(f"*{kind}-{key}.*"):
                shutil.rmtree(stale, ignore_errors=True)
            scratch = tmp / f"{kind}-{key}.{os.getpid()}"
            scratch.mkdir(parents=True)
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                build(scratch)
                from neshmm import atomic

                atomic.write_json(scratch / "inputs.json", inputs)
                os.rename(scratch, final)
            finally:
                if scratch.exists():
                    shutil.rmtree(scratch, ignore_errors=True)
        return final, False
