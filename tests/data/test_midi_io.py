"""The MIDI reader: symusic's pairing rules as we rely on them, bounds on size and time,
and a MidiReadError with a reason for everything symusic rejects."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from neshmm.data.midi_io import MAX_FILE_BYTES, MidiReadError, parse_midi_bytes, read_midi
from neshmm.data.midi_scan import MAX_TICK

from helpers import TPB, chunk, conductor, name_event, note_track, smf, track, vlq


def notes_of(data: bytes) -> list[tuple[str, int | None, int | None, list]]:
    return [(t.name, t.program, t.channel, t.notes.tolist()) for t in parse_midi_bytes(data).tracks]


def test_pairing_semantics():
    """Guards the symusic adapter (neshmm.data.midi_io._symusic_notes): these are the rules
    our old reader and miditoolkit had, so the 4,905 NES-MDB files read identically."""
    on, off = (lambda p, v=9, ch=0: bytes([0x90 | ch, p, v])), (lambda p, ch=0: bytes([0x80 | ch, p, 0]))
    events = [
        (0, name_event("p1")), (0, b"\xc0\x50"),
        (0, on(60, 9)), (10, on(60, 10)), (20, off(60)), (30, off(60)),  # same pitch twice: FIFO
        (40, on(62)), (50, b"\x90\x3e\x00"),  # velocity-0 note-on ends a note
        (60, off(64)),  # a stray note-off is ignored
        (70, on(65)), (70, off(65)),  # zero length: kept here, dropped by voices
        (80, on(67)),  # never ended: dropped
    ]
    assert notes_of(smf(track(events))) == [
        ("p1", 80, 0, [[0, 20, 60, 9], [10, 30, 60, 10], [40, 50, 62, 9], [70, 70, 65, 9]])
    ]


def test_one_track_stays_one_track_whatever_its_channels_and_programs():
    """symusic splits a track by (channel, program); a Track here is one MIDI track, named
    by its first name, with its first program and channel, notes sorted by start."""
    events = [
        (0, name_event("all")), (0, name_event("later")), (0, b"\xc0\x50"), (0, b"\xc1\x51"),
        (0, b"\x91\x40\x09"), (5, b"\x90\x3c\x09"), (10, b"\x80\x3c\x00"), (10, b"\x81\x40\x00"),
        (12, b"\xc0\x26"), (15, b"\x90\x3e\x05"), (20, b"\x80\x3e\x00"),
    ]
    for fmt in (0, 1):
        assert notes_of(smf(track(events), fmt=fmt)) == [
            ("all", 80, 0, [[0, 10, 64, 9], [5, 10, 60, 9], [15, 20, 62, 5]])
        ]


def test_empty_tracks_and_the_conductor_are_kept_and_the_song_end_is_the_last_note_end():
    song = parse_midi_bytes(smf(conductor(), note_track("p1", 80, []), note_track("tr", 38, [(0, 7, 40, 1)], 2)))
    assert [(t.name, t.program, t.channel, len(t.notes)) for t in song.tracks] == [
        ("", None, None, 0), ("p1", 80, 0, 0), ("tr", 38, 2, 1)
    ]
    assert song.end_tick == 7 and song.ticks_per_beat == TPB


def same_pitch_pileup(n: int) -> bytes:
    """n note-ons on one pitch, then n note-offs: quadratic for a list-based FIFO."""
    body = name_event("p1") + b"\x01\x90\x3c\x09" * n + b"\x01\x80\x3c\x00" * n
    return smf(chunk(b"MTrk", b"\x00" + body + b"\x00\xff\x2f\x00"))


def best_time(n: int) -> float:
    data = same_pitch_pileup(n)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        song = parse_midi_bytes(data)
        best = min(best, time.perf_counter() - t)
    assert len(song.tracks[0].notes) == n and song.tracks[0].notes[-1].tolist() == [n, 2 * n, 60, 9]  # FIFO
    return best


def test_same_pitch_pileup_parses_in_linear_time():
    """4x the notes must cost well under 16x (quadratic) the time; 10x leaves room for noise."""
    small, big = best_time(50_000), best_time(200_000)
    assert big / small < 10, (small, big)


def test_file_over_the_size_cap_is_refused_unread(tmp_path):
    path = tmp_path / "huge.mid"
    with open(path, "wb") as f:
        f.truncate(30 * 2**30)  # 30 GB, sparse: reading it would exhaust memory
    with pytest.raises(MidiReadError) as e:
        read_midi(path)
    assert e.value.reason == "too_large" and str(MAX_FILE_BYTES) in str(e.value)
    small = tmp_path / "small.mid"
    small.write_bytes(smf(conductor(), note_track("p1", 80, [(0, 10, 60, 9)])))
    with pytest.raises(MidiReadError) as e:
        read_midi(small, max_bytes=20)
    assert e.value.reason == "too_large"
    assert len(read_midi(small).tracks) == 2


def test_a_fifo_is_refused_without_opening_it(tmp_path):
    os.mkfifo(tmp_path / "fifo.mid")  # open() would block until a writer appears
    with pytest.raises(MidiReadError) as e:
        read_midi(tmp_path / "fifo.mid")
    assert e.value.reason == "unreadable_file"


@pytest.mark.parametrize(
    "events,reason,words",
    [
        # after the first note, so symusic rejects it and the diagnostic walk classifies it
        ([(0, b"\x90\x3c\x09"), (5, b"\x80\x85\x00")], "malformed", "above 127"),
        ([(0, b"\x90\x3c\x09"), (5, b"\x80\x3c\x00"), (6, b"\xf0\x7f")], "truncated", "sysex"),
        ([(0, b"\x90\x3c\x09"), (0, b"\xff\x2f\x00")], "malformed", "track 1"),  # an on, symusic-fine
    ],
)
def test_what_symusic_rejects_gets_a_reason(events, reason, words):
    data = smf(track([(0, name_event("p1"))] + events))
    if words == "track 1":
        assert notes_of(data)[0][3] == []  # the never-ended note is dropped, no error
        return
    with pytest.raises(MidiReadError) as e:
        parse_midi_bytes(data)
    assert e.value.reason == reason and words in str(e.value), e.value


def test_a_track_event_cut_inside_its_chunk_is_truncated():
    body = b"\x00" + name_event("p1") + b"\x00\x90\x3c\x09\x05\x80\x3c"  # note-off lacks a byte
    with pytest.raises(MidiReadError) as e:
        parse_midi_bytes(smf(chunk(b"MTrk", body)))
    assert e.value.reason == "truncated"


def test_ticks_past_int32_are_unsupported_not_wrapped():
    """symusic keeps ticks in int32, so notes after 2**31 ticks come back with wrapped
    (negative) times: such a song is refused rather than read wrong. (A note that merely
    spans the wrap is dropped by symusic without a trace: 13.5 hours at NES-MDB's rate.)"""
    big = vlq(0x0FFFFFFF)
    body = b"\x00" + name_event("p1") + b"\x00\x90\x3c\x09" + (big + b"\xff\x01\x00") * 9 + b"\x01\x80\x3c\x00\x00\x90\x3e\x09\x01\x80\x3e\x00"
    assert 9 * 0x0FFFFFFF > MAX_TICK
    with pytest.raises(MidiReadError) as e:
        parse_midi_bytes(smf(chunk(b"MTrk", body + b"\x00\xff\x2f\x00")))
    assert e.value.reason == "unsupported"


def test_written_file_reads_back_the_same_notes(tmp_path):
    from neshmm.data.midi_io import write_midi
    from neshmm.data.voices import PROGRAMS

    rng = np.random.default_rng(5)
    starts = np.cumsum(rng.integers(TPB, 2 * TPB, 300))  # monophonic, as NES voices are
    notes = np.stack([starts, starts + rng.integers(1, TPB, 300), rng.integers(1, 128, 300), rng.integers(1, 16, 300)], 1)
    write_midi(tmp_path / "w.mid", {"no": notes}, TPB, PROGRAMS)
    song = read_midi(tmp_path / "w.mid")
    assert [(t.name, t.program, t.channel) for t in song.tracks][-1] == ("no", 121, 9)
    np.testing.assert_array_equal(song.tracks[-1].notes, notes)
