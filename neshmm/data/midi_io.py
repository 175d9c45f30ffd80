"""Reading and writing NES-MDB style MIDI files.

The reader is a small Standard MIDI File parser of our own rather than miditoolkit: parsing
is the dominant cost of tokenizing NES-MDB (thousands of files full of CC 11 volume
messages), and mido builds and validates one Python object per message. This parser keeps
only what tokenization needs (track names, programs, notes) and pairs note-on/note-off
events exactly as miditoolkit does (FIFO per channel and pitch), which a test checks on the
real corpus. Every malformed input raises :class:`MidiReadError` and nothing else, so a
corpus walk can skip and count bad files.

Writing goes through miditoolkit (the format NES-MDB files use) into a temporary file
that is renamed into place, so a killed writer never leaves a truncated MIDI file.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neshmm.atomic import atomic_path

NOTE_FIELDS = ("start", "end", "pitch", "velocity")


class MidiReadError(ValueError):
    """The bytes are not a MIDI file this project can read (the one documented error).

    ``reason`` sorts failures for the corpus report: ``empty`` (0 bytes), ``not_midi``
    (no MIDI header at all, e.g. a text file named .mid), ``truncated`` (a chunk or event
    runs past the end, the usual result of an interrupted download or copy),
    ``malformed`` (bytes inside the file break the format), ``unsupported`` (valid MIDI
    this reader does not handle) or ``unreadable_file`` (the OS refused to read it).
    """

    REASONS = ("empty", "not_midi", "truncated", "malformed", "unsupported", "unreadable_file")

    def __init__(self, message: str, reason: str = "malformed"):
        super().__init__(message)
        self.reason = reason


@dataclass
class Track:
    """One MIDI track: its name, first program, channel and notes.

    ``notes`` is an ``(n, 4)`` int64 array of (start, end, pitch, velocity) in ticks,
    sorted by start (stable, so simultaneous notes keep their note-off order).
    ``unclosed`` counts note-ons that no note-off ever ended; like miditoolkit, they are
    not notes, but the corpus report counts them so that they are not lost silently.
    """

    name: str
    program: int | None
    channel: int | None
    notes: np.ndarray
    unclosed: int = 0


@dataclass
class Song:
    ticks_per_beat: int
    tracks: list[Track] = field(default_factory=list)
    end_tick: int = 0


def _read_varlen(data: bytes, pos: int, end: int) -> tuple[int, int]:
    value = 0
    for _ in range(4):
        if pos >= end:
            raise MidiReadError("variable-length quantity runs past the end of a track", "truncated")
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos
    raise MidiReadError("variable-length quantity longer than 4 bytes")


_DATA_LENGTH = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}


def _parse_track(data: bytes, pos: int, end: int) -> tuple[Track, int]:
    tick = 0
    status = 0
    name = ""
    program: int | None = None
    channel: int | None = None
    open_notes: dict[tuple[int, int], list[tuple[int, int]]] = {}
    notes: list[tuple[int, int, int, int]] = []
    while pos < end:
        delta, pos = _read_varlen(data, pos, end)
        tick += delta
        if pos >= end:
            raise MidiReadError("track ends inside an event", "truncated")
        byte = data[pos]
        if byte & 0x80:
            pos += 1
            if byte == 0xFF:
                if pos >= end:
                    raise MidiReadError("truncated meta event", "truncated")
                meta_type = data[pos]
                length, pos = _read_varlen(data, pos + 1, end)
                if pos + length > end:
                    raise MidiReadError("meta event runs past the end of its track", "truncated")
                if meta_type == 0x03 and not name:
                    name = data[pos : pos + length].decode("latin-1")
                pos += length
                if meta_type == 0x2F:
                    break
                continue
            if byte in (0xF0, 0xF7):
                length, pos = _read_varlen(data, pos, end)
                if pos + length > end:
                    raise MidiReadError("sysex event runs past the end of its track", "truncated")
                pos += length
                continue
            if byte >= 0xF0:
                raise MidiReadError(f"unsupported system message 0x{byte:02X} in a file", "unsupported")
            status = byte
        elif not status:
            raise MidiReadError("data byte without a running status")
        kind = status & 0xF0
        ch = status & 0x0F
        n = _DATA_LENGTH[kind]
        if pos + n > end:
            raise MidiReadError("channel message runs past the end of its track", "truncated")
        a = data[pos]
        b = data[pos + 1] if n == 2 else 0
        if a > 127 or b > 127:
            # A byte >= 0x80 where data belongs (e.g. a "pitch 128") means the event stream
            # is corrupt from here on: nothing after it can be trusted, so the file is.
            raise MidiReadError(f"channel message data byte above 127 at byte {pos}")
        pos += n
        if kind == 0x90 and b > 0:
            open_notes.setdefault((ch, a), []).append((tick, b))
            if channel is None:
                channel = ch
        elif kind == 0x80 or kind == 0x90:
            pending = open_notes.get((ch, a))
            if pending:
                start, velocity = pending.pop(0)
                notes.append((start, tick, a, velocity))
                if not pending:
                    del open_notes[(ch, a)]
        elif kind == 0xC0 and program is None:
            program = a
            if channel is None:
                channel = ch
    arr = np.array(notes, dtype=np.int64).reshape(-1, 4)
    if len(arr):
        arr = arr[np.argsort(arr[:, 0], kind="stable")]
    unclosed = sum(len(v) for v in open_notes.values())
    return Track(name=name, program=program, channel=channel, notes=arr, unclosed=unclosed), tick


def parse_midi_bytes(data: bytes) -> Song:
    """Parse Standard MIDI File bytes; raise MidiReadError on anything malformed."""
    if not data:
        raise MidiReadError("empty file (0 bytes)", "empty")
    if not (data[:4] == b"MThd" or (len(data) < 4 and b"MThd".startswith(data))):
        raise MidiReadError("not a MIDI file (no MThd header)", "not_midi")
    if len(data) < 14:
        raise MidiReadError("file ends inside the MThd header", "truncated")
    (header_len,) = struct.unpack(">I", data[4:8])
    if header_len < 6 or 8 + header_len > len(data):
        raise MidiReadError("bad MThd header length", "truncated" if len(data) < 8 + header_len else "malformed")
    fmt, n_tracks, division = struct.unpack(">HHH", data[8:14])
    if fmt > 2:
        raise MidiReadError(f"unknown MIDI format {fmt}", "unsupported")
    if division & 0x8000 or division == 0:
        raise MidiReadError("SMPTE or zero time division is not supported", "unsupported")
    song = Song(ticks_per_beat=division)
    pos = 8 + header_len
    for _ in range(n_tracks):
        if pos + 8 > len(data):
            raise MidiReadError("file ends before all declared tracks", "truncated")
        chunk, length = data[pos : pos + 4], struct.unpack(">I", data[pos + 4 : pos + 8])[0]
        pos += 8
        if pos + length > len(data):
            raise MidiReadError("track chunk runs past the end of the file", "truncated")
        if chunk == b"MTrk":
            track, last_tick = _parse_track(data, pos, pos + length)
            song.tracks.append(track)
            song.end_tick = max(song.end_tick, last_tick)
        pos += length
    return song


def read_midi(path: str | os.PathLike) -> Song:
    """Read a MIDI file; I/O problems and malformed bytes both become MidiReadError."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise MidiReadError(f"cannot read: {exc.strerror or exc}", "unreadable_file") from exc
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
