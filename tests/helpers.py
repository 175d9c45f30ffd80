"""Shared test helpers: MIDI files built byte by byte, so each test shows which bytes are wrong.

No committed binaries: every fixture file is made here. Imported by tests in any folder
(``from helpers import ...``; ``tests/`` is on ``sys.path`` through its conftest).
"""

from __future__ import annotations

TPB = 22050


def vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def chunk(kind: bytes, body: bytes) -> bytes:
    return kind + len(body).to_bytes(4, "big") + body


def track(events: list[tuple[int, bytes]]) -> bytes:
    """An MTrk chunk from (absolute tick, event bytes), stable-sorted by tick, + end of track."""
    body, now = b"", 0
    for tick, ev in sorted(events, key=lambda e: e[0]):
        body += vlq(tick - now) + ev
        now = tick
    return chunk(b"MTrk", body + b"\x00\xff\x2f\x00")


def name_event(name: str) -> bytes:
    raw = name.encode("latin-1")
    return b"\xff\x03" + vlq(len(raw)) + raw


def note_track(name: str, program: int | None, notes, channel: int = 0) -> bytes:
    """A named track; notes are (start, end, pitch, velocity). Note-offs sort before
    note-ons at the same tick, as in NES-MDB (so back-to-back notes never overlap), except
    the off of a zero-length note, which follows its own on."""
    events = [(0, name_event(name))]
    if program is not None:
        events.append((0, bytes([0xC0 | channel, program])))
    timed = []
    for start, end, pitch, vel in notes:
        timed.append((start, 1, bytes([0x90 | channel, pitch, vel])))
        timed.append((end, 2 if end == start else 0, bytes([0x80 | channel, pitch, 0])))
    events += [(t, ev) for t, _, ev in sorted(timed, key=lambda e: (e[0], e[1]))]
    return track(events)


def smf(*tracks: bytes, tpb: int = TPB, fmt: int = 1) -> bytes:
    header = chunk(b"MThd", fmt.to_bytes(2, "big") + len(tracks).to_bytes(2, "big") + tpb.to_bytes(2, "big"))
    return header + b"".join(tracks)


def conductor() -> bytes:
    return track([(0, b"\xff\x51\x03\x07\xa1\x20")])  # tempo 120


def good_song(tpb: int = TPB, shift: int = 0) -> bytes:
    """A small valid four-voice file in the NES-MDB layout."""
    def beat(x):
        return int(round(x * tpb))

    return smf(
        conductor(),
        note_track("p1", 80, [(beat(0), beat(1), 60 + shift, 9), (beat(1), beat(1.5), 62, 12), (beat(2), beat(4), 64, 5)], 0),
        note_track("p2", 81, [(beat(0), beat(2), 55, 7), (beat(2), beat(2.75), 57, 3)], 1),
        note_track("tr", 38, [(beat(0), beat(4), 43, 1)], 2),
        note_track("no", 121, [(beat(0), beat(0.25), 5, 15), (beat(1), beat(1.25), 3, 8)], 9),
        tpb=tpb,
    )
