"""The MIDI reader and writer: symusic's pairing rules and writing behaviour as we rely on
them, bounds on size and time, and a MidiReadError with a reason for everything symusic
rejects."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from neshmm.data.midi_io import MAX_FILE_BYTES, MAX_WRITE_TICK, MidiReadError, parse_midi_bytes, read_midi, write_midi
from neshmm.data.midi_scan import MAX_TICK, _events, scan_chunks
from neshmm.data.voices import PROGRAMS

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
    rng = np.random.default_rng(5)
    starts = np.cumsum(rng.integers(TPB, 2 * TPB, 300))  # monophonic, as NES voices are
    notes = np.stack([starts, starts + rng.integers(1, TPB, 300), rng.integers(1, 128, 300), rng.integers(1, 16, 300)], 1)
    write_midi(tmp_path / "w.mid", {"no": notes}, TPB, PROGRAMS)
    song = read_midi(tmp_path / "w.mid")
    assert [(t.name, t.program, t.channel) for t in song.tracks][-1] == ("no", 121, 9)
    np.testing.assert_array_equal(song.tracks[-1].notes, notes)


def raw_events(chunk: bytes) -> list[tuple]:
    """(tick, status, a, b, meta type, meta payload) of one MTrk chunk, by our own byte walk."""
    return [(t, s, a, b, m, chunk[p0:p1]) for t, s, a, b, m, p0, p1 in _events(chunk, 8, len(chunk))]


def chunks_of(data: bytes) -> list[bytes]:
    return [data[start - 8 : end] for start, end in scan_chunks(data).tracks]


EOT = 0x2F


def test_symusic_writer_behaviour_we_rely_on():
    """Guards neshmm.data.midi_io._symusic_chunks (pin: symusic<0.7): what symusic 0.6
    writes for a score, from which write_midi assembles NES-MDB's layout."""
    import symusic

    from neshmm.data.midi_io import _symusic_chunks

    score = symusic.Score(TPB)
    first = symusic.Track("a", 80, False)
    for tick, duration, pitch, velocity in [(0, 10, 60, 9), (10, 5, 62, 7), (10, 5, 61, 6)]:
        first.notes.append(symusic.Note(tick, duration, pitch, velocity))
    for tick, number, value in [(10, 11, 5), (0, 12, 1), (10, 12, 2)]:
        first.controls.append(symusic.ControlChange(tick, number, value))
    score.tracks.extend([first, symusic.Track("", 81, False), symusic.Track("c", 38, False)])
    score.tracks.append(symusic.Track("d", 121, True))
    a, silent, c, drum = _symusic_chunks(score, 4)  # one chunk per track, empty ones too
    assert raw_events(a) == [  # stable by tick from: name, program, controls, (on, off) per note
        (0, 0xFF, 0, 0, 0x03, b"a"), (0, 0xC0, 80, 0, None, b""), (0, 0xB0, 12, 1, None, b""),
        (0, 0x90, 60, 9, None, b""), (10, 0xB0, 11, 5, None, b""), (10, 0xB0, 12, 2, None, b""),
        (10, 0x80, 60, 9, None, b""), (10, 0x90, 62, 7, None, b""), (10, 0x90, 61, 6, None, b""),
        (15, 0x80, 62, 7, None, b""), (15, 0x80, 61, 6, None, b""), (16, 0xFF, 0, 0, EOT, b""),
    ]
    assert b"\x00\x90\x3e\x07\x00\x3d\x06" in a, "running status, as mido wrote"
    # no name event without a name; channels by position, 9 skipped, the drum track on 9
    assert raw_events(silent) == [(0, 0xC1, 81, 0, None, b""), (1, 0xFF, 0, 0, EOT, b"")]
    assert raw_events(c)[1] == (0, 0xC2, 38, 0, None, b"")
    assert raw_events(drum)[1] == (0, 0xC9, 121, 0, None, b"")

    tempo = symusic.Score(TPB)
    tempo.tempos.append(symusic.Tempo(0, mspq=500_000))
    assert _symusic_chunks(tempo, 1) == [b"MTrk\x00\x00\x00\x0b\x00\xff\x51\x03\x07\xa1\x20\x01\xff\x2f\x00"]
    signatures = symusic.Score(TPB)
    signatures.time_signatures.extend([symusic.TimeSignature(0, 4, 4), symusic.TimeSignature(300, 1, 1)])
    (chunk,) = _symusic_chunks(signatures, 1)
    assert raw_events(chunk) == [
        (0, 0xFF, 0, 0, 0x58, b"\x04\x02\x18\x08"), (300, 0xFF, 0, 0, 0x58, b"\x01\x00\x18\x08"),
        (301, 0xFF, 0, 0, EOT, b""),
    ]


def test_written_layout_event_by_event(tmp_path):
    """The conductor (tempo first, then 4/4, 1/1 at the end, end of track one tick later)
    and the voices, as write_midi assembles them from symusic's chunks."""
    path = tmp_path / "x.mid"
    notes = np.array([[5, 10, 60, 9], [0, 20, 62, 8], [5, 7, 64, 7]])  # out of order on purpose
    write_midi(path, {"p1": notes, "no": notes[:1]}, 480, PROGRAMS, end_tick=40,
               control_changes={"p1": [(5, 11, 3), (0, 12, 2)], "p2": [(0, 11, 1)]})
    data = path.read_bytes()
    assert data[:14] == b"MThd\x00\x00\x00\x06\x00\x01\x00\x05\x01\xe0"
    conductor, p1, p2, tr, no = chunks_of(data)
    assert raw_events(conductor) == [
        (0, 0xFF, 0, 0, 0x51, b"\x07\xa1\x20"), (0, 0xFF, 0, 0, 0x58, b"\x04\x02\x18\x08"),
        (40, 0xFF, 0, 0, 0x58, b"\x01\x00\x18\x08"), (41, 0xFF, 0, 0, EOT, b""),
    ]
    assert raw_events(p1) == [  # at one tick: controls, note-offs, note-ons (by end)
        (0, 0xFF, 0, 0, 0x03, b"p1"), (0, 0xC0, 80, 0, None, b""), (0, 0xB0, 12, 2, None, b""),
        (0, 0x90, 62, 8, None, b""), (5, 0xB0, 11, 3, None, b""), (5, 0x90, 64, 7, None, b""),
        (5, 0x90, 60, 9, None, b""), (7, 0x80, 64, 7, None, b""), (10, 0x80, 60, 9, None, b""),
        (20, 0x80, 62, 8, None, b""), (21, 0xFF, 0, 0, EOT, b""),
    ]
    # a silent voice: an empty track, its control changes not written
    assert raw_events(p2) == [(0, 0xFF, 0, 0, 0x03, b"p2"), (0, 0xC1, 81, 0, None, b""), (1, 0xFF, 0, 0, EOT, b"")]
    assert raw_events(tr)[1][:3] == (0, 0xC2, 38) and raw_events(no)[1][:3] == (0, 0xC9, 121)
    write_midi(path, {}, 480, PROGRAMS)  # nothing at all: no 1/1 end marker
    assert raw_events(chunks_of(path.read_bytes())[0]) == [
        (0, 0xFF, 0, 0, 0x51, b"\x07\xa1\x20"), (0, 0xFF, 0, 0, 0x58, b"\x04\x02\x18\x08"),
        (1, 0xFF, 0, 0, EOT, b""),
    ]


def test_a_zero_length_note_is_not_written_and_steals_no_later_note_off(tmp_path):
    """miditoolkit wrote a zero-length note's note-off before its note-on: the dangling
    note-on then took the next note-off of its pitch, turning [10, 20] into [0, 20]."""
    write_midi(tmp_path / "z.mid", {"p1": np.array([[0, 0, 60, 5], [10, 20, 60, 9]])}, TPB, PROGRAMS)
    song = read_midi(tmp_path / "z.mid")
    assert song.tracks[1].notes.tolist() == [[10, 20, 60, 9]] and song.end_tick == 20


@pytest.mark.parametrize(
    "voices,kwargs,words",
    [
        ({"p1": [[0, 10, 128, 9]]}, {}, "pitches"),
        ({"p1": [[0, 10, 60, -1]]}, {}, "velocities"),
        ({"p1": [[-1, 10, 60, 9]]}, {}, "note ticks"),
        ({"p1": [[0, MAX_WRITE_TICK + 1, 60, 9]]}, {}, "note ticks"),  # symusic would wrap it
        ({"p1": [[10, 5, 60, 9]]}, {}, "ends before it starts"),
        ({"p1": [[0, 10, 60, 9]]}, {"control_changes": {"p1": [(0, 11, 128)]}}, "control change numbers"),
        ({"p1": [[0, 10, 60, 9]]}, {"control_changes": {"p1": [(-5, 11, 1)]}}, "control change ticks"),
        ({}, {"end_tick": MAX_WRITE_TICK + 1}, "end_tick"),
        ({}, {"ticks_per_beat": 0x8000}, "ticks_per_beat"),  # the SMPTE bit
        ({}, {"programs": {"p1": 128}}, "program"),
        ({}, {"programs": {"pé": 80}}, "ASCII"),
    ],
)
def test_write_midi_refuses_what_midi_cannot_hold_and_writes_nothing(tmp_path, voices, kwargs, words):
    args = dict(ticks_per_beat=TPB, programs=PROGRAMS) | kwargs
    with pytest.raises(ValueError, match=words):
        write_midi(tmp_path / "x.mid", {v: np.array(n) for v, n in voices.items()}, **args)
    assert list(tmp_path.iterdir()) == []
