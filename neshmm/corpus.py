"""Find, parse (once) and index the MIDI files of a corpus, skipping and counting bad ones.

The prepared corpus is the parse cache of the pipeline: notes of every voice of every
readable file, as flat int arrays per split. Tokenizing with other bins, evaluating, or
rendering reference pieces never parses MIDI again.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neshmm import atomic
from neshmm.errors import DataError
from neshmm.midi_io import MidiReadError, read_midi
from neshmm.voices import VOICES, assign_voices

MIDI_SUFFIXES = (".mid", ".midi")
NESMDB_TICKS_PER_BEAT = 22050


def find_midi_files(folder: Path) -> list[Path]:
    """MIDI files under ``folder`` in a stable order, not following symlinked folders.

    ``os.walk`` with ``followlinks=False`` cannot loop on a symlink cycle; symlinked files
    are kept (they are ordinary files to read).
    """
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        for name in filenames:
            if name.lower().endswith(MIDI_SUFFIXES):
                found.append(Path(dirpath) / name)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


@dataclass
class FileResult:
    """What parsing one file gave: notes per voice, or the reason it was skipped."""

    name: str
    ticks_per_beat: int = 0
    notes: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: str | None = None
    detail: str = ""
    dropped_tracks: Counter = field(default_factory=Counter)
    dropped_notes: Counter = field(default_factory=Counter)


def parse_file(path: Path, name: str) -> FileResult:
    try:
        if path.stat().st_size == 0:
            return FileResult(name, skipped="empty_file")
        song = read_midi(path)
    except MidiReadError as exc:
        return FileResult(name, skipped="unreadable_midi", detail=str(exc))
    except OSError as exc:
        return FileResult(name, skipped="unreadable_file", detail=str(exc))
    voices = assign_voices(song)
    result = FileResult(
        name,
        ticks_per_beat=song.ticks_per_beat,
        notes=voices.notes,
        dropped_tracks=voices.dropped_tracks,
        dropped_notes=voices.dropped_notes,
    )
    if not voices.notes:
        result.skipped = "no_notes"
    return result


@dataclass
class Split:
    """All readable files of one split: names, ticks per beat, and notes per voice.

    ``notes[voice]`` is the concatenation over files (int64 rows start, end, pitch,
    velocity) and ``offsets[voice]`` has len(files)+1 entries delimiting each file's rows;
    a file missing a voice has an empty slice.
    """

    files: list[str]
    ticks_per_beat: np.ndarray
    notes: dict[str, np.ndarray]
    offsets: dict[str, np.ndarray]

    def voice_notes(self, voice: str, i: int) -> np.ndarray:
        o = self.offsets[voice]
        return self.notes[voice][o[i] : o[i + 1]]

    def save(self, path: Path) -> None:
        arrays = {"ticks_per_beat": self.ticks_per_beat.astype(np.int64)}
        for v in VOICES:
            arrays[f"{v}_notes"] = self.notes[v]
            arrays[f"{v}_offsets"] = self.offsets[v]
        arrays["files_json"] = np.frombuffer(json.dumps(self.files).encode(), dtype=np.uint8)
        atomic.write_npz(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> "Split":
        if not Path(path).exists():
            raise DataError(f"{path}: prepared corpus missing; run `dvc repro prepare`")
        with np.load(path, allow_pickle=False) as z:
            files = json.loads(bytes(z["files_json"]).decode())
            return cls(
                files=files,
                ticks_per_beat=z["ticks_per_beat"],
                notes={v: z[f"{v}_notes"] for v in VOICES},
                offsets={v: z[f"{v}_offsets"] for v in VOICES},
            )


def build_split(results: list[FileResult]) -> Split:
    kept = [r for r in results if r.skipped is None]
    notes, offsets = {}, {}
    for v in VOICES:
        parts = [r.notes.get(v, np.zeros((0, 4), dtype=np.int64)) for r in kept]
        offsets[v] = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
        notes[v] = np.concatenate(parts).astype(np.int64) if parts else np.zeros((0, 4), np.int64)
    return Split(
        files=[r.name for r in kept],
        ticks_per_beat=np.array([r.ticks_per_beat for r in kept], dtype=np.int64),
        notes=notes,
        offsets=offsets,
    )


def split_report(results: list[FileResult]) -> dict:
    skipped = Counter(r.skipped for r in results if r.skipped)
    tracks, notes = Counter(), Counter()
    for r in results:
        tracks.update(r.dropped_tracks)
        notes.update(r.dropped_notes)
    kept = [r for r in results if r.skipped is None]
    return {
        "files_found": len(results),
        "files_read": len(kept),
        "files_skipped": dict(sorted(skipped.items())),
        "tracks_dropped": dict(sorted(tracks.items())),
        "notes_dropped": dict(sorted(notes.items())),
        "files_nonstandard_ticks_per_beat": sum(
            1 for r in kept if r.ticks_per_beat != NESMDB_TICKS_PER_BEAT
        ),
        "files_with_voice": {v: sum(1 for r in kept if v in r.notes) for v in VOICES},
        "notes_per_voice": {v: int(sum(len(r.notes.get(v, ())) for r in kept)) for v in VOICES},
        "skipped_examples": [
            {"file": r.name, "reason": r.skipped, "detail": r.detail}
            for r in results
            if r.skipped
        ][:50],
    }


def parse_folder(folder: Path, jobs: int) -> list[FileResult]:
    paths = find_midi_files(folder)
    names = [p.relative_to(folder).as_posix() for p in paths]
    if jobs == 1 or len(paths) < 64:
        return [parse_file(p, n) for p, n in zip(paths, names)]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=jobs, batch_size=64)(
        delayed(parse_file)(p, n) for p, n in zip(paths, names)
    )


def effective_jobs(jobs: int) -> int:
    return jobs if jobs > 0 else (os.cpu_count() or 1)


def missing_corpus_message(root: Path, data_name: str) -> str:
    if data_name == "nesmdb":
        return (
            f"{root}: no NES-MDB MIDI files found; download nesmdb_midi.tar.gz "
            "(sha256 37610e2ca5fe70359c85170cf1f4982596783bb304c59d9c439f68c24ff4ee93, see README "
            "'Using the real NES-MDB') and extract it so that "
            f"{root}/train/*.mid exists, or set data.path=/path/to/nesmdb_midi"
        )
    return f"{root}: no MIDI files found; run `dvc repro demo` or set data.path to a corpus folder"
