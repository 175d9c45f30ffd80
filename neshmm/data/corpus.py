"""Find, parse (once) and index the MIDI files of a corpus, skipping and counting bad ones.

The prepared corpus is the parse cache of the pipeline: notes of every voice of every
readable file, as flat int arrays per split. Tokenizing with other bins, evaluating, or
rendering reference pieces never parses MIDI again.
"""

from __future__ import annotations

import json
import os
import stat
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neshmm import atomic
from neshmm.errors import DataError
from neshmm.data.midi_io import MAX_FILE_BYTES, MidiReadError, read_midi
from neshmm.data.voices import VOICES, assign_voices
from neshmm.progress import Progress

MIDI_SUFFIXES = (".mid", ".midi")
NESMDB_TICKS_PER_BEAT = 22050


def find_midi_files(folder: Path, errors: list[str] | None = None) -> list[Path]:
    """MIDI files under ``folder`` in a stable order, not following symlinked folders.

    ``os.walk`` with ``followlinks=False`` cannot loop on a symlink cycle; symlinked files
    are kept (they are ordinary files to read, and a broken or looping one is skipped and
    counted when it is parsed). A folder that cannot be listed is appended to ``errors``
    instead of being ignored silently, as ``os.walk`` would by default.
    """
    found = []

    def onerror(exc: OSError) -> None:
        if errors is not None:
            errors.append(f"{exc.filename}: {exc.strerror or exc}")

    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False, onerror=onerror):
        dirnames.sort()
        for name in filenames:
            if name.lower().endswith(MIDI_SUFFIXES):
                found.append(Path(dirpath) / name)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


# MidiReadError.reason -> the reason a skipped file is counted under in the report.
SKIP_REASONS = {
    "empty": "empty_file",
    "not_midi": "not_midi",
    "truncated": "truncated_midi",
    "malformed": "malformed_midi",
    "unsupported": "unsupported_midi",
    "too_large": "too_large",
    "unreadable_file": "unreadable_file",
}


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
    flagged: Counter = field(default_factory=Counter)
    dropped_track_names: list = field(default_factory=list)


def parse_file(path: Path, name: str, max_bytes: int = MAX_FILE_BYTES) -> FileResult:
    """Parse one file; every problem becomes a skip reason, never an exception.

    Special files (a FIFO or device named .mid) are refused before opening, since reading
    one could block forever; broken and looping symlinks fail in ``stat`` and are counted
    as ``unreadable_file``; files over ``max_bytes`` are counted as ``too_large`` unread.
    """
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            return FileResult(name, skipped="not_a_file", detail="not a regular file")
        if st.st_size == 0:
            return FileResult(name, skipped="empty_file", detail="0 bytes")
        song = read_midi(path, max_bytes)
    except MidiReadError as exc:
        return FileResult(name, skipped=SKIP_REASONS.get(exc.reason, "malformed_midi"), detail=str(exc))
    except OSError as exc:
        return FileResult(name, skipped="unreadable_file", detail=exc.strerror or str(exc))
    voices = assign_voices(song)
    result = FileResult(
        name,
        ticks_per_beat=song.ticks_per_beat,
        notes=voices.notes,
        dropped_tracks=voices.dropped_tracks,
        dropped_notes=voices.dropped_notes,
        flagged=voices.flagged,
        dropped_track_names=voices.dropped_track_names,
    )
    if not voices.notes:
        result.skipped = "no_notes"
        result.detail = "no playable note in any NES voice"
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
        try:
            with np.load(path, allow_pickle=False) as z:
                files = json.loads(bytes(z["files_json"]).decode())
                return cls(
                    files=files,
                    ticks_per_beat=z["ticks_per_beat"],
                    notes={v: z[f"{v}_notes"] for v in VOICES},
                    offsets={v: z[f"{v}_offsets"] for v in VOICES},
                )
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise DataError(
                f"{path}: not a readable prepared corpus ({type(exc).__name__}: {exc}); "
                "run `dvc repro -f prepare`"
            ) from None


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


EXAMPLES = 50  # skipped files / dropped tracks listed by name per split in the report


def split_report(results: list[FileResult]) -> dict:
    """Counts by reason for one split (the report format is documented in the README)."""
    skipped = Counter(r.skipped for r in results if r.skipped)
    tracks, notes, flagged = Counter(), Counter(), Counter()
    for r in results:
        tracks.update(r.dropped_tracks)
        notes.update(r.dropped_notes)
        flagged.update(r.flagged)
    kept = [r for r in results if r.skipped is None]
    return {
        "files_found": len(results),
        "files_read": len(kept),
        "files_skipped": dict(sorted(skipped.items())),
        "tracks_dropped": dict(sorted(tracks.items())),
        "tracks_mapped_by_program": flagged["tracks_mapped_by_program"],
        "notes_dropped": dict(sorted(notes.items())),
        "notes_overlapping": flagged["notes_overlapping"],
        "files_nonstandard_ticks_per_beat": sum(
            1 for r in kept if r.ticks_per_beat != NESMDB_TICKS_PER_BEAT
        ),
        "files_with_voice": {v: sum(1 for r in kept if v in r.notes) for v in VOICES},
        "notes_per_voice": {v: int(sum(len(r.notes.get(v, ())) for r in kept)) for v in VOICES},
        "skipped_examples": [
            {"file": r.name, "reason": r.skipped, "detail": r.detail}
            for r in results
            if r.skipped
        ][:EXAMPLES],
        "dropped_track_examples": [
            {"file": r.name, "track": name, "program": program, "reason": reason}
            for r in results
            for name, program, reason in r.dropped_track_names
        ][:EXAMPLES],
    }


def _counts(counter: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items()))


def report_totals(splits: dict[str, dict]) -> dict:
    """Sums over splits of the counts a user looks at first."""
    skipped, tracks, notes = Counter(), Counter(), Counter()
    for rep in splits.values():
        skipped.update(rep["files_skipped"])
        tracks.update(rep["tracks_dropped"])
        notes.update(rep["notes_dropped"])
    return {
        "files_found": sum(r["files_found"] for r in splits.values()),
        "files_read": sum(r["files_read"] for r in splits.values()),
        "files_skipped": dict(sorted(skipped.items())),
        "tracks_dropped": dict(sorted(tracks.items())),
        "tracks_mapped_by_program": sum(r["tracks_mapped_by_program"] for r in splits.values()),
        "notes_dropped": dict(sorted(notes.items())),
        "notes_overlapping": sum(r["notes_overlapping"] for r in splits.values()),
    }


def summary_line(root: Path, splits: dict[str, dict]) -> str:
    """The line `prepare` prints (before the report's path): files read per split, then what
    was skipped or dropped, by reason."""
    t = report_totals(splits)
    parts = [f"{s} {r['files_read']}/{r['files_found']}" for s, r in splits.items()]
    line = f"prepare: {root}: files read " + ", ".join(parts)
    n_skipped = sum(t["files_skipped"].values())
    line += f"; {n_skipped} skipped" + (f" ({_counts(t['files_skipped'])})" if n_skipped else "")
    n_tracks = sum(t["tracks_dropped"].values())
    if n_tracks:
        line += f"; {n_tracks} tracks dropped ({_counts(t['tracks_dropped'])})"
    if t["tracks_mapped_by_program"]:
        line += f"; {t['tracks_mapped_by_program']} tracks mapped by program"
    n_notes = sum(t["notes_dropped"].values())
    if n_notes:
        line += f"; {n_notes} notes dropped ({_counts(t['notes_dropped'])})"
    return line


def check_failures(splits: dict[str, dict], folders: dict[str, Path], max_failed_fraction: float,
                   report_path: Path) -> None:
    """Fail when a split skipped more than ``max_failed_fraction`` of its files.

    A few bad files are normal (NES-MDB itself has three without notes); most files failing
    means a wrong ``data.path`` or a broken download, and training on the rest would
    silently measure something else.
    """
    for split, rep in splits.items():
        found = rep["files_found"]
        failed = found - rep["files_read"]
        if found and failed / found > max_failed_fraction:
            example = rep["skipped_examples"][0] if rep["skipped_examples"] else None
            eg = f"; e.g. {example['file']}: {example['reason']} ({example['detail']})" if example else ""
            raise DataError(
                f"{folders[split]}: {failed} of {found} files skipped ({_counts(rep['files_skipped'])}), "
                f"more than data.max_failed_fraction={max_failed_fraction}; check data.path or the "
                f"files, or raise data.max_failed_fraction{eg}; full report in {report_path}"
            )


def parse_pair(path_and_name: tuple[Path, str]) -> FileResult:
    """:func:`parse_file` of one (path, name) pair: the shape a parallel map hands over."""
    return parse_file(*path_and_name)


def parse_folder(folder: Path, jobs: int, errors: list[str] | None = None) -> list[FileResult]:
    """Parse every MIDI file under ``folder`` (in parallel for big folders), in name order."""
    paths = find_midi_files(folder, errors)
    names = [p.relative_to(folder).as_posix() for p in paths]
    if jobs == 1 or len(paths) < 64:
        results = (parse_file(p, n) for p, n in zip(paths, names))
    else:
        from neshmm.parallel import ordered_map

        results = ordered_map(parse_pair, zip(paths, names), jobs, chunksize=64)
    bar = Progress(f"prepare {folder}", len(paths), "files")  # stderr lines on a terminal only
    out = []
    for r in results:
        out.append(r)
        bar.update(len(out))
    return out


def effective_jobs(jobs: int) -> int:
    return jobs if jobs > 0 else (os.cpu_count() or 1)


def found_layout(root: Path, train: str = "train") -> str:
    """What ``root`` actually holds, in words, for the error when ``root/train`` has no MIDI.

    The common mistake is pointing data.path one level too deep, at ``train/`` itself:
    then the files are there, and saying "no files found" sends the user downloading again.
    """
    if not root.exists():
        return f"{root} does not exist"
    if not root.is_dir():
        return f"{root} is a file, not a folder"
    here = [p for p in root.iterdir() if p.is_file() and p.name.lower().endswith(MIDI_SUFFIXES)]
    subs = sorted(d.name for d in root.iterdir() if d.is_dir() and find_midi_files(d))
    parts = []
    if here:
        parts.append(f"{root} itself holds {len(here)} MIDI files")
    if subs:
        parts.append(f"sub-folders with MIDI files: {', '.join(subs[:6])}{', ...' if len(subs) > 6 else ''}")
    if not parts:
        return f"{root} holds no MIDI files"
    if (root / train).is_dir():
        parts.append(f"{root / train} holds none")
    return "; ".join(parts)


def missing_corpus_message(root: Path, data_name: str, train: str = "train") -> str:
    """No MIDI under ``root/train``: what was found, the expected layout, and the fix."""
    found = found_layout(root, train)
    layout = f"expected data.path to be the folder holding {train}/, valid/, test/ with the .mid files"
    parent = root.parent
    here = root.is_dir() and any(p.is_file() and p.name.lower().endswith(MIDI_SUFFIXES) for p in root.iterdir())
    deeper = sorted(d for d in root.iterdir() if (d / train).is_dir()) if root.is_dir() else []
    if here and (parent / train).is_dir() and root.name in (train, "valid", "test"):
        fix = f"set data.path={parent} (one level up)"
    elif deeper:
        fix = f"set data.path={deeper[0]} (one level down)"
    elif here:
        fix = f"move the files into {root}/{train}/ (and valid/, test/)"
    elif data_name == "nesmdb":
        fix = ("download nesmdb_midi.tar.gz (sha256 37610e2ca5fe70359c85170cf1f4982596783bb304c59d9c439f68c24ff4ee93, "
               "see docs/pipeline.md 'Using the real NES-MDB') and extract it there, or set data.path=/path/to/nesmdb_midi")
    else:
        fix = "run `dvc repro demo` or set data.path to a corpus folder"
    what = "NES-MDB MIDI files" if data_name == "nesmdb" else "MIDI files"
    return f"{root}: no {what} found in {root / train}/ ({found}); {layout}; {fix}"
