"""Reading and writing NES-MDB style MIDI files.

Notes are parsed by symusic (C++, the parser behind MidiTok): our own pure-Python parser
took 13-16 s for the 4,502 NES-MDB training files on one core, symusic about 0.6 s, with the
same notes. What symusic does not report (which MIDI track a note came from, empty
tracks, channels, why a file is broken) comes from a linear byte walk in
:mod:`neshmm.data.midi_scan`. Each ``MTrk`` chunk is handed to symusic on its own, as a
one-track file, so a :class:`Track` here is always one MIDI track, as NES-MDB means it.

Pairing rules (what symusic does, checked by ``tests/data/test_midi_io.py``): note-on and
note-off are paired first-in first-out per channel and pitch (as miditoolkit and our old
reader did); a note-on with velocity 0 is a note-off; a note-off with nothing open is
ignored; a note-on never ended is dropped (and, unlike with the old reader, not counted:
counting it would need a Python walk over every event, the cost this module removes);
zero-length notes are kept here and dropped by :mod:`neshmm.data.voices`.

Every malformed input raises :class:`MidiReadError` and nothing else, so a corpus walk can
skip and count bad files; files above :data:`MAX_FILE_BYTES` are refused before reading.

Writing still goes through miditoolkit: symusic 0.6 writes tempo and time signatures into
the first voice track and numbers channels by track position, so it cannot write NES-MDB's
separate conductor track, which the demo corpus reproduces (``tests/test_demo_corpus.py``).
Files are written to a temporary file renamed into place, so a killed writer never leaves a
truncated MIDI file.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

import numpy as np

from neshmm.atomic import atomic_path
from neshmm.data.midi_scan import MidiReadError, diagnose_track, scan_chunks, track_head

__all__ = ["MAX_FILE_BYTES", "MidiReadError", "Song", "Track", "parse_midi_bytes", "read_midi", "write_midi"]

NOTE_FIELDS = ("start", "end", "pitch", "velocity")

# The biggest NES-MDB file is 0.5 MB (train/193_Klax_03_04DanceoftheFairies.mid); 32 times
# that leaves room for longer songs while a 30 GB sparse file cannot exhaust memory.
MAX_FILE_BYTES = 16 * 2**20


@dataclass
class Track:
    """One MIDI track: its name, first program, channel and notes.

    ``notes`` is an ``(n, 4)`` int64 array of (start, end, pitch, velocity) in ticks,
    sorted by start (stable).
    """

    name: str
    program: int | None
    channel: int | None
    notes: np.ndarray


@dataclass
class Song:
    """``end_tick`` is the end of the last note (0 without notes)."""

    ticks_per_beat: int
    tracks: list[Track] = field(default_factory=list)
    end_tick: int = 0


def _symusic_notes(one_track_smf: bytes) -> np.ndarray:
    """Notes of a one-track MIDI file, through symusic's public API.

    symusic splits a track by (channel, program); the groups are merged back here so a
    Track is one MIDI track. The pairing semantics this relies on are guarded by
    ``tests/data/test_midi_io.py::test_pairing_semantics`` (pin: ``symusic<0.7``).
    Raises whatever symusic raises (RuntimeError, ValueError...) on bad bytes, and
    MidiReadError when what it returns cannot be MIDI (see :func:`_plausible`).
    """
    import symusic

    score = symusic.Score.from_midi(one_track_smf)
    parts = []
    for t in score.tracks:
        a = t.notes.numpy()
        if not len(a["time"]):
            continue
        if not _plausible(a):
            raise MidiReadError("implausible notes (ticks past 2**31?)")
        part = np.empty((len(a["time"]), 4), dtype=np.int64)
        part[:, 0] = a["time"]
        part[:, 1] = part[:, 0] + a["duration"]
        part[:, 2] = a["pitch"]
        part[:, 3] = a["velocity"]
        parts.append(part)
    if not parts:
        return np.zeros((0, 4), dtype=np.int64)
    if len(parts) == 1:
        return parts[0]
    notes = np.concatenate(parts)
    return notes[np.argsort(notes[:, 0], kind="stable")]


def _plausible(a: dict) -> bool:
    """symusic's int32 ticks did not wrap, and int8 pitch/velocity hold 7-bit values."""
    return bool(
        a["time"].min() >= 0 and a["duration"].min() >= 0 and a["pitch"].min() >= 0 and a["velocity"].min() >= 1
    )


def parse_midi_bytes(data: bytes) -> Song:
    """Parse Standard MIDI File bytes; raise MidiReadError on anything malformed."""
    header = scan_chunks(data)
    # A format-0 header over one MTrk chunk: symusic sees exactly one MIDI track.
    one_track = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01" + header.ticks_per_beat.to_bytes(2, "big")
    song = Song(ticks_per_beat=header.ticks_per_beat)
    for start, end in header.tracks:
        head = track_head(data, start, end)
        notes = np.zeros((0, 4), dtype=np.int64)
        if head.has_note_on:
            chunk = b"MTrk" + (end - start).to_bytes(4, "big") + data[start:end]
            try:
                notes = _symusic_notes(one_track + chunk)
            except Exception as exc:  # symusic's errors are untyped: classify them ourselves
                diagnose_track(data, start, end)
                raise MidiReadError(f"track {len(song.tracks) + 1}: {exc}") from None
        song.tracks.append(Track(name=head.name, program=head.program, channel=head.channel, notes=notes))
        if len(notes):
            song.end_tick = max(song.end_tick, int(notes[:, 1].max()))
    return song


def read_midi(path: str | os.PathLike, max_bytes: int = MAX_FILE_BYTES) -> Song:
    """Read a MIDI file of at most ``max_bytes``; every problem becomes a MidiReadError.

    The size and file type are checked with ``stat`` before opening, so a FIFO named .mid
    is never opened (that would block) and a huge sparse file is never read.
    """
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise MidiReadError("not a regular file", "unreadable_file")
        if st.st_size > max_bytes:
            raise MidiReadError(
                f"{st.st_size} bytes, more than the {max_bytes}-byte limit per MIDI file", "too_large"
            )
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)  # the file may have grown since stat
    except OSError as exc:
        raise MidiReadError(f"cannot read: {exc.strerror or exc}", "unreadable_file") from None
    if len(data) > max_bytes:
        raise MidiReadError(f"more than the {max_bytes}-byte limit per MIDI file", "too_large")
    return parse_midi_bytes(data)


def write_midi(
    path: str | os.PathLike,
    voices: dict[str, np.ndarray],
    ticks_per_beat: int,
    programs: dict[str, int],
    end_tick: int | None = None,
    control_changes: dict[str, list[tuple[int, int, int]]] | None = None,
) -> None:
    """Write notes per voice as one NES-MDB style type-1 MIDI file, atomically.

    Every voice in ``programs`` gets a track, in that order, even when it has no notes:
    NES-MDB files always carry all four tracks (a silent voice is an empty track), and
    miditoolkit numbers channels by track position, so leaving a track out would move the
    later voices onto the wrong channels. ``control_changes`` maps a voice to
    ``(tick, number, value)`` triples (NES-MDB's CC 11 volume and CC 12 timbre); they are
    only written on voices that have notes, as in NES-MDB. The end of the song is marked
    by a 1/1 time signature like NES-MDB.
    """
    import miditoolkit
    from miditoolkit.midi.containers import (
        ControlChange,
        Instrument,
        Note,
        TempoChange,
        TimeSignature,
    )

    midi = miditoolkit.MidiFile(ticks_per_beat=ticks_per_beat)
    midi.tempo_changes = [TempoChange(120.0, 0)]
    control_changes = control_changes or {}
    last = 0
    for name, program in programs.items():
        inst = Instrument(program=program, is_drum=(name == "no"), name=name)
        midi.instruments.append(inst)
        notes = voices.get(name)
        if notes is None or len(notes) == 0:
            continue
        inst.notes = [Note(int(v), int(p), int(s), int(e)) for s, e, p, v in notes]
        inst.control_changes = [
            ControlChange(int(number), int(value), int(tick))
            for tick, number, value in control_changes.get(name, ())
        ]
        last = max(last, int(notes[:, 1].max()))
    end = last if end_tick is None else end_tick
    midi.time_signature_changes = [TimeSignature(4, 4, 0)]
    if end > 0:
        midi.time_signature_changes.append(TimeSignature(1, 1, end))
    midi.max_tick = end + 1
    with atomic_path(path) as tmp:
        midi.dump(str(tmp))
