"""Write-then-rename helpers: a killed stage leaves the old artifact or none, never half of one."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` only on success.

    The temporary file lives in the same directory so the final ``os.replace`` is an atomic
    rename on POSIX file systems, and it is fsynced first so a crash cannot expose a file
    whose name is final but whose content is not.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """JSON with sorted keys and a trailing newline, so equal content gives equal bytes."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """An uncompressed npz with fixed member timestamps, hence byte-identical across runs."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes(path, buf.getvalue())


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder next to ``path``; swap it in for ``path`` on success.

    For stages whose output is a folder of several files: a kill while writing leaves the
    previous folder untouched (plus a hidden ``.*.tmp`` folder, git- and DVC-ignored),
    and the swap is two renames, so at worst the folder is briefly absent, never a mix of
    old and new files. Concurrent writers of one folder are safe too: each swap moves
    whatever folder is there aside first, so the last writer's complete folder wins. On an
    exception the temporary folder is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    old = None
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        for attempt in range(1000):
            if path.exists() or path.is_symlink():
                if old is None:
                    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", suffix=".tmp", dir=path.parent))
                with contextlib.suppress(FileNotFoundError):  # another writer moved it first
                    os.rename(path, old / str(attempt))
            try:
                os.rename(tmp, path)
                break
            except OSError as exc:  # another writer's folder landed in between: go again
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
        else:
            raise OSError(f"{path}: could not swap in the new folder (too many concurrent writers)")
    finally:
        for leftover in (tmp, old):
            if leftover is not None and leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)
