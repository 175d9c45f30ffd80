"""MGEval features in both modes against values worked out by hand on tests.helpers pieces."""

import numpy as np
import pytest

from neshmm.errors import DataError
from neshmm.evaluation.mgeval_features import (
    TOOLBOX_FEATURES,
    check_notes,
    corrected_features,
    toolbox_features,
    toolbox_num_bar,
)
from helpers import TINY_TPB, tiny_pieces

A, B, C = tiny_pieces()


def pc_vec(weights: dict) -> np.ndarray:
    v = np.zeros(12)
    for pc, w in weights.items():
        v[pc] = w
    return v


def matrix(n: int, entries: dict) -> np.ndarray:
    m = np.zeros((n, n))
    for (i, j), c in entries.items():
        m[i, j] = c
    return m.ravel()


def test_toolbox_features_of_piece_a_by_hand():
    f = toolbox_features(A, TINY_TPB)
    # Piano roll: C 2x(50 frames x vel 10), D 50 x 10, G 25 x 5 -> weights 1000, 500, 125.
    np.testing.assert_allclose(f["total_pitch_class_histogram"], pc_vec({0: 1000 / 1625, 2: 500 / 1625, 7: 125 / 1625}))
    assert f["total_used_pitch"][0] == 4 and f["total_used_note"][0] == 4
    assert f["pitch_range"][0] == 12
    assert f["avg_pitch_shift"][0] == pytest.approx((2 + 5 + 5) / 3)
    assert f["avg_IOI"][0] == pytest.approx(0.5)  # seconds: onsets 0, .5, 1, 1.5
    # Last note-off at tick 8 = exactly one bar.
    np.testing.assert_array_equal(f["bar_used_note"], [4])
    np.testing.assert_array_equal(f["bar_used_pitch"], [4])
    np.testing.assert_allclose(f["bar_pitch_class_histogram"], f["total_pitch_class_histogram"])
    # Only end == start pairs are within 50 ms: C->D and D->G; G ends 0.25 s before the high C.
    np.testing.assert_array_equal(f["pitch_class_transition_matrix"], matrix(12, {(0, 2): 1, (2, 7): 1}))
    # Lengths 2, 2, 1, 2 ticks = quarter, quarter, 8th, quarter (classes 2 and 3).
    np.testing.assert_allclose(f["note_length_hist"], pc_vec({2: 0.75, 3: 0.25}))
    np.testing.assert_array_equal(f["note_length_transition_matrix"], matrix(12, {(2, 2): 1, (2, 3): 1, (3, 2): 1}))


def test_corrected_features_of_piece_a_by_hand():
    f = corrected_features(A, TINY_TPB, num_bar=1)
    np.testing.assert_allclose(f["total_pitch_class_histogram"], pc_vec({0: 4 / 7, 2: 2 / 7, 7: 1 / 7}))  # ticks, no velocity
    np.testing.assert_array_equal(f["pitch_class_transition_matrix"], matrix(12, {(0, 2): 1, (2, 7): 1, (7, 0): 1}))
    assert f["avg_IOI"][0] == pytest.approx(1.0)  # beats
    np.testing.assert_allclose(f["note_length_hist"], pc_vec({2: 0.75, 3: 0.25}))


def test_bar_features_of_piece_b_by_hand():
    # Ends at tick 16 = 2 bars. Bar 0: E E (1 pitch, 2 notes); bar 1: F G C (3, 3).
    for f in (toolbox_features(B, TINY_TPB), corrected_features(B, TINY_TPB, num_bar=2)):
        np.testing.assert_array_equal(f["bar_used_note"], [2, 3])
        np.testing.assert_array_equal(f["bar_used_pitch"], [1, 3])
    tb = toolbox_features(B, TINY_TPB)["bar_pitch_class_histogram"].reshape(2, 12)
    np.testing.assert_allclose(tb[0], pc_vec({4: 1.0}))
    np.testing.assert_allclose(tb[1], pc_vec({5: 25 / 175, 7: 50 / 175, 0: 100 / 175}))
    # Lengths 4, 2, 1, 2, 4 ticks: half, quarter, 8th, quarter, half.
    np.testing.assert_allclose(toolbox_features(B, TINY_TPB)["note_length_hist"], pc_vec({1: 0.4, 2: 0.4, 3: 0.2}))


def test_bar_split_of_long_note_and_toolbox_rounding_on_piece_c():
    # C ends at 16 ticks; the 8-tick low C spans bar 1 only. Notes 60, 61 are 8ths, 60 a
    # dotted quarter (3 ticks), 48 a whole.
    f = corrected_features(C, TINY_TPB, num_bar=2)
    np.testing.assert_allclose(f["note_length_hist"], pc_vec({3: 0.5, 6: 0.25, 0: 0.25}))
    np.testing.assert_allclose(f["bar_pitch_class_histogram"].reshape(2, 12)[0], pc_vec({0: 4 / 5, 1: 1 / 5}))
    # Corrected splits a note at bar lines: one 4-tick note across ticks 6..10 of a 1-bar grid
    # only counts its first 2 ticks.
    g = corrected_features(np.array([[0, 2, 62, 9], [6, 10, 60, 9]]), TINY_TPB, num_bar=1)
    np.testing.assert_allclose(g["bar_pitch_class_histogram"], pc_vec({2: 0.5, 0: 0.5}))
    # Toolbox: last tick 16 -> 2 bars; 11 ticks (1.375 bars) -> 1; 20 ticks (2.5 bars) -> 3,
    # Python 2's half away from zero (Python 3's round would give 2).
    assert toolbox_num_bar(C, TINY_TPB) == 2
    assert toolbox_num_bar(np.array([[0, 11, 60, 1]]), TINY_TPB) == 1
    assert toolbox_num_bar(np.array([[0, 20, 60, 1]]), TINY_TPB) == 3


def test_note_length_class_ties_pick_the_first_listed_class():
    # 5 ticks is 1 tick from a half (4) and from a dotted half (6): argmin keeps "half".
    f = toolbox_features(np.array([[0, 5, 60, 1]]), TINY_TPB)
    np.testing.assert_array_equal(f["note_length_hist"], pc_vec({1: 1.0}))


def test_toolbox_quirks_short_notes():
    # At 480 ticks per beat a 10-tick note lasts 10.4 ms: one frame, weight 10 x 1; a 4-tick
    # note (4.2 ms) starts and ends in frame 0 and vanishes from the piano roll, so it is
    # neither a used pitch nor in the histogram -- but it is a note, and it transitions to
    # itself because its end is within 50 ms of its own start.
    notes = np.array([[0, 4, 61, 10], [480, 490, 60, 10]])
    f = toolbox_features(notes, 480)
    assert f["total_used_pitch"][0] == 1 and f["total_used_note"][0] == 2
    np.testing.assert_allclose(f["total_pitch_class_histogram"], pc_vec({0: 1.0}))
    np.testing.assert_array_equal(f["pitch_class_transition_matrix"], matrix(12, {(1, 1): 1, (0, 0): 1}))
    assert f["pitch_range"][0] == 0


def test_toolbox_bar_histogram_with_given_num_bar_follows_its_reshape():
    # 3 ticks long roll = 75 frames < 1 bar: padded to num_bar * 200 frames.
    one = toolbox_features(np.array([[0, 3, 60, 1]]), TINY_TPB, num_bar=2)["bar_pitch_class_histogram"]
    np.testing.assert_allclose(one.reshape(2, 12), [pc_vec({0: 1.0}), np.zeros(12)])
    # A 2-bar roll (400 frames) with num_bar=1: roll[:-0] is empty, the toolbox fails.
    assert np.isnan(toolbox_features(B, TINY_TPB, num_bar=1)["bar_pitch_class_histogram"]).all()
    # 11 ticks = 275 frames, num_bar=1: keeps 200 frames as the one bar.
    f = toolbox_features(np.array([[0, 8, 60, 1], [8, 11, 62, 1]]), TINY_TPB, num_bar=1)
    np.testing.assert_allclose(f["bar_pitch_class_histogram"], pc_vec({0: 1.0}))


def test_undefined_features_are_nan():
    one = np.array([[0, 2, 60, 10]])
    for f in (toolbox_features(one, TINY_TPB), corrected_features(one, TINY_TPB, 1)):
        assert np.isnan(f["avg_pitch_shift"]).all() and np.isnan(f["avg_IOI"]).all()
    empty = np.zeros((0, 4), dtype=np.int64)
    for f in (toolbox_features(empty, TINY_TPB), corrected_features(empty, TINY_TPB, 1)):
        assert np.isnan(f["pitch_range"]).all() and np.isnan(f["note_length_hist"]).all()
        assert np.isnan(f["total_pitch_class_histogram"]).all()
    assert np.isnan(toolbox_features(empty, TINY_TPB)["bar_used_note"]).all()  # toolbox crashes
    np.testing.assert_array_equal(corrected_features(empty, TINY_TPB, 2)["bar_used_note"], [0, 0])


def test_all_features_present_and_flat():
    for f in (toolbox_features(C, TINY_TPB), corrected_features(C, TINY_TPB, 2)):
        assert tuple(f) == TOOLBOX_FEATURES
        assert all(v.ndim == 1 for v in f.values())


@pytest.mark.parametrize("bad", [
    [[0, 0, 60, 10]],  # zero length
    [[5, 3, 60, 10]],
    [[0, 1, 128, 10]],
    [[0, 1, 60, 0]],
    [[0, 1, 60]],
])
def test_bad_notes_are_one_line_data_errors(bad):
    with pytest.raises(DataError):
        check_notes(np.array(bad))


def test_unknown_feature_is_refused():
    with pytest.raises(DataError, match="unknown MGEval feature"):
        toolbox_features(A, TINY_TPB, names=["nope"])
