"""Quantization, tokenization and vocabulary, on inputs whose tokens can be written down."""

from __future__ import annotations

import numpy as np
import pytest

from neshmm.data.midi_io import read_midi, write_midi
from neshmm.data.tokens import UNK_ID, Quantizer, Vocab, detokenize, tokenize_notes
from neshmm.data.voices import PROGRAMS, assign_voices

TPB = 22050
Q = Quantizer(
    duration_bins=(0.25, 0.5, 0.75, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0),
    velocity_edges=(1, 4, 8, 12, 16),
    velocity_values=(0, 2, 4, 6, 8, 10),
)


def test_duration_snaps_to_nearest_bin_in_ticks():
    ticks = np.array([1, 5512, 5513, 11025, 16538, 22050, 33075, 10**7])
    # Bins in ticks are 5512.5, 11025, 16537.5, 22050, ...; anything tiny snaps to the first.
    assert Q.durations(ticks, TPB).tolist() == [0, 0, 0, 1, 2, 3, 3, 8]


def test_duration_tie_goes_to_first_bin():
    # Exactly halfway between 1 beat (22050) and 2 beats (44100).
    assert Q.durations(np.array([33075]), TPB).tolist() == [3]


def test_duration_bins_scale_with_ticks_per_beat():
    assert Q.durations(np.array([480, 240, 960]), 480).tolist() == [3, 1, 4]


def test_velocity_map_is_the_notebooks():
    v = np.arange(0, 18)
    expected = [0, 2, 2, 2, 4, 4, 4, 4, 6, 6, 6, 6, 8, 8, 8, 8, 10, 10]
    assert Q.velocities(v).tolist() == expected


def test_representative_velocity_requantizes_to_itself():
    values = np.array([2, 4, 6, 8, 10])
    reps = Q.representative_velocities(values)
    assert reps.tolist() == [2, 5, 9, 13, 16]
    assert Q.velocities(reps).tolist() == values.tolist()


def test_tokens_with_rests_and_overlap_written_by_hand():
    notes = np.array(
        [
            # start, end, pitch, velocity
            [0, TPB, 60, 15],  # 1 beat, no gap
            [2 * TPB, 2 * TPB + TPB // 2, 62, 9],  # gap of 1 beat -> rest, then 0.5 beat note
            [2 * TPB + TPB // 4, 3 * TPB, 64, 3],  # starts inside previous note: overlap, no rest
        ]
    )
    tokens = tokenize_notes(notes, TPB, Q)
    assert tokens.tolist() == [
        [60, 3, 8],
        [0, 3, 0],  # rest of 1 beat
        [62, 1, 6],
        [64, 2, 2],  # 0.75 beat
    ]


def test_leading_gap_is_a_rest_and_notes_are_sorted_by_start():
    notes = np.array([[3 * TPB, 4 * TPB, 50, 5], [TPB, 2 * TPB, 48, 5]])
    tokens = tokenize_notes(notes, TPB, Q)
    assert tokens.tolist() == [[0, 3, 0], [48, 3, 4], [0, 3, 0], [50, 3, 4]]


def test_empty_voice_gives_no_tokens():
    assert tokenize_notes(np.zeros((0, 4)), TPB, Q).shape == (0, 3)


def test_detokenize_then_tokenize_is_identity_on_tokens():
    tokens = np.array([[0, 0, 0], [60, 3, 8], [0, 4, 0], [62, 1, 6], [64, 8, 2]])
    notes = detokenize(tokens, TPB, Q)
    # rest 0.25 beat (5512.5 rounds to even), note 1 beat, rest 2 beats, note 0.5, note 32
    assert notes[:, 0].tolist() == [5512, 5512 + TPB + 2 * TPB, 5512 + 3 * TPB + TPB // 2]
    assert notes[:, 2].tolist() == [60, 62, 64]
    assert tokenize_notes(notes, TPB, Q).tolist() == tokens.tolist()


def test_vocab_reserves_unk_and_round_trips(tmp_path):
    train = np.array([[60, 3, 8], [0, 3, 0], [60, 3, 8], [62, 1, 6]])
    vocab = Vocab.build(train)
    assert vocab.tokens.tolist() == [[0, 3, 0], [60, 3, 8], [62, 1, 6]]
    assert vocab.size == 4
    ids = vocab.encode(np.array([[62, 1, 6], [61, 1, 6], [0, 3, 0]]))
    assert ids.tolist() == [3, UNK_ID, 1]
    assert vocab.decode(np.array([3, 1])).tolist() == [[62, 1, 6], [0, 3, 0]]
    with pytest.raises(ValueError):
        vocab.decode(np.array([UNK_ID]))
    vocab.save(tmp_path / "v.json", voice="p1")
    again = Vocab.load(tmp_path / "v.json")
    assert again.tokens.tolist() == vocab.tokens.tolist()
    assert again.encode(train).tolist() == vocab.encode(train).tolist()


def test_hand_built_midi_file_tokenizes_as_written(tmp_path):
    """A four-voice NES-MDB style file through write_midi -> read_midi -> tokens."""
    voices = {
        "p1": np.array([[0, TPB, 72, 15], [TPB, 2 * TPB, 74, 12]]),
        "tr": np.array([[TPB // 2, TPB, 40, 1]]),
        "no": np.array([[0, TPB // 4, 3, 8], [TPB, TPB + TPB // 4, 12, 4]]),
    }
    path = tmp_path / "song.mid"
    write_midi(path, voices, TPB, PROGRAMS, end_tick=4 * TPB)
    song = read_midi(path)
    assert song.ticks_per_beat == TPB
    assigned = assign_voices(song)
    assert sorted(assigned.notes) == ["no", "p1", "tr"]
    tok = {v: tokenize_notes(n, TPB, Q).tolist() for v, n in assigned.notes.items()}
    assert tok["p1"] == [[72, 3, 8], [74, 3, 8]]
    assert tok["tr"] == [[0, 1, 0], [40, 1, 2]]
    assert tok["no"] == [[3, 0, 6], [0, 2, 0], [12, 0, 4]]


def test_reader_matches_miditoolkit_on_written_file(tmp_path):
    import miditoolkit

    rng = np.random.default_rng(3)
    starts = np.sort(rng.integers(0, 50 * TPB, 40))
    notes = np.stack([starts, starts + rng.integers(1, TPB, 40), rng.integers(30, 90, 40), rng.integers(1, 16, 40)], 1)
    path = tmp_path / "r.mid"
    write_midi(path, {"p1": notes}, TPB, PROGRAMS)
    ours = read_midi(path).tracks
    ref = miditoolkit.MidiFile(str(path)).instruments[0]
    mine = [t for t in ours if t.name == "p1"][0]
    expected = sorted(((n.start, n.end, n.pitch, n.velocity) for n in ref.notes), key=lambda t: t[0])
    assert [tuple(r) for r in mine.notes.tolist()] == expected
    assert mine.program == 80
