"""Write-then-rename helpers: a killed stage leaves the old artifact or none, never half of one."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any, Iterator

import numpy as np


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    except (OverflowError, ValueError):
        return False
    return True


def temp_name(path: Path, kind: str = "") -> Path:
    """A new hidden sibling of ``path`` that names its owner: ``.<name>.[<kind>.]<pid>.<random>.tmp``.

    The PID is what lets :func:`remove_stale` tell a leftover of a killed run (owner dead)
    from the scratch of a run still going (owner alive); the random part keeps two writers
    of one process apart. ``*.tmp`` is git- and DVC-ignored.
    """
    kind = f"{kind}." if kind else ""
    return path.parent / f".{path.name}.{kind}{os.getpid()}.{secrets.token_hex(4)}.tmp"


def remove_stale(path: Path) -> list[Path]:
    """Remove the temporaries a killed writer of ``path`` left beside it; return them.

    Only names :func:`temp_name` makes for this very ``path`` are considered, and only
    those whose owning process is gone: a concurrent run of the same stage (owner alive)
    keeps its scratch. A PID reused by an unrelated live process only delays the cleanup
    to a later run.
    """
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(?:old\.)?(\d+)\.[0-9a-f]+\.tmp$")
    removed = []
    try:
        siblings = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in siblings:
        m = pattern.match(entry.name)
        if not m or int(m.group(1)) == os.getpid() or _pid_alive(int(m.group(1))):
            continue
        p = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()
        removed.append(p)
    return removed


_ANY_TEMP = re.compile(r"^\.(.+)\.(?:old\.)?(\d+)\.[0-9a-f]+\.tmp$")


def remove_stale_in(folder: Path) -> list[Path]:
    """:func:`remove_stale` for every target in ``folder`` at once (whatever its name).

    For the one stage that runs on every ``dvc repro`` (scan): a stage killed before its
    swap leaves its old output in place, so DVC does not rerun it and its own next write
    would never come to clean up.
    """
    removed = []
    try:
        names = [e.name for e in os.scandir(folder)]
    except OSError:
        return removed
    for name in names:
        m = _ANY_TEMP.match(name)
        if m:
            removed += remove_stale(Path(folder) / m.group(1))
    return removed


def make_temp_dir(path: Path, kind: str = "") -> Path:
    """An empty scratch folder beside ``path`` (see :func:`temp_name`), after removing stale ones."""
    remove_stale(path)
    for _ in range(100):
        tmp = temp_name(path, kind)
        try:
            os.mkdir(tmp, 0o700)
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path}: could not create a temporary folder beside it")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` only on success.

    The temporary file lives in the same directory so the final ``os.replace`` is an atomic
    rename on POSIX file systems, and it is fsynced first so a crash cannot expose a file
    whose name is final but whose content is not.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.parent.name.endswith(".tmp"):  # a fresh scratch folder has no leftovers to list
        remove_stale(path)
    while True:
        tmp = temp_name(path)
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            break
        except FileExistsError:
            continue
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
    previous folder untouched (plus a hidden ``.*.tmp`` folder, git- and DVC-ignored,
    removed by the next write of the same folder once its owner is dead), and the swap is two renames, so at worst the folder is briefly absent, never a mix of
    old and new files. Concurrent writers of one folder are safe too: each swap moves
    whatever folder is there aside first, so the last writer's complete folder wins. On an
    exception the temporary folder is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(path)
    old = None
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        for attempt in range(1000):
            if path.exists() or path.is_symlink():
                if old is None:
                    old = make_temp_dir(path, "old")
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
