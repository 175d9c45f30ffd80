"""The corpus manifest: every MIDI file name under the data folder, with its size and content
hash, or the reason it cannot be read.

Why it exists: a folder listed as a DVC dependency is hashed by DVC itself, before any of our
code runs, and DVC hangs on a FIFO named ``x.mid`` and aborts on a broken or looping
symlink, an unreadable file or a non-UTF-8 file name. So the raw corpus is never a DVC
dependency. Stage ``scan`` (``always_changed``: it runs on every ``dvc repro``) writes this
manifest, ``prepare`` depends on the manifest and reads only the regular files it lists. A
manifest is the same bytes as long as the files' names and contents are, so an unchanged
corpus never reruns ``prepare``; content hashes rather than modification times keep it
identical across clones and ``touch``.

Scanning stays cheap because a file is opened only if it is a regular file (``stat`` first,
so a FIFO is never opened) and hashed only if its ``(size, mtime, ctime, inode)`` changed
since the last scan (a stat cache beside the sweep cache, like DVC's own state database).
The sweep cache keys prepared corpora on :meth:`Manifest.fingerprint`, the same code.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

from neshmm import atomic
from neshmm.errors import DataError

SPLITS = ("train", "valid", "test")
# Where scans remember content hashes by stat signature (git- and DVC-ignored, safe to delete).
STAT_CACHE = Path(".cache/neshmm/scan")
_CHUNK = 1 << 20


@dataclass
class Entry:
    """One ``.mid`` name: ``sha256`` and ``size`` of a regular readable file, else ``skip``
    (a reason counted in the prepare report, as ``neshmm.data.corpus`` names them)."""

    name: str
    size: int = 0
    sha256: str = ""
    skip: str | None = None
    detail: str = ""


@dataclass
class SplitManifest:
    folder: str
    folder_missing: bool = False
    folders_unreadable: list[str] = field(default_factory=list)
    files: list[Entry] = field(default_factory=list)

    @property
    def readable(self) -> list[Entry]:
        return [e for e in self.files if e.skip is None]


@dataclass
class Manifest:
    root: str
    splits: dict[str, SplitManifest]

    def to_json(self) -> dict:
        return {"root": self.root, "splits": {k: asdict(v) for k, v in self.splits.items()}}

    def fingerprint(self) -> str:
        """Hash of every listed name, size, hash and skip reason (not of ``root``)."""
        text = json.dumps(self.to_json()["splits"], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("ascii")).hexdigest()[:16]

    def save(self, path: Path) -> None:
        atomic.write_json(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> "Manifest":
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
            splits = {
                k: SplitManifest(
                    folder=v["folder"], folder_missing=bool(v["folder_missing"]),
                    folders_unreadable=list(v["folders_unreadable"]),
                    files=[Entry(**e) for e in v["files"]],
                )
                for k, v in raw["splits"].items()
            }
            return cls(root=str(raw["root"]), splits=splits)
        except FileNotFoundError:
            raise DataError(f"{path}: corpus manifest missing; run `dvc repro scan`") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DataError(f"{path}: not a readable corpus manifest ({type(exc).__name__}); "
                            "run `dvc repro -f scan`") from None


def display_name(name: str) -> str:
    """``name`` as valid UTF-8 text: bytes that are not UTF-8 shown as ``\\xNN``."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _stat_problem(exc: OSError, path: Path) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    if isinstance(exc, FileNotFoundError) and path.is_symlink():
        return f"broken symlink to {display_name(os.readlink(path))}"
    return exc.strerror or type(exc).__name__


def _hash_file(path: Path) -> tuple[int, str]:
    """Size and sha256 of a regular file, opened non-blocking and checked again after
    opening (it could have been replaced by a FIFO since the ``stat``)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IsADirectoryError(errno.EISDIR, "not a regular file")
        h, size = hashlib.sha256(), 0
        while chunk := os.read(fd, _CHUNK):
            h.update(chunk)
            size += len(chunk)
        return size, h.hexdigest()
    finally:
        os.close(fd)


class _StatCache:
    """path -> [size, mtime_ns, ctime_ns, inode, sha256] of the previous scan of a root."""

    def __init__(self, folder: Path | None, root: Path):
        self.path = None
        self.old: dict[str, list] = {}
        self.new: dict[str, list] = {}
        if folder is not None:
            key = hashlib.sha256(os.fsencode(os.path.abspath(root))).hexdigest()[:16]
            self.path = folder / f"{key}.json"
            try:
                self.old = json.loads(self.path.read_text())
            except (OSError, ValueError):
                self.old = {}

    def sha256(self, path: Path, st: os.stat_result) -> tuple[int, str]:
        key = display_name(str(path))
        sig = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        hit = self.old.get(key)
        if isinstance(hit, list) and hit[:4] == sig:
            self.new[key] = hit
            return st.st_size, hit[4]
        size, digest = _hash_file(path)
        if size == st.st_size:  # not rewritten while hashing: safe to remember
            self.new[key] = [*sig, digest]
        return size, digest

    def save(self) -> None:
        if self.path is not None and self.new != self.old:
            try:
                atomic.write_json(self.path, self.new)
            except OSError:
                pass  # a cache only: the next scan hashes again


def scan_file(path: Path, name: str, cache: _StatCache) -> Entry:
    """One file name: hashed if a readable regular file, else the reason it is skipped.
    Never opens a non-regular file, never raises for a bad file."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return Entry(display_name(name), skip="undecodable_name",
                     detail="file name is not UTF-8; rename the file")
    try:
        st = path.stat()
    except OSError as exc:
        return Entry(name, skip="unreadable_file", detail=_stat_problem(exc, path))
    if not stat.S_ISREG(st.st_mode):
        return Entry(name, skip="not_a_file", detail="not a regular file (FIFO, device or socket)")
    try:
        size, digest = cache.sha256(path, st)
    except OSError as exc:
        return Entry(name, skip="unreadable_file", detail=exc.strerror or type(exc).__name__)
    return Entry(name, size=size, sha256=digest)


def scan(root: Path, splits: dict[str, str], stat_cache: Path | None = STAT_CACHE) -> Manifest:
    """The manifest of ``root`` with the given ``{split: sub-folder}``; never raises for a
    bad file or a missing folder (``prepare`` decides what is fatal)."""
    from neshmm.data.corpus import find_midi_files

    root = Path(root)
    cache = _StatCache(stat_cache, root)
    out = {}
    for split, sub in splits.items():
        folder = root / sub
        sm = SplitManifest(folder=sub, folder_missing=not folder.is_dir())
        if not sm.folder_missing:
            errors: list[str] = []
            for path in find_midi_files(folder, errors):
                rel = path.relative_to(folder).as_posix()
                sm.files.append(scan_file(path, rel, cache))
            sm.folders_unreadable = [display_name(e) for e in errors]
        out[split] = sm
    cache.save()
    return Manifest(root=display_name(str(root)), splits=out)
