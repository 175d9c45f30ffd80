"""The demo corpus must be indistinguishable in format from NES-MDB and reproducible.

Every stage treats the demo corpus as if it were NES-MDB, so these tests pin the format
conventions a stage could rely on (tracks, programs, channels, tick rate, velocity and CC
ranges, monophonic voices, the 1/1 end marker) and the properties the pipeline's
reproducibility rests on (same seed, same bytes; no stale files).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import mido
import miditoolkit
import numpy as np
import pytest

from neshmm.data.demo_corpus import TICKS_PER_BEAT, _compose, generate_corpus, generate_song
from neshmm.data.midi_io import read_midi, write_midi
from neshmm.data.voices import PROGRAMS, VOICES

LAYOUT = [("", None, None), ("p1", 80, 0), ("p2", 81, 1), ("tr", 38, 2), ("no", 121, 9)]
SMALL = dict(n_train=3, n_valid=1, n_test=1)
NESMDB_DIR = Path(
    os.environ.get("NESMDB_DIR", Path(__file__).resolve().parents[2].parent / "shared/nesmdb_midi")
)


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.mid"))
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, list[Path]]]:
    """The default corpus, made once: most checks are about what the pipeline really gets."""
    root = tmp_path_factory.mktemp("demo")
    return root, generate_corpus(root, seed=0)


@pytest.fixture(scope="module")
def files(corpus) -> list[Path]:
    return [p for paths in corpus[1].values() for p in paths]


@pytest.fixture(scope="module")
def songs(files):
    return {p: read_midi(p) for p in files}


def test_same_seed_gives_byte_identical_files(tmp_path):
    generate_corpus(tmp_path / "a", seed=3, **SMALL)
    generate_corpus(tmp_path / "b", seed=3, **SMALL)
    a, b = _hashes(tmp_path / "a"), _hashes(tmp_path / "b")
    assert len(a) == 5
    assert a == b


def test_a_small_corpus_repeats_the_default_corpus_byte_for_byte(tmp_path, corpus):
    paths = generate_corpus(tmp_path, seed=0, n_train=4, n_valid=0, n_test=0)
    default = corpus[1]["train"][:4]
    assert [p.name for p in paths["train"]] == [p.name for p in default]
    assert [p.read_bytes() for p in paths["train"]] == [p.read_bytes() for p in default]


def test_another_seed_gives_other_songs(tmp_path):
    generate_corpus(tmp_path / "a", seed=3, **SMALL)
    generate_corpus(tmp_path / "b", seed=4, **SMALL)
    a, b = _hashes(tmp_path / "a"), _hashes(tmp_path / "b")
    assert a.keys() == b.keys()
    assert not set(a.values()) & set(b.values())


def test_a_split_does_not_change_when_another_split_grows(tmp_path):
    generate_corpus(tmp_path / "a", seed=3, n_train=2, n_valid=2, n_test=0)
    generate_corpus(tmp_path / "b", seed=3, n_train=5, n_valid=2, n_test=0)
    valid_a = [p.read_bytes() for p in sorted((tmp_path / "a/valid").iterdir())]
    valid_b = [p.read_bytes() for p in sorted((tmp_path / "b/valid").iterdir())]
    assert valid_a == valid_b


def test_file_counts_names_and_returned_paths(corpus):
    root, paths = corpus
    assert {split: len(p) for split, p in paths.items()} == {"train": 96, "valid": 24, "test": 24}
    for split, split_paths in paths.items():
        assert sorted(split_paths) == sorted((root / split).iterdir())
        assert all(p.parent == root / split for p in split_paths)
    names = [p.name for split_paths in paths.values() for p in split_paths]
    assert len(set(names)) == len(names) == 144
    assert all(re.fullmatch(r"\d{3}_Demo_Song\d{2,}\.mid", n) for n in names)
    assert names[7] == "007_Demo_Song07.mid"
    assert sorted(p.name for p in root.iterdir()) == ["test", "train", "valid"]  # no scratch


def test_regenerating_removes_stale_files_and_keeps_other_content(tmp_path):
    generate_corpus(tmp_path, seed=1, n_train=4, n_valid=1, n_test=1)
    (tmp_path / "train" / "999_Stale.mid").write_bytes(b"stale")
    (tmp_path / "notes.txt").write_text("not ours")
    paths = generate_corpus(tmp_path, seed=1, n_train=2, n_valid=1, n_test=0)
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == [
        "000_Demo_Song00.mid",
        "001_Demo_Song01.mid",
    ]
    assert list((tmp_path / "test").iterdir()) == [] and paths["test"] == []
    assert (tmp_path / "notes.txt").read_text() == "not ours"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "test", "train", "valid"]


@pytest.mark.parametrize(
    "kwargs", [dict(seed=-1), dict(seed=1.5), dict(n_train=-1), dict(n_test=2.0)]
)
def test_bad_arguments_are_refused_before_writing(tmp_path, kwargs):
    with pytest.raises(ValueError):
        generate_corpus(tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_every_file_parses_with_read_midi_in_the_nesmdb_layout(songs):
    for path, song in songs.items():
        assert song.ticks_per_beat == TICKS_PER_BEAT == 22050, path
        assert [(t.name, t.program, t.channel) for t in song.tracks] == LAYOUT, path
        assert len(song.tracks[0].notes) == 0
        assert len(song.tracks[1].notes) > 0, f"{path}: p1 carries the melody, never silent"


def test_every_file_parses_with_miditoolkit(songs):
    seen = set()
    for path, song in songs.items():
        midi = miditoolkit.MidiFile(str(path))
        assert midi.ticks_per_beat == 22050
        # miditoolkit, like pretty_midi, drops the empty track of a silent voice
        sounding = [t.name for t in song.tracks[1:] if len(t.notes)]
        assert [(i.name, i.program, i.is_drum) for i in midi.instruments] == [
            (v, PROGRAMS[v], v == "no") for v in sounding
        ]
        assert [(t.tempo, t.time) for t in midi.tempo_changes] == [(120.0, 0)]
        end = max(n.end for i in midi.instruments for n in i.notes)
        signatures = [(s.numerator, s.denominator, s.time) for s in midi.time_signature_changes]
        assert signatures == [(4, 4, 0), (1, 1, end)], path
        for inst in midi.instruments:
            for cc in inst.control_changes:
                seen.add((inst.name, cc.number))
                assert inst.name != "tr", "the triangle has no volume or timbre control"
                assert 0 <= cc.time <= end
                if cc.number == 11:
                    assert 1 <= cc.value <= 15
                else:
                    assert cc.number == 12 and inst.name in ("p1", "p2") and cc.value <= 3
    assert seen == {("p1", 11), ("p1", 12), ("p2", 11), ("p2", 12), ("no", 11)}


def test_conductor_track_and_channels_as_in_nesmdb(files):
    for path in files[::4]:  # mido is slow; read_midi checks every file's channels
        midi = mido.MidiFile(path)
        assert midi.type == 1 and len(midi.tracks) == 5
        conductor = [
            (m.type, m.time, m.dict().get("tempo"), m.dict().get("numerator"))
            for m in midi.tracks[0]
        ]
        end = conductor[2][1]
        assert end > 0
        assert conductor == [
            ("set_tempo", 0, 500000, None),
            ("time_signature", 0, None, 4),
            ("time_signature", end, None, 1),
            ("end_of_track", 1, None, None),
        ]
        for track, (name, program, channel) in zip(midi.tracks[1:], LAYOUT[1:]):
            assert track.name == name
            assert track[1].type == "program_change" and track[1].program == program
            assert {m.channel for m in track if not m.is_meta} == {channel}, (path, name)


def test_velocities_pitches_and_voice_ranges(songs):
    for path, song in songs.items():
        notes = {t.name: t.notes for t in song.tracks[1:]}
        for voice, arr in notes.items():
            if len(arr):
                assert arr[:, 3].min() >= 1 and arr[:, 3].max() <= 15, (path, voice)
        if len(notes["tr"]):
            assert (notes["tr"][:, 3] == 1).all(), path
        if len(notes["no"]):
            assert notes["no"][:, 2].min() >= 1 and notes["no"][:, 2].max() <= 16, path
        for voice, (lo, hi) in {"p1": (60, 84), "p2": (55, 79), "tr": (36, 60)}.items():
            if len(notes[voice]):
                assert lo <= notes[voice][:, 2].min() and notes[voice][:, 2].max() <= hi
        if len(notes["p1"]):
            assert notes["p1"][:, 3].min() >= 8, "melody envelopes stay in 8..15"


def test_voices_are_monophonic_with_positive_lengths(songs):
    for path, song in songs.items():
        for track in song.tracks[1:]:
            arr = track.notes
            assert (arr[:, 1] > arr[:, 0]).all(), (path, track.name)
            assert (arr[1:, 0] >= arr[:-1, 1]).all(), (path, track.name)


def test_some_songs_leave_a_voice_silent(songs):
    silent = {v: 0 for v in VOICES}
    for song in songs.values():
        for track in song.tracks[1:]:
            silent[track.name] += len(track.notes) == 0
    assert silent["p1"] == 0
    assert 1 <= silent["no"] <= 40 and 1 <= silent["p2"] <= 25


def test_lengths_are_beat_multiples_with_a_few_ticks_of_jitter_sometimes(songs):
    durations = np.concatenate(
        [t.notes[:, 1] - t.notes[:, 0] for s in songs.values() for t in s.tracks[1:]]
    )
    sixteenth = TICKS_PER_BEAT / 4
    off = np.abs(durations - np.rint(durations / sixteenth) * sixteenth)
    assert (off <= 9).all()  # both ends moved by up to 4 ticks, plus rounding
    jittered = (off > 1).mean()  # 0.5 is the rounding of odd sixteenths
    assert 0.01 < jittered < 0.5
    bars = [s.end_tick / (4 * TICKS_PER_BEAT) for s in songs.values()]
    assert 16 <= min(bars) and max(bars) <= 65


def test_generate_song_is_seeded_and_repeats_its_phrases():
    a = generate_song(np.random.default_rng(11))
    b = generate_song(np.random.default_rng(11))
    assert list(a) == list(VOICES)
    for voice in VOICES:
        assert a[voice].dtype == np.int64 and a[voice].shape[1:] == (4,)
        np.testing.assert_array_equal(a[voice], b[voice])
    repeated = 0
    for seed in range(20):
        pitches = generate_song(np.random.default_rng(seed))["p1"][:, 2].tolist()
        grams = [tuple(pitches[i : i + 8]) for i in range(len(pitches) - 7)]
        repeated += len(set(grams)) < len(grams)
    assert repeated >= 18, "an AABA-like form repeats whole melodic phrases"


def test_generate_song_n_bars_sets_the_length():
    for n_bars in (16, 32, 64):
        notes = generate_song(np.random.default_rng(n_bars), n_bars=n_bars)
        end = max(int(a[:, 1].max()) for a in notes.values() if len(a))
        assert 16 <= end / (4 * TICKS_PER_BEAT) <= 65


def test_write_midi_still_works_without_control_changes(tmp_path):
    """The old call keeps working; a silent voice stays an empty track on its own channel."""
    voices = {
        "p1": np.array([[0, 100, 60, 9], [100, 250, 62, 15]], dtype=np.int64),
        "tr": np.array([[0, 250, 40, 1]], dtype=np.int64),
    }
    write_midi(tmp_path / "x.mid", voices, 480, PROGRAMS)
    song = read_midi(tmp_path / "x.mid")
    assert [(t.name, t.program, t.channel) for t in song.tracks] == LAYOUT
    np.testing.assert_array_equal(song.tracks[1].notes, voices["p1"])
    np.testing.assert_array_equal(song.tracks[3].notes, voices["tr"])
    signatures = miditoolkit.MidiFile(str(tmp_path / "x.mid")).time_signature_changes
    assert [(s.numerator, s.time) for s in signatures] == [(4, 0), (1, 250)]


def miditoolkit_write(voices, ticks_per_beat, programs, end_tick=None, control_changes=None) -> bytes:
    """The miditoolkit writer write_midi had before it wrote through symusic, kept as the
    reference for the layout (NES-MDB's, which pretty_midi and miditoolkit write alike)."""
    import io

    from miditoolkit.midi.containers import ControlChange, Instrument, Note, TempoChange, TimeSignature

    midi = miditoolkit.MidiFile(ticks_per_beat=ticks_per_beat)
    midi.tempo_changes = [TempoChange(120.0, 0)]
    last = 0
    for name, program in programs.items():
        inst = Instrument(program=program, is_drum=(name == "no"), name=name)
        midi.instruments.append(inst)
        notes = voices.get(name)
        if notes is None or len(notes) == 0:
            continue
        inst.notes = [Note(int(v), int(p), int(s), int(e)) for s, e, p, v in notes]
        inst.control_changes = [ControlChange(n, v, t) for t, n, v in (control_changes or {}).get(name, ())]
        last = max(last, int(notes[:, 1].max()))
    end = last if end_tick is None else end_tick
    midi.time_signature_changes = [TimeSignature(4, 4, 0)] + ([TimeSignature(1, 1, end)] if end > 0 else [])
    out = io.BytesIO()
    midi.dump(file=out)
    return out.getvalue()


def test_write_midi_writes_the_bytes_the_miditoolkit_writer_wrote(tmp_path):
    """symusic's chunks assembled by write_midi are byte for byte what miditoolkit/mido
    wrote (running status included), on demo songs and on the layout's edge cases: silent
    voices, no control changes, an end marker before or after the last note, no notes."""
    cases = []
    for i in range(6):
        song = _compose(np.random.default_rng([0, 0, i]))
        cases.append((song.notes, TICKS_PER_BEAT, PROGRAMS, song.end_tick, song.control_changes))
    notes = cases[0][0]
    cases += [
        ({"p1": notes["p1"], "no": notes["no"]}, TICKS_PER_BEAT, PROGRAMS, None, cases[0][4]),
        ({"tr": notes["tr"]}, 480, PROGRAMS, 1000, None),
        ({"tr": notes["tr"]}, 480, PROGRAMS, int(notes["tr"][-1, 1]) + 12345, None),
        ({}, 480, PROGRAMS, None, None),
        ({}, 480, PROGRAMS, 960, None),
    ]
    for k, args in enumerate(cases):
        write_midi(tmp_path / f"{k}.mid", *args)
        assert (tmp_path / f"{k}.mid").read_bytes() == miditoolkit_write(*args), k


@pytest.mark.nesmdb
@pytest.mark.skipif(not (NESMDB_DIR / "train").is_dir(), reason="NES-MDB not available")
def test_same_layout_as_real_nesmdb_files(songs, files):
    real = sorted((NESMDB_DIR / "train").glob("*.mid"))[::150]
    assert len(real) >= 25

    def layout(path: Path) -> tuple:
        song = read_midi(path)
        tracks = tuple((t.name, t.program, t.channel) for t in song.tracks)
        conductor = tuple(
            (m.type, m.dict().get("tempo"), m.dict().get("numerator"), m.dict().get("denominator"))
            for m in mido.MidiFile(path).tracks[0]
        )
        return song.ticks_per_beat, tracks, conductor

    assert {layout(p) for p in real} == {layout(p) for p in files[::8]}
