"""Bad input files: every one is skipped or cleaned, counted by reason, reported; none is fatal.

Fixtures are MIDI bytes built here by hand (no committed binaries), so each test shows
exactly which bytes are wrong. ``smf``/``note_track`` are imported by other robustness
tests too.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from neshmm.data.corpus import find_midi_files, parse_file, parse_folder, split_report
from neshmm.data.midi_io import MidiReadError, Song, Track, parse_midi_bytes, read_midi
from neshmm.data.tokens import Quantizer, tokenize_notes
from neshmm.data.voices import PROGRAMS, assign_voices

from helpers import ROOT, tool_env

TPB = 22050
Q = Quantizer((0.25, 0.5, 0.75, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0), (1, 4, 8, 12, 16), (0, 2, 4, 6, 8, 10))


# --- building MIDI bytes -----------------------------------------------------------------


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


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def one(tmp_path: Path, data: bytes, name: str = "x.mid"):
    return parse_file(write(tmp_path, name, data), name)


# --- one failure mode per test -----------------------------------------------------------


def test_the_hand_built_song_is_read_with_all_voices(tmp_path):
    r = one(tmp_path, good_song())
    assert r.skipped is None and sorted(r.notes) == sorted(PROGRAMS)
    assert r.notes["p1"].tolist()[0] == [0, TPB, 60, 9]


def test_zero_byte_file_is_skipped_as_empty(tmp_path):
    r = one(tmp_path, b"")
    assert r.skipped == "empty_file"
    with pytest.raises(MidiReadError) as e:
        parse_midi_bytes(b"")
    assert e.value.reason == "empty"


def test_text_file_named_mid_is_skipped_as_not_midi(tmp_path):
    r = one(tmp_path, b"This is not a MIDI file, it is a README someone renamed.\n" * 3)
    assert r.skipped == "not_midi" and "MThd" in r.detail


@pytest.mark.parametrize("seed", range(3))
def test_midi_cut_at_random_offsets_is_skipped_as_truncated(tmp_path, seed):
    data = good_song()
    rng = random.Random(seed)
    for cut in sorted(rng.sample(range(1, len(data)), 25)) + [1, 4, 13, 14, 22, len(data) - 1]:
        r = one(tmp_path, data[:cut])
        assert r.skipped == "truncated_midi", (cut, r.skipped, r.detail)


def test_valid_midi_without_notes_is_skipped_as_no_notes(tmp_path):
    data = smf(conductor(), note_track("p1", 80, []), note_track("tr", 38, []))
    assert len(parse_midi_bytes(data).tracks) == 3
    assert one(tmp_path, data).skipped == "no_notes"


def test_unknown_name_is_mapped_by_program_and_said_so(tmp_path):
    data = smf(conductor(), note_track("Square Lead", 80, [(0, TPB, 60, 9)]), note_track(" TR ", 38, [(0, TPB, 40, 1)]))
    r = one(tmp_path, data)
    assert sorted(r.notes) == ["p1", "tr"]  # by program 80; by name despite case and blanks
    rep = split_report([r])
    assert rep["tracks_mapped_by_program"] == 1 and rep["tracks_dropped"] == {}


def test_unknown_instrument_and_extra_track_are_dropped_and_listed(tmp_path):
    data = smf(
        conductor(),
        note_track("p1", 80, [(0, TPB, 60, 9)]),
        note_track("Piano", 0, [(0, TPB, 60, 100)], 3),
        note_track("Strings", None, [(0, TPB, 64, 100)], 4),
        note_track("Bass", 81, [(0, TPB, 40, 5)], 5),  # extra instrument, mapped to p2 by program
    )
    r = one(tmp_path, data)
    assert sorted(r.notes) == ["p1", "p2"]
    rep = split_report([r])
    assert rep["tracks_dropped"] == {"unknown_instrument": 2}
    assert [(d["track"], d["program"]) for d in rep["dropped_track_examples"]] == [("Piano", 0), ("Strings", None)]


def test_duplicate_voice_name_keeps_the_first_track(tmp_path):
    data = smf(conductor(), note_track("p1", 80, [(0, TPB, 60, 9)]), note_track("p1", 80, [(0, TPB, 72, 9)], 1))
    r = one(tmp_path, data)
    assert r.notes["p1"][:, 2].tolist() == [60]
    assert split_report([r])["tracks_dropped"] == {"duplicate_voice": 1}


def test_zero_length_notes_are_dropped_and_counted(tmp_path):
    data = smf(conductor(), note_track("p1", 80, [(0, 0, 60, 9), (TPB, TPB, 61, 9), (TPB, 2 * TPB, 62, 9)]))
    r = one(tmp_path, data)
    assert r.notes["p1"].tolist() == [[TPB, 2 * TPB, 62, 9]]
    assert split_report([r])["notes_dropped"] == {"non_positive_length": 2}


def test_note_off_before_its_note_on_never_makes_a_negative_length(tmp_path):
    """In bytes, an 'end before start' is a stray note-off then a note-on nobody ends: the
    stray off is ignored (as miditoolkit does) and the unended on is counted, not kept."""
    events = [(0, name_event("p1")), (100, b"\x80\x3c\x00"), (200, b"\x90\x3c\x09"), (300, b"\x90\x3e\x09"), (400, b"\x80\x3e\x00")]
    r = one(tmp_path, smf(conductor(), track(events)))
    assert r.notes["p1"].tolist() == [[300, 400, 62, 9]]
    assert split_report([r])["notes_dropped"] == {"never_ended": 1}


def test_negative_and_out_of_range_notes_from_any_source_are_dropped():
    """A Song may come from elsewhere than our reader: the voice step still refuses notes
    no NES voice can play, by reason."""
    notes = np.array(
        [[0, 10, 60, 9], [50, 20, 60, 9], [60, 70, 200, 9], [80, 90, -1, 9], [100, 110, 61, 0], [120, 130, 62, 300]],
        dtype=np.int64,
    )
    v = assign_voices(Song(TPB, [Track("p1", 80, 0, notes)]))
    assert v.notes["p1"].tolist() == [[0, 10, 60, 9]]
    assert dict(v.dropped_notes) == {"non_positive_length": 1, "pitch_out_of_range": 2, "velocity_out_of_range": 2}


def test_overlapping_notes_in_one_voice_are_kept_counted_and_not_rests(tmp_path):
    notes = [(0, 2 * TPB, 60, 9), (TPB, 3 * TPB, 64, 9), (4 * TPB, 5 * TPB, 67, 9)]
    r = one(tmp_path, smf(conductor(), note_track("p1", 80, notes)))
    assert len(r.notes["p1"]) == 3
    assert split_report([r])["notes_overlapping"] == 1
    tokens = tokenize_notes(r.notes["p1"], TPB, Q).tolist()
    # The second note starts inside the first: no rest; time moves to its end (3 beats),
    # so the gap before the third note is one beat (bin 3).
    assert tokens == [[60, 4, 6], [64, 4, 6], [0, 3, 0], [67, 3, 6]]


def test_pitch_byte_above_127_makes_the_file_malformed(tmp_path):
    """A data byte >= 0x80 where a pitch belongs is a status byte: the stream is corrupt."""
    events = [(0, name_event("p1")), (0, b"\x90\x85\x09"), (TPB, b"\x80\x85\x00")]
    r = one(tmp_path, smf(conductor(), track(events)))
    assert r.skipped == "malformed_midi" and "above 127" in r.detail


def test_velocity_zero_note_on_is_a_note_off(tmp_path):
    events = [(0, name_event("p1")), (0, b"\x90\x3c\x09"), (TPB, b"\x90\x3c\x00"), (2 * TPB, b"\x90\x3e\x00")]
    r = one(tmp_path, smf(conductor(), track(events)))
    assert r.notes["p1"].tolist() == [[0, TPB, 60, 9]]  # the lone velocity-0 on is a stray off
    assert split_report([r])["notes_dropped"] == {}


@pytest.mark.parametrize("tpb", [96, 480, 960])
def test_other_ticks_per_beat_give_the_same_tokens_and_are_counted(tmp_path, tpb):
    ref, other = one(tmp_path, good_song(TPB), "a.mid"), one(tmp_path, good_song(tpb), "b.mid")
    assert other.ticks_per_beat == tpb
    for v in PROGRAMS:
        assert tokenize_notes(other.notes[v], tpb, Q).tolist() == tokenize_notes(ref.notes[v], TPB, Q).tolist(), v
    assert split_report([ref, other])["files_nonstandard_ticks_per_beat"] == 1


def test_song_shorter_than_one_token_becomes_one_smallest_token(tmp_path):
    r = one(tmp_path, smf(conductor(), note_track("tr", 38, [(0, 1, 45, 1)])))
    assert r.skipped is None
    assert tokenize_notes(r.notes["tr"], TPB, Q).tolist() == [[45, 0, 2]]


def test_smpte_division_and_unknown_format_are_unsupported(tmp_path):
    assert one(tmp_path, smf(conductor(), tpb=0xE250)).skipped == "unsupported_midi"
    assert one(tmp_path, smf(conductor(), fmt=7)).skipped == "unsupported_midi"


def test_folder_with_subfolders_symlink_loops_and_special_files(tmp_path):
    root = tmp_path / "train"
    write(root, "a.mid", good_song())
    write(root, "deeper/b.MID", good_song(shift=2))
    write(root, "notes.txt", b"ignored: not a .mid name")
    (root / "deeper" / "loop").symlink_to(root, target_is_directory=True)  # directory cycle
    (root / "self.mid").symlink_to(root / "self.mid")  # symlink to itself
    (root / "broken.mid").symlink_to(root / "missing.mid")
    (root / "link.mid").symlink_to(root / "a.mid")  # symlinked file: read like any file
    (root / "folder.mid").mkdir()  # a directory with a MIDI name is not a file
    os.mkfifo(root / "fifo.mid")  # reading it would block forever
    found = [p.relative_to(root).as_posix() for p in find_midi_files(root)]
    assert found == ["a.mid", "broken.mid", "deeper/b.MID", "fifo.mid", "link.mid", "self.mid"]
    rep = split_report(parse_folder(root, jobs=1))
    assert rep["files_read"] == 3
    assert rep["files_skipped"] == {"not_a_file": 1, "unreadable_file": 2}


def test_report_lists_every_skip_reason_and_example(tmp_path):
    folder = tmp_path / "c"
    write(folder, "0.mid", b"")
    write(folder, "1.mid", b"hello")
    write(folder, "2.mid", good_song()[:50])
    write(folder, "3.mid", smf(conductor()))
    write(folder, "4.mid", good_song())
    rep = split_report(parse_folder(folder, jobs=1))
    assert (rep["files_found"], rep["files_read"]) == (5, 1)
    assert rep["files_skipped"] == {"empty_file": 1, "no_notes": 1, "not_midi": 1, "truncated_midi": 1}
    assert [e["file"] for e in rep["skipped_examples"]] == ["0.mid", "1.mid", "2.mid", "3.mid"]
    json.dumps(rep)  # the report is plain JSON


# --- the stage, as a user runs it ----------------------------------------------------------


def params_for(tmp: Path, corpus: Path, **data) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(path=str(corpus), **data)
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))


def run_stage(cwd: Path, stage: str) -> subprocess.CompletedProcess:
    """Run one stage as DVC does; `prepare` is preceded by `scan`, whose manifest it reads
    (DVC runs scan before prepare on every repro)."""
    env = tool_env()
    env["PYTHONPATH"] = str(ROOT)
    if stage == "prepare":
        scanned = subprocess.run([sys.executable, "-m", "stages.scan"], cwd=cwd, env=env, capture_output=True,
                                 text=True, timeout=300)
        if scanned.returncode != 0:
            return scanned
    return subprocess.run([sys.executable, "-m", f"stages.{stage}"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def bad_corpus(root: Path, n_good: int = 12) -> None:
    """Every failure mode in one corpus, among enough good files to stay under the limit."""
    for split, n in (("train", n_good), ("valid", 3), ("test", 3)):
        for i in range(n):
            write(root / split, f"good{i:02d}.mid", good_song(shift=i % 5))
    t = root / "train"
    write(t, "empty.mid", b"")
    write(t, "text.mid", b"not midi\n")
    write(t, "cut.mid", good_song()[:77])
    write(t, "weird/instruments.mid", smf(conductor(), note_track("p1", 80, [(0, TPB, 60, 9)]),
                                          note_track("Piano", 0, [(0, TPB, 60, 99)], 3),
                                          note_track("p1", 80, [(0, TPB, 61, 9)], 4)))
    write(t, "zero_length.mid", smf(conductor(), note_track("p2", 81, [(0, 0, 60, 9), (0, TPB, 62, 9)])))
    write(t, "resolution.mid", good_song(480))
    (t / "weird" / "loop").symlink_to(t, target_is_directory=True)


def test_prepare_stage_skips_counts_reports_and_prints_one_line(tmp_path):
    corpus = tmp_path / "corpus"
    bad_corpus(corpus)
    work = tmp_path / "work"
    work.mkdir()
    params_for(work, corpus)
    proc = run_stage(work, "prepare")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    assert "files read train 15/18" in lines[0] and "3 skipped (empty_file 1, not_midi 1, truncated_midi 1)" in lines[0]
    assert "2 tracks dropped (duplicate_voice 1, unknown_instrument 1)" in lines[0]
    assert "1 notes dropped (non_positive_length 1)" in lines[0]
    report = json.loads((work / "data/prepared/report.json").read_text())
    train = report["splits"]["train"]
    assert train["files_skipped"] == {"empty_file": 1, "not_midi": 1, "truncated_midi": 1}
    assert train["tracks_dropped"] == {"duplicate_voice": 1, "unknown_instrument": 1}
    assert train["files_nonstandard_ticks_per_beat"] == 1
    assert report["totals"]["files_read"] == 21
    assert lines[0] == f"{report['summary']}; report data/prepared/report.json"
    assert sorted(p.name for p in (work / "data/prepared").iterdir()) == ["report.json", "test.npz", "train.npz", "valid.npz"]
    # ... and tokenize runs on what prepare kept.
    proc = run_stage(work, "tokenize")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((work / "data/tokens/summary.json").read_text())
    assert len(summary["train_files"]) == 8  # round(0.5 * 15)


def test_prepare_fails_with_one_line_when_too_many_files_fail(tmp_path):
    corpus = tmp_path / "corpus"
    bad_corpus(corpus, n_good=4)  # 3 unreadable + 4 good + ... : 3/10 > 0.2
    work = tmp_path / "work"
    work.mkdir()
    params_for(work, corpus)
    proc = run_stage(work, "prepare")
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert err[0].startswith("error [prepare]: ") and "3 of 10 files skipped" in err[0]
    assert "data.max_failed_fraction=0.2" in err[0] and str(corpus / "train") in err[0]
    assert not (work / "data/prepared").exists()
    report = json.loads((work / "logs/prepare_report.json").read_text())
    assert report["splits"]["train"]["files_skipped"] == {"empty_file": 1, "not_midi": 1, "truncated_midi": 1}
    # Raising the limit is the documented way through.
    params_for(work, corpus, max_failed_fraction=0.5)
    assert run_stage(work, "prepare").returncode == 0


def test_read_midi_of_a_directory_is_a_midi_read_error(tmp_path):
    with pytest.raises(MidiReadError) as e:
        read_midi(tmp_path)
    assert e.value.reason == "unreadable_file"


def test_a_damaged_prepared_or_token_file_is_one_line_not_a_traceback(tmp_path):
    """Stage outputs are written atomically, but a user may still copy a broken one in."""
    corpus = tmp_path / "corpus"
    for split, n in (("train", 4), ("valid", 1), ("test", 1)):
        for i in range(n):
            write(corpus / split, f"{i}.mid", good_song(shift=i))
    work = tmp_path / "work"
    work.mkdir()
    params_for(work, corpus, min_train_tokens=1)
    assert run_stage(work, "prepare").returncode == 0
    assert run_stage(work, "tokenize").returncode == 0
    tokens = work / "data/tokens/p1.npz"
    tokens.write_bytes(tokens.read_bytes()[:100])
    env = tool_env()
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-m", "stages.train", "--voice", "p1", "--role", "baseline"], cwd=work,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error [train]: data/tokens/p1.npz: not readable tokens (")
    assert proc.stderr.strip().endswith("run `dvc repro -f tokenize`")
    prepared = work / "data/prepared/train.npz"
    prepared.write_bytes(b"garbage")
    proc = run_stage(work, "tokenize")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error [tokenize]: data/prepared/train.npz: not a readable prepared corpus (")
