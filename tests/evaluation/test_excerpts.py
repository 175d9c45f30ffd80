"""Length-matched references (issue 11); the other scoring tests are in test_scoring.py."""

import numpy as np

from neshmm.evaluation.scoring import control_excerpts, control_set, matched_excerpts, reference_excerpts
from helpers import Q, toks

ONE_BEAT = (60, 3, 8)  # bin 3 = 1 beat
TWO_BEATS = (62, 4, 8)  # bin 4 = 2 beats


def song(n_tokens: int, seed: int, bins=(0, 1, 2, 3, 4)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return toks(*[(int(p), int(d), 8) for p, d in zip(rng.integers(40, 80, n_tokens), rng.choice(bins, n_tokens))])


def is_slice_of(e, songs) -> bool:
    return any(any(np.array_equal(s[i : i + len(e)], e) for i in range(len(s) - len(e) + 1)) for s in songs)


def test_short_songs_are_excluded_and_counted():
    short = toks(*[ONE_BEAT] * 7)  # 7 beats < 8
    exact = toks(*[TWO_BEATS] * 4)  # exactly 8 beats: long enough
    long = toks(*[ONE_BEAT] * 20)
    empty = np.zeros((0, 3), dtype=np.int64)  # voice silent: not a song of this voice
    ex = matched_excerpts([short, exact, empty, long], Q, 50, 8.0, np.random.default_rng(0))
    assert (ex.n_songs, ex.n_short) == (3, 1)
    assert ex.counts("control_") == {"control_songs": 3, "control_short_songs_excluded": 1}
    assert len(ex.pieces) == 50
    assert all(Q.beats(e[:, 1]).sum() == 8.0 for e in ex.pieces)  # 1- and 2-beat tokens tile 8 beats
    assert any(np.array_equal(e, exact) for e in ex.pieces)  # the 8-beat song is used, whole
    assert not any(len(e) == 7 for e in ex.pieces)  # never the short one


def test_only_short_songs_give_no_excerpt():
    ex = matched_excerpts([toks(ONE_BEAT, ONE_BEAT)], Q, 5, 8.0, np.random.default_rng(0))
    assert (ex.pieces, ex.n_songs, ex.n_short) == ([], 1, 1)
    ex = matched_excerpts([], Q, 5, 8.0, np.random.default_rng(0))
    assert (ex.pieces, ex.n_songs, ex.n_short) == ([], 0, 0)


def test_excerpts_have_the_samplers_length_and_are_slices():
    songs = [song(300, s) for s in range(4)] + [song(3, 9)]  # the last is shorter than 16 beats
    ex = matched_excerpts(songs, Q, 40, 16.0, np.random.default_rng(3))
    assert ex.n_short == 1
    for e in ex.pieces:
        beats = Q.beats(e[:, 1]).sum()
        assert 16.0 - 2.0 < beats <= 16.0  # at most one (<= 2-beat) token short, like a sample
        assert is_slice_of(e, songs[:4])


def test_start_snaps_back_to_an_onset_so_the_excerpt_keeps_the_full_length():
    # 9 beats: onsets 0, 2, 4, 6, 8. Starts are drawn in [0, 1]; snapping forward to the
    # next onset (2) would leave 7 beats of music, snapping back (0) leaves 9 >= 8.
    s = toks(*[TWO_BEATS] * 4, ONE_BEAT)
    ex = matched_excerpts([s], Q, 30, 8.0, np.random.default_rng(1))
    assert all(e.tolist() == [list(TWO_BEATS)] * 4 for e in ex.pieces)


def test_control_and_reference_are_seeded_and_independent_streams():
    songs = [song(200, s) for s in range(6)]
    a = control_set(songs, Q, 5, 8.0, seed=0, voice="p1").pieces
    assert all(np.array_equal(x, y) for x, y in zip(a, control_excerpts(songs, Q, 5, 8.0, seed=0, voice="p1")))
    assert all(np.array_equal(x, y) for x, y in zip(a, control_set(songs, Q, 5, 8.0, seed=0, voice="p1").pieces))
    for other in (
        control_set(songs, Q, 5, 8.0, seed=1, voice="p1").pieces,
        control_set(songs, Q, 5, 8.0, seed=0, voice="p2").pieces,
        reference_excerpts(songs, Q, 5, 8.0, seed=0, voice="p1").pieces,
    ):
        assert not all(np.array_equal(x, y) for x, y in zip(a, other))
    r1 = reference_excerpts(songs, Q, 5, 8.0, seed=7, voice="tr")
    r2 = reference_excerpts(songs, Q, 5, 8.0, seed=7, voice="tr")
    assert all(np.array_equal(x, y) for x, y in zip(r1.pieces, r2.pieces))
