import numpy as np
import pytest

from neshmm.data.corpus import build_split, parse_file, find_midi_files
from neshmm.data.frames import (
    HOLD,
    ONSET,
    REST,
    UNK_ID,
    FrameVocab,
    codes_to_notes,
    grid_loss,
    notes_to_codes,
    song_frames,
    sounding_overlap,
    split_frames,
)
from neshmm.data.voices import VOICES
from neshmm.errors import ConfigError, DataError
from helpers import nesmdb_root

TPB = 480  # 1/8 beat = 60 ticks


def notes(*rows):
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def test_on_grid_notes_round_trip_exactly():
    song = {
        "p1": notes((0, 120, 60, 9), (120, 180, 62, 9), (300, 480, 64, 9)),
        "p2": notes((60, 240, 55, 9)),
        "tr": notes((0, 480, 40, 9)),
        "no": notes((240, 300, 5, 9)),
    }
    codes, per_voice = song_frames(song, TPB, 1 / 8)
    assert codes.shape == (8, 4)
    assert codes[:, 0].tolist() == [ONSET + 60, HOLD, ONSET + 62, REST, REST, ONSET + 64, HOLD, HOLD]
    assert codes[:, 3].tolist() == [REST] * 4 + [ONSET + 5] + [REST] * 3
    for i, v in enumerate(VOICES):
        back = codes_to_notes(codes[:, i], TPB, 1 / 8, velocity=9)
        np.testing.assert_array_equal(back, song[v])
        assert (per_voice[v].short, per_voice[v].merged, per_voice[v].cut) == (0, 0, 0)
    loss = grid_loss(song, TPB, 1 / 8)
    assert loss.notes == 6 and loss.notes_lost == 0 and loss.time_lost == 0 and loss.time_added == 0


def test_fractional_frame_ticks_round_trip():
    # 22050 / 16 ticks per frame is not an integer; frame boundaries are rounded ticks.
    tpb, fb = 22050, 1 / 16
    starts = np.rint(np.array([0, 3, 7, 12]) * tpb * fb).astype(np.int64)
    ends = np.rint(np.array([3, 7, 12, 16]) * tpb * fb).astype(np.int64)
    song = {"p1": np.stack([starts, ends, [60, 61, 62, 63], [8] * 4], axis=1)}
    codes, _ = song_frames(song, tpb, fb)
    np.testing.assert_array_equal(codes_to_notes(codes[:, 0], tpb, fb, 8), song["p1"])


def test_short_merged_and_cut_notes_are_counted():
    vf = notes_to_codes(
        notes(
            (0, 20, 60, 1),  # 1/3 frame: short, kept as one frame
            (120, 130, 61, 1),  # same onset frame as the next note: merged into it
            (125, 240, 62, 1),
            (300, 600, 64, 1),  # overlapped by the next note: cut at its onset
            (420, 480, 65, 1),
        ),
        TPB,
        1 / 8,
    )
    assert (vf.short, vf.merged, vf.cut) == (2, 1, 1)
    assert vf.codes.tolist() == [ONSET + 60, REST, ONSET + 62, HOLD, REST, ONSET + 64, HOLD, ONSET + 65]


def test_grid_loss_measures_sounding_time():
    # p1: a 20-tick note (stretched to 60) and a 100-tick note whose end rounds from
    # 100 to 120: lost = 0, added = 40 + 20. p2: two notes on one onset: the first (30
    # ticks of pitch 50) is lost.
    song = {"p1": notes((0, 20, 60, 1), (240, 340, 62, 1)), "p2": notes((0, 30, 50, 1), (20, 120, 52, 1))}
    loss = grid_loss(song, TPB, 1 / 8)
    assert loss.notes == 4 and loss.short == 2 and loss.merged == 1
    assert loss.sounding_ticks == 20 + 100 + 30 + 100
    # p2's survivor (pitch 52) sounds 0..120 on the grid; it overlaps the original 20..120.
    assert loss.sounding_ticks - loss.kept_ticks == 30
    assert loss.added_ticks == (60 - 20) + (120 - 100) + 20
    assert loss.notes_lost == pytest.approx(1 / 4)


def test_sounding_overlap_counts_overlapping_notes_once_and_by_pitch():
    a = notes((0, 100, 60, 1), (50, 150, 60, 1), (0, 10, 61, 1))
    b = notes((100, 200, 60, 1), (0, 10, 62, 1))
    assert sounding_overlap(a, b) == (160, 50)
    assert sounding_overlap(notes(), b) == (0, 0)


def test_hold_after_rest_is_silence():
    codes = np.array([HOLD, ONSET + 60, HOLD, REST, HOLD, ONSET + 62])
    np.testing.assert_array_equal(codes_to_notes(codes, TPB, 1 / 8, 5), notes((60, 180, 60, 5), (300, 360, 62, 5)))


def test_vocab_encodes_unknown_codes_as_unk_and_round_trips():
    train = np.array([[ONSET + 60, REST, ONSET + 40, REST], [HOLD, ONSET + 50, HOLD, ONSET + 3]])
    vocab = FrameVocab.build(train, {"p1": np.array([5, 5, 9]), "tr": np.array([])})
    assert vocab.sizes == (4, 4, 4, 4)  # unk, rest, hold, one onset
    assert vocab.velocity["p1"] == 5 and vocab.velocity["tr"] == 64
    ids = vocab.encode(train)
    assert (ids > 0).all()
    np.testing.assert_array_equal(vocab.decode(ids), train)
    held_out = np.array([[ONSET + 61, REST, ONSET + 40, ONSET + 4]])
    assert vocab.encode(held_out)[0].tolist()[0] == UNK_ID and vocab.encode(held_out)[0, 3] == UNK_ID
    again = FrameVocab.from_dict(vocab.to_dict())
    np.testing.assert_array_equal(again.encode(train), ids)
    assert again.velocity == vocab.velocity
    with pytest.raises(DataError):
        vocab.decode(np.array([[4, 0, 0, 0]]))
    with pytest.raises(DataError):
        FrameVocab.build(np.zeros((3, 2), dtype=np.int64))


def test_to_notes_writes_each_voice_at_its_velocity():
    train = np.array([[ONSET + 60, REST, REST, ONSET + 3], [HOLD, REST, REST, REST]])
    vocab = FrameVocab.build(train, {v: np.array([7]) for v in VOICES})
    out = vocab.to_notes(vocab.encode(train), TPB, 1 / 8)
    np.testing.assert_array_equal(out["p1"], notes((0, 120, 60, 7)))
    np.testing.assert_array_equal(out["no"], notes((0, 60, 3, 7)))
    assert len(out["p2"]) == 0


@pytest.mark.parametrize("bad", [0, -0.125, float("nan"), "x"])
def test_bad_frame_beats_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="frame_beats"):
        notes_to_codes(notes((0, 60, 60, 1)), TPB, bad)


@pytest.mark.skipif(not (nesmdb_root() / "valid").is_dir(), reason="real NES-MDB not found (set NESMDB_PATH)")
def test_real_songs_every_unmerged_note_comes_back():
    paths = find_midi_files(nesmdb_root() / "valid")[:25]
    split = build_split([parse_file(p, p.name) for p in paths])
    fs = split_frames(split, 1 / 8, with_loss=True)
    assert fs.lengths.sum() == len(fs.codes) == fs.loss.frames
    back = sum(
        len(codes_to_notes(fs.codes[:, i], 22050, 1 / 8, 1)) for i in range(len(VOICES))
    )
    assert back == fs.loss.notes - fs.loss.merged
    assert 0 <= fs.loss.time_lost < 0.5


def test_split_frames_stacks_songs_and_keeps_velocities(tmp_path):
    from neshmm.data.corpus import Split

    song_a = {"p1": notes((0, 120, 60, 3)), "no": notes((0, 60, 2, 9), (60, 120, 2, 9))}
    song_b = {"p2": notes((60, 240, 50, 4))}
    split = Split(
        files=["a", "b"],
        ticks_per_beat=np.array([TPB, TPB]),
        notes={v: np.concatenate([s.get(v, notes()) for s in (song_a, song_b)]) for v in VOICES},
        offsets={v: np.array([0, len(song_a.get(v, ())), len(song_a.get(v, ())) + len(song_b.get(v, ()))]) for v in VOICES},
    )
    fs = split_frames(split, 1 / 8)
    assert fs.lengths.tolist() == [2, 4] and fs.codes.shape == (6, 4)
    assert fs.codes[:, 3].tolist() == [ONSET + 2, ONSET + 2, REST, REST, REST, REST]
    only_b = split_frames(split, 1 / 8, [1])
    np.testing.assert_array_equal(only_b.codes, fs.codes[2:])
    assert only_b.velocities["p2"].tolist() == [4] and len(only_b.velocities["p1"]) == 0
    vocab = FrameVocab.build(fs.codes, fs.velocities)
    assert vocab.velocity["no"] == 9 and vocab.velocity["p2"] == 4
