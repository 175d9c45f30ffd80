"""A linear pure-Python walk over Standard MIDI File structure, for what symusic cannot tell us.

symusic parses the notes (fast, in C++), but its errors are free-text ``RuntimeError``s and
it drops what tokenization does not need to see but the project does: empty tracks, the
channel of a track, which MIDI track a note came from. This module supplies those, each in
time linear in the bytes it reads:

- :func:`scan_chunks` checks the header and chunk lengths (a handful of steps per file);
- :func:`track_head` reads a track's events only up to its first note, for its name,
  program and channel (NES-MDB puts them at tick 0, before any note);
- :func:`diagnose_track` walks a whole track, and runs only when symusic rejected it or
  returned something implausible, to give the corpus report a reason instead of a message.

Every failure is a :class:`MidiReadError` with one of its documented reasons.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass


class MidiReadError(ValueError):
    """The bytes are not a MIDI file this project can read (the one documented error).

    ``reason`` sorts failures for the corpus report: ``empty`` (0 bytes), ``not_midi``
    (no MIDI header at all, e.g. a text file named .mid), ``truncated`` (a chunk or event
    runs past the end, the usual result of an interrupted download or copy),
    ``malformed`` (bytes inside the file break the format), ``unsupported`` (valid MIDI
    this reader does not handle), ``too_large`` (bigger than the size cap, refused before
    reading) or ``unreadable_file`` (not a regular file, or the OS refused to read it).
    """

    REASONS = ("empty", "not_midi", "truncated", "malformed", "unsupported", "too_large", "unreadable_file")

    def __init__(self, message: str, reason: str = "malformed"):
        super().__init__(message)
        self.reason = reason


# symusic keeps ticks in int32; a track whose ticks pass this is refused, not wrapped.
MAX_TICK = 2**31 - 1
_DATA_LENGTH = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}


@dataclass(frozen=True)
class Header:
    """The MThd fields we use and where each MTrk chunk's events lie in the file."""

    fmt: int
    ticks_per_beat: int
    tracks: list[tuple[int, int]]  # (start, end) byte offsets of each MTrk body


def scan_chunks(data: bytes) -> Header:
    """Check header and chunk lengths; unknown chunk types are skipped as the SMF spec says."""
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
    tracks = []
    pos = 8 + header_len
    for _ in range(n_tracks):  # at most 65535 steps, whatever the file claims
        if pos + 8 > len(data):
            raise MidiReadError("file ends before all declared tracks", "truncated")
        kind, (length,) = data[pos : pos + 4], struct.unpack(">I", data[pos + 4 : pos + 8])
        pos += 8
        if pos + length > len(data):
            raise MidiReadError("track chunk runs past the end of the file", "truncated")
        if kind == b"MTrk":
            tracks.append((pos, pos + length))
        pos += length
    return Header(fmt, division, tracks)


def _varlen(data: bytes, pos: int, end: int) -> tuple[int, int]:
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


def _events(data: bytes, pos: int, end: int):
    """Yield ``(tick, status, a, b, meta_type, payload_start, payload_end)`` per event.

    Channel messages have ``meta_type`` None; meta events have status 0xFF; sysex events
    are skipped. Stops after end-of-track, like every reader.
    """
    tick = 0
    status = 0
    while pos < end:
        delta, pos = _varlen(data, pos, end)
        tick += delta
        if tick > MAX_TICK:
            raise MidiReadError(f"track longer than {MAX_TICK} ticks", "unsupported")
        if pos >= end:
            raise MidiReadError("track ends inside an event", "truncated")
        byte = data[pos]
        if byte & 0x80:
            pos += 1
            if byte == 0xFF:
                if pos >= end:
                    raise MidiReadError("truncated meta event", "truncated")
                meta_type = data[pos]
                length, pos = _varlen(data, pos + 1, end)
                if pos + length > end:
                    raise MidiReadError("meta event runs past the end of its track", "truncated")
                yield tick, 0xFF, 0, 0, meta_type, pos, pos + length
                pos += length
                if meta_type == 0x2F:
                    return
                continue
            if byte in (0xF0, 0xF7):
                length, pos = _varlen(data, pos, end)
                if pos + length > end:
                    raise MidiReadError("sysex event runs past the end of its track", "truncated")
                pos += length
                continue
            if byte >= 0xF0:
                raise MidiReadError(f"unsupported system message 0x{byte:02X} in a file", "unsupported")
            status = byte
        elif not status:
            raise MidiReadError("data byte without a running status")
        n = _DATA_LENGTH[status & 0xF0]
        if pos + n > end:
            raise MidiReadError("channel message runs past the end of its track", "truncated")
        a = data[pos]
        b = data[pos + 1] if n == 2 else 0
        if a > 127 or b > 127:
            # A byte >= 0x80 where data belongs (e.g. a "pitch 128") means the event stream
            # is corrupt from here on: nothing after it can be trusted, so the file is.
            raise MidiReadError(f"channel message data byte above 127 at byte {pos}")
        pos += n
        yield tick, status, a, b, None, 0, 0


@dataclass(frozen=True)
class TrackHead:
    """``has_note_on`` is False only when the whole track was read and held no note-on, so
    the notes parser can be skipped (NES-MDB's conductor track and silent voices)."""

    name: str
    program: int | None
    channel: int | None
    has_note_on: bool


def track_head(data: bytes, start: int, end: int) -> TrackHead:
    """Name, program and channel of a track: its first track name, first program change,
    and the channel of the first program change or note-on.

    Reading stops at the first note-on once name and program are known, so a NES-MDB track
    (both at tick 0) costs a few events; other tracks are read further, at worst to the end
    (still linear).
    """
    name, program, channel, has_note_on = "", None, None, False
    for _tick, status, a, b, meta_type, p0, p1 in _events(data, start, end):
        if meta_type is not None:
            if meta_type == 0x03 and not name:
                name = data[p0:p1].decode("latin-1")
        elif status & 0xF0 == 0xC0 and program is None:
            program = a
            channel = status & 0x0F if channel is None else channel
        elif status & 0xF0 == 0x90 and b > 0:
            channel = status & 0x0F if channel is None else channel
            has_note_on = True
        if has_note_on and name and program is not None:
            break
    return TrackHead(name, program, channel, has_note_on)


def diagnose_track(data: bytes, start: int, end: int) -> None:
    """Walk a whole track and raise the MidiReadError that classifies what is wrong with it.

    Returns normally when the walk finds nothing; the caller then reports the parser's own
    message as ``malformed``.
    """
    for _ in _events(data, start, end):
        pass
