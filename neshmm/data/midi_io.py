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

Writing goes through symusic too, so the project has one MIDI implementation (and 150
demo-sized songs are encoded in 0.09 s instead of miditoolkit/mido's 2.7 s). symusic 0.6 cannot write NES-MDB's layout in
one go: it puts tempo and time signatures into the first voice track, where NES-MDB (and
every stage that reads the demo corpus as NES-MDB, ``tests/data/test_demo_corpus.py``) has
a separate conductor track. So, mirroring the reader, symusic writes the tracks and this
module assembles the type-1 file: the voices come from one tempo-less score (one ``MTrk``
chunk per voice, on the channel NES-MDB uses), the conductor from two scores whose events
are joined (symusic puts a time signature before a tempo at the same tick, NES-MDB the
tempo first), and the ``MThd`` header is ours. The symusic behaviour this relies on sits in
:func:`_symusic_chunks`.
Files are written to a temporary file renamed into place, so a killed writer never leaves a
truncated MIDI file.
"""

from __future__ import annotations

import os
import stat
import struct
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


# The biggest tick a written event may have: symusic writes a delta time past 2**28 - 1 (the
# largest 4-byte variable-length quantity) wrapped, so a later note would come back early.
MAX_WRITE_TICK = 2**28 - 1
_END_OF_TRACK_AT_NEXT_TICK = b"\x01\xff\x2f\x00"


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
    channels are numbered by track position (9 skipped; the noise voice ``no`` is the drum
    channel 9), so leaving a track out would move the later voices onto the wrong channels.
    ``control_changes`` maps a voice to ``(tick, number, value)`` triples (NES-MDB's CC 11
    volume and CC 12 timbre); they are only written on voices that have notes, as in
    NES-MDB. The end of the song (``end_tick``, by default the last note end) is marked by a
    1/1 time signature like NES-MDB.

    The bytes are those miditoolkit wrote before (for notes sorted by start; otherwise
    only simultaneous note-offs are in another order), so files written before and after
    the switch to symusic read the same everywhere. A zero-length note is not written: it
    has no sound, and miditoolkit put its note-off first, leaving a note-on that took the
    next note-off of its pitch. Values MIDI cannot hold raise ValueError rather than being
    written wrapped.
    """
    import symusic

    if not 1 <= ticks_per_beat <= 0x7FFF:
        raise ValueError(f"ticks_per_beat must be in 1..32767, got {ticks_per_beat}")
    control_changes = control_changes or {}
    score = symusic.Score(int(ticks_per_beat))
    last = 0
    for name, program in programs.items():
        if not name.isascii():
            raise ValueError(f"track name {name!r} is not ASCII")
        if not 0 <= program <= 127:
            raise ValueError(f"{name}: program {program} outside 0..127")
        track = symusic.Track(name, int(program), name == "no")
        notes = voices.get(name)
        if notes is not None and len(notes):
            notes = np.asarray(notes, dtype=np.int64).reshape(-1, 4)
            track.notes = _note_list(name, notes)
            track.controls = _control_list(name, control_changes.get(name, ()))
            last = max(last, int(notes[:, 1].max()))
        score.tracks.append(track)
    end = last if end_tick is None else int(end_tick)
    if end > MAX_WRITE_TICK:
        raise ValueError(f"end_tick {end} past {MAX_WRITE_TICK}")
    chunks = [_conductor_chunk(end)] + _symusic_chunks(score, len(programs))
    header = struct.pack(">4sIHHH", b"MThd", 6, 1, len(chunks), ticks_per_beat)
    with atomic_path(path) as tmp:
        tmp.write_bytes(header + b"".join(chunks))


def _check(what: str, values: np.ndarray, lo: int, hi: int) -> None:
    """symusic stores ticks as int32 and pitches as int8 and would wrap what does not fit."""
    if len(values) and (values.min() < lo or values.max() > hi):
        raise ValueError(f"{what} outside {lo}..{hi}")


def _note_list(name: str, notes: np.ndarray):
    """symusic keeps notes in the order given (stably by start): sorting them by (start,
    end) here gives simultaneous note-ons in end order, as miditoolkit wrote them."""
    import symusic

    _check(f"{name}: note ticks", notes[:, :2], 0, MAX_WRITE_TICK)
    _check(f"{name}: pitches", notes[:, 2], 0, 127)
    _check(f"{name}: velocities", notes[:, 3], 0, 127)
    if (notes[:, 1] < notes[:, 0]).any():
        raise ValueError(f"{name}: a note ends before it starts")
    notes = notes[np.lexsort((notes[:, 1], notes[:, 0]))]
    notes = notes[notes[:, 1] > notes[:, 0]]
    return symusic.Note.from_numpy(
        notes[:, 0].astype(np.int32),
        (notes[:, 1] - notes[:, 0]).astype(np.int32),
        notes[:, 2].astype(np.int8),
        notes[:, 3].astype(np.int8),
    )


def _control_list(name: str, triples):
    """symusic sorts control changes stably by tick, as miditoolkit did: no sort here."""
    import symusic

    cc = np.asarray(list(triples), dtype=np.int64).reshape(-1, 3)
    _check(f"{name}: control change ticks", cc[:, 0], 0, MAX_WRITE_TICK)
    _check(f"{name}: control change numbers and values", cc[:, 1:], 0, 127)
    return symusic.ControlChange.from_numpy(
        cc[:, 0].astype(np.int32), cc[:, 1].astype(np.uint8), cc[:, 2].astype(np.uint8)
    )


def _conductor_chunk(end: int) -> bytes:
    """NES-MDB's conductor track: tempo 120 and 4/4 at tick 0, 1/1 at ``end`` if > 0.

    symusic writes a time signature before a tempo at the same tick; NES-MDB (and
    miditoolkit) write the tempo first. So the tempo and the time signatures are written as
    two tracks and joined: the tempo's track holds one event at tick 0 and its end of track
    one tick later, so without that end of track it is a prefix of a track whose next
    event (the 4/4, delta 0) is also at tick 0.
    """
    import symusic

    tempo = symusic.Score()  # ticks per beat do not matter inside a track
    tempo.tempos.append(symusic.Tempo(0, mspq=500_000))
    signatures = symusic.Score()
    signatures.time_signatures.append(symusic.TimeSignature(0, 4, 4))
    if end > 0:
        signatures.time_signatures.append(symusic.TimeSignature(end, 1, 1))
    (head,) = _symusic_chunks(tempo, 1)
    (tail,) = _symusic_chunks(signatures, 1)
    if not head.endswith(_END_OF_TRACK_AT_NEXT_TICK):
        raise RuntimeError("symusic wrote an unexpected tempo track (see _symusic_chunks)")
    body = head[8 : -len(_END_OF_TRACK_AT_NEXT_TICK)] + tail[8:]
    return b"MTrk" + len(body).to_bytes(4, "big") + body


def _symusic_chunks(score, n_tracks: int) -> list[bytes]:
    """The ``MTrk`` chunks (header included) symusic writes for ``score``.

    Relies on symusic 0.6 behaviour its documentation does not promise (pin:
    ``symusic<0.7``), all guarded by
    ``tests/data/test_midi_io.py::test_symusic_writer_behaviour_we_rely_on``: a score
    without tempos or time signatures writes one chunk per track, in order, each opened by
    its name (if any) and program change at tick 0, even without notes; channels by
    position, 9 skipped, a drum track on 9; a score without tracks writes its tempos or time
    signatures as one chunk; events sorted stably by tick from the order name, program
    change, control changes, then each note's note-on and note-off (velocity kept) in the
    order given; running status; end of track one tick after the last event.
    """
    data = score.dumps_midi()
    chunks = [data[start - 8 : end] for start, end in scan_chunks(data).tracks]
    if len(chunks) != n_tracks:
        raise RuntimeError(f"symusic wrote {len(chunks)} tracks for {n_tracks} (see _symusic_chunks)")
    return chunks
