"""Cross-voice metrics against hand computation on hand-built pieces."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neshmm.errors import ConfigError, DataError
from neshmm.evaluation import cross_voice as cv
from neshmm.evaluation.metrics import histogram_kl
from helpers import TPB, line, notes

MELODY = [60, 62, 64, 65, 67, 69, 71, 72, 71, 67, 64, 62]


def octaves_piece() -> dict[str, np.ndarray]:
    """p1 plays a melody, p2 an octave above, tr an octave below, in lockstep; noise on each beat."""
    return {
        "p1": line(MELODY),
        "p2": line([p + 12 for p in MELODY]),
        "tr": line([p - 12 for p in MELODY]),
        "no": line([10] * len(MELODY), length=0.25),
    }


def test_parallel_octaves_are_all_unison_and_fully_agree():
    f = cv.piece_features(octaves_piece(), TPB)
    # three pairs, each sounding together for all 12 beats, all at interval 0
    assert f.interval_beats[0] == pytest.approx(36.0)
    assert f.interval_beats[1:].sum() == 0
    assert f.consonance == 1.0
    assert f.key_agreement == pytest.approx(1.0)
    assert f.coincidence == {"p1_tr": 1.0, "p1_no": 1.0, "tr_no": 1.0}


def test_harmony_by_hand_with_the_fourth_over_the_bass():
    piece = {"p1": notes((0, 2, 72)), "p2": notes((1, 3, 76)), "tr": notes((0, 4, 67))}
    hist, consonant = cv.harmony(piece, TPB)
    expected = np.zeros(12)
    expected[4] = 1.0  # p1-p2: C5/E5 overlap beats 1..2, a major third
    expected[5] = 2.0  # p1-tr: G4 (tr) below C5 for beats 0..2, a fourth over the bass: dissonant
    expected[9] = 2.0  # p2-tr: G4 below E5 for beats 1..3, a major sixth
    np.testing.assert_allclose(hist, expected)
    assert consonant == pytest.approx(3.0)
    assert cv.piece_features(piece, TPB).consonance == pytest.approx(0.6)


def test_fourth_between_the_pulses_is_consonant_and_below_the_triangle_too():
    pulses = {"p1": notes((0, 1, 72)), "p2": notes((0, 1, 77))}
    assert cv.piece_features(pulses, TPB).consonance == 1.0
    pulse_below = {"p1": notes((0, 1, 60)), "tr": notes((0, 1, 65))}  # lower note is p1's
    assert cv.piece_features(pulse_below, TPB).consonance == 1.0
    tritone = {"p1": notes((0, 1, 60)), "p2": notes((0, 1, 66))}
    assert cv.piece_features(tritone, TPB).consonance == 0.0


def test_noise_takes_no_part_in_harmony():
    piece = {"p1": notes((0, 4, 60)), "no": notes((0, 4, 7))}
    f = cv.piece_features(piece, TPB)
    assert f.interval_beats.sum() == 0
    assert math.isnan(f.consonance)


def test_key_agreement_by_hand_for_disjoint_pitch_classes():
    # profiles e0+e4 and e6+e10: cov = 0 - 12*(2/12)^2 = -1/3, var = 2 - 1/3 = 5/3, r = -0.2
    piece = {"p1": line([60, 64]), "p2": line([66, 70])}
    assert cv.key_agreement(piece) == pytest.approx(-0.2)


def test_voices_in_random_different_keys_agree_little():
    rng = np.random.default_rng(3)
    major = np.array([0, 2, 4, 5, 7, 9, 11])

    def in_key(tonic: int, base: int) -> np.ndarray:
        return line(base + tonic + rng.choice(major, size=64), step=0.5)

    same = {"p1": in_key(0, 72), "p2": in_key(0, 60), "tr": in_key(0, 48)}
    different = {"p1": in_key(0, 72), "p2": in_key(6, 60), "tr": in_key(3, 48)}
    assert cv.key_agreement(same) > 0.7
    assert cv.key_agreement(different) < 0.2


def test_key_agreement_undefined_with_one_voice():
    assert math.isnan(cv.key_agreement({"p1": line(MELODY)}))
    assert math.isnan(cv.key_agreement({}))


def test_drums_on_the_beat_with_the_bass_coincide_fully_and_offbeat_melody_never():
    beats = np.arange(16)
    piece = {
        "tr": line([40] * 16),
        "no": line([12] * 16, length=0.1),
        "p1": line([72] * 16, start=0.5, length=0.25),
    }
    f = cv.piece_features(piece, TPB)
    assert f.coincidence == {"p1_tr": 0.0, "p1_no": 0.0, "tr_no": 1.0}
    patterns = np.zeros(cv.N_PATTERNS, dtype=np.int64)
    patterns[(4 | 8) - 1] = len(beats)  # tr (bit 2) with no (bit 3) on every beat
    patterns[1 - 1] = len(beats)  # p1 (bit 0) alone between them
    np.testing.assert_array_equal(f.co_onset, patterns)


def test_coincidence_tolerance_is_in_beats():
    tr = line([40] * 8)
    near = line([12] * 8, start=1 / 32, length=0.1)  # 1/32 beat late: within 1/16
    far = line([12] * 8, start=1 / 8, length=0.1)  # 1/8 beat late: outside
    assert cv.piece_features({"tr": tr, "no": near}, TPB).coincidence["tr_no"] == 1.0
    assert cv.piece_features({"tr": tr, "no": far}, TPB).coincidence["tr_no"] == 0.0
    assert cv.piece_features({"tr": tr, "no": far}, TPB, tolerance_beats=0.125).coincidence["tr_no"] == 1.0


def test_coincidence_counts_both_voices_onsets():
    # tr on every beat (8 onsets), no on beats 0 and 4 only: 2 + 2 matched of 10 onsets
    piece = {"tr": line([40] * 8), "no": notes((0, 0.1, 12), (4, 4.1, 12))}
    assert cv.piece_features(piece, TPB).coincidence["tr_no"] == pytest.approx(4 / 10)


def test_missing_voice_and_empty_piece_are_undefined_not_zero():
    f = cv.piece_features({"p1": line(MELODY), "tr": line(MELODY)}, TPB)
    assert math.isnan(f.coincidence["p1_no"]) and math.isnan(f.coincidence["tr_no"])
    assert f.coincidence["p1_tr"] == 1.0
    assert f.interval_beats[0] == pytest.approx(12.0)  # only the p1-tr pair sounds
    empty = cv.piece_features({}, TPB)
    assert math.isnan(empty.consonance) and math.isnan(empty.key_agreement)
    assert all(math.isnan(v) for v in empty.coincidence.values())
    assert empty.co_onset.sum() == 0 and empty.interval_beats.sum() == 0
    zero_rows = cv.piece_features({v: np.zeros((0, 4), np.int64) for v in ("p1", "p2", "tr", "no")}, TPB)
    assert zero_rows.co_onset.sum() == 0


def test_overlapping_pairs_match_brute_force_with_overlaps_inside_a_voice():
    rng = np.random.default_rng(0)
    for _ in range(20):
        def voice():
            start = np.sort(rng.integers(0, 400, size=rng.integers(0, 30)))
            end = start + rng.integers(1, 60, size=len(start))
            return np.stack([start, end, rng.integers(40, 80, len(start)), np.ones(len(start), int)], 1).reshape(-1, 4)

        a, b = voice(), voice()
        i, j, overlap = cv.overlapping_pairs(a, b)
        got = sorted(zip(i.tolist(), j.tolist(), overlap.tolist()))
        want = sorted(
            (x, y, min(a[x, 1], b[y, 1]) - max(a[x, 0], b[y, 0]))
            for x in range(len(a))
            for y in range(len(b))
            if min(a[x, 1], b[y, 1]) > max(a[x, 0], b[y, 0])
        )
        assert got == want


def test_scores_pool_the_kls_and_bootstrap_the_means():
    rng = np.random.default_rng(1)
    pieces = []
    for k in range(12):
        pitch = int(rng.integers(55, 70))
        pieces.append({
            "p1": line([pitch + 12] * 8),
            "p2": line([pitch + int(rng.choice([3, 4, 6]))] * 8, start=0.5 * (k % 2)),
            "tr": line([pitch - 12] * 8),
            "no": line([10] * 8, start=0.25 * (k % 3), length=0.1),
        })
    ref, gen = pieces[:6], pieces[6:]
    s = cv.cross_voice_scores(gen, ref, TPB, n_boot=200, seed=5)
    gen_f = [cv.piece_features(p, TPB) for p in gen]
    ref_f = [cv.piece_features(p, TPB) for p in ref]
    expected_kl = histogram_kl(sum(f.interval_beats for f in ref_f), sum(f.interval_beats for f in gen_f), 1e-8)
    assert s["kl_harmony_interval"] == pytest.approx(expected_kl)
    assert s["harmony_consonance"] == pytest.approx(np.mean([f.consonance for f in gen_f]))
    assert s["onset_coincidence_tr_no"] == pytest.approx(np.mean([f.coincidence["tr_no"] for f in gen_f]))
    assert s["cross_voice_pieces"] == 6 and s["key_agreement_n"] == 6
    for name in ("harmony_consonance", "key_agreement", "onset_coincidence_p1_tr"):
        assert s[f"{name}_ci_low"] <= s[name] <= s[f"{name}_ci_high"], name
    for name in ("kl_harmony_interval", "kl_co_onset"):  # resampled KLs are biased up: no containment
        assert 0 <= s[f"{name}_ci_low"] <= s[f"{name}_ci_high"], name
    assert s["onset_coincidence_tr_no_ci_low"] < s["onset_coincidence_tr_no_ci_high"]
    assert cv.cross_voice_scores(gen, ref, TPB, n_boot=200, seed=5) == s
    assert cv.cross_voice_scores(gen, ref, TPB, n_boot=200, seed=6) != s


def test_scores_of_a_set_against_itself_have_zero_kl():
    pieces = [octaves_piece(), {"p1": line([60, 64]), "tr": line([48, 52]), "no": line([3, 3])}]
    s = cv.cross_voice_scores(pieces, pieces, TPB, n_boot=50)
    assert s["kl_harmony_interval"] == pytest.approx(0.0, abs=1e-12)
    assert s["kl_co_onset"] == pytest.approx(0.0, abs=1e-12)


def test_scores_of_silent_pieces_are_none():
    s = cv.cross_voice_scores([{}, {"no": line([3])}], [octaves_piece()], TPB, n_boot=20)
    assert s["harmony_consonance"] is None and s["harmony_consonance_n"] == 0
    assert s["key_agreement"] is None and s["kl_harmony_interval"] is None
    assert s["kl_co_onset"] is not None  # the noise piece has attacks
    assert cv.cross_voice_scores([], [], TPB, n_boot=20)["cross_voice_pieces"] == 0


def test_per_piece_ticks_per_beat():
    slow = {v: line(MELODY, tpb=480) for v in ("p1", "tr")}
    s = cv.cross_voice_scores([slow, octaves_piece()], [octaves_piece()], [480, TPB], reference_ticks_per_beat=TPB, n_boot=20)
    assert s["onset_coincidence_p1_tr"] == 1.0
    with pytest.raises(DataError, match="2 ticks_per_beat values for 1 pieces"):
        cv.cross_voice_scores([slow], [slow], [480, TPB])


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"tolerance_beats": -0.1}, "onset_tolerance_beats"),
        ({"tolerance_beats": 0.75}, "onset_tolerance_beats"),
        ({"n_boot": 0}, "n_boot"),
        ({"ci_level": 1.0}, "ci_level"),
        ({"epsilon": -1.0}, "epsilon"),
    ],
)
def test_bad_settings_are_one_line_config_errors(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        cv.cross_voice_scores([octaves_piece()], [octaves_piece()], TPB, **kwargs)


def test_bad_notes_are_data_errors():
    with pytest.raises(DataError, match="voice p1"):
        cv.piece_features({"p1": np.zeros((3, 3), np.int64)}, TPB)
    with pytest.raises(DataError, match="ticks_per_beat"):
        cv.piece_features(octaves_piece(), 0)


def test_precomputed_reference_features_give_the_same_scores():
    gen = [octaves_piece(), {"p1": line([60, 62, 64]), "tr": line([48, 50, 52])}]
    ref = [octaves_piece(), octaves_piece()]
    features = cv.features_of(ref, TPB, cv.DEFAULT_TOLERANCE_BEATS)
    assert cv.cross_voice_scores(gen, ref, TPB, n_boot=50, seed=3, reference_features=features) == \
        cv.cross_voice_scores(gen, ref, TPB, n_boot=50, seed=3)
    with pytest.raises(DataError, match="reference_features"):
        cv.cross_voice_scores(gen, ref, TPB, n_boot=50, reference_features=features[:1])
