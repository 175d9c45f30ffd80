"""Evaluation checked by hand: held-out likelihood with unknown tokens, excerpts, scoring.

Every expected number here is written out from the definition (products of
probabilities, sums over state paths), never computed by the code under test.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from neshmm.evaluation import metrics
from neshmm.evaluation.scoring import (
    VoiceScore,
    control_excerpts,
    excerpt,
    piece_tokens,
    score_generated,
    score_likelihood,
    held_out,
    MGEvalSettings,
)
from neshmm.evaluation.tables import headline, headline_markdown, markdown_ci, nested, table
from neshmm.models.hmm import HMMModel
from neshmm.models.markov import MarkovModel
from neshmm.models.sampling import write_piece
from neshmm.config import BootstrapConfig
from neshmm.data.tokens import UNK_ID, Quantizer, Vocab

BINS = (0.25, 0.5, 0.75, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
Q = Quantizer(BINS, (1, 4, 8, 12, 16), (0, 2, 4, 6, 8, 10))
EPS = 1e-8

# Three symbols: a rest C and two notes A, B (all one beat, bin 3). Sorted vocabulary:
# C=(0,3,0) -> id 1, A=(60,3,8) -> id 2, B=(62,3,8) -> id 3; id 0 is <unk>.
A, B, C = (60, 3, 8), (62, 3, 8), (0, 3, 0)
X = (64, 3, 8)  # never in training: <unk>


def toks(*rows) -> np.ndarray:
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def vocab() -> Vocab:
    return Vocab.build(toks(A, B, C))


def known(p: float, unk_mass: float, p_unk: float) -> float:
    """The documented policy for a known token: the model's probability given "known"
    (its own <unk> mass removed), scaled by 1 - p_unk."""
    return (1 - p_unk) * p / (1 - unk_mass)


BOOT = BootstrapConfig(n_resamples=200, seed=0)


def score(model, tokens, lengths, pieces, p_unk):
    held = held_out(vocab(), tokens, np.asarray(lengths), Q, p_unk)
    return score_likelihood(model, held, vocab(), pieces, BOOT)


# --- held-out likelihood: Markov chain over 3 symbols ----------------------------------


def test_vocab_ids_used_by_the_hand_computations():
    v = vocab()
    assert v.encode(toks(C, A, B, X)).tolist() == [1, 2, 3, UNK_ID]
    assert v.size == 4


def fitted_markov() -> MarkovModel:
    v = vocab()
    train = [toks(A, B, A, C), toks(B, A)]
    ids = v.encode(np.concatenate(train))
    return MarkovModel(v.size, alpha=1.0, alpha_grid=[]).fit(ids, np.array([4, 2]))


def test_markov_fit_by_hand():
    m = fitted_markov()
    # Starts: A once, B once; add-one over 4 symbols -> (c + 1) / (2 + 4).
    assert m.startprob_ == pytest.approx([1 / 6, 1 / 6, 2 / 6, 2 / 6], abs=1e-15)
    # Transitions A->B, B->A, A->C in file 1, B->A in file 2 (never across files).
    assert m.transmat_[2] == pytest.approx([1 / 6, 2 / 6, 1 / 6, 2 / 6], abs=1e-15)  # from A
    assert m.transmat_[3] == pytest.approx([1 / 6, 1 / 6, 3 / 6, 1 / 6], abs=1e-15)  # from B
    assert m.transmat_[1] == pytest.approx([1 / 4] * 4, abs=1e-15)  # from C: never left
    assert m.transmat_[0] == pytest.approx([1 / 4] * 4, abs=1e-15)  # from <unk>


def test_markov_heldout_loglik_with_unknown_token_by_hand():
    m, pu = fitted_markov(), 0.01
    # Held-out files: [A, X, B] and [C]; X is unknown.
    held = [toks(A, X, B), toks(C)]
    first = (
        math.log(known(2 / 6, 1 / 6, pu))  # start A
        + math.log(pu)  # A -> <unk>: p_unk, whatever the chain gave <unk>
        + math.log(known(2 / 6, 1 / 6, pu))  # <unk> -> B: restarts from the start distribution
    )
    second = math.log(known(1 / 6, 1 / 6, pu))  # start C
    out, per_file = score(m, np.concatenate(held), [3, 1], [], pu)
    assert per_file == pytest.approx([first, second], abs=1e-12)
    expected = first + second
    assert out["heldout_tokens"] == 4
    assert out["heldout_unknown_tokens"] == 1
    assert out["heldout_unknown_rate"] == 0.25
    assert out["p_unk"] == pu
    assert out["heldout_loglik_per_token"] == pytest.approx(expected / 4, abs=1e-12)
    assert out["heldout_loglik_per_beat"] == pytest.approx(expected / 4, abs=1e-12)  # one beat a token
    assert out["heldout_loglik_per_second"] == pytest.approx(expected / 2, abs=1e-12)  # 120 bpm
    assert out["heldout_perplexity"] == pytest.approx(math.exp(-expected / 4), rel=1e-12)
    # Known tokens alone: the total minus the model-independent part.
    known_part = expected - (math.log(pu) + 3 * math.log(1 - pu))
    assert out["heldout_known_loglik_per_known_token"] == pytest.approx(known_part / 3, abs=1e-12)
    assert out["heldout_loglik_per_beat_ci_low"] <= out["heldout_loglik_per_beat"] <= out["heldout_loglik_per_beat_ci_high"]
    assert "self_loglik_per_token" not in out  # no generated piece given


def test_unknown_policy_leaves_known_token_ratios_alone():
    """Changing p_unk moves every known token by the same log(1 - p_unk): ratios unchanged."""
    m = fitted_markov()
    ids, lengths = vocab().encode(toks(A, B)), np.array([2])
    a, b = m.log_likelihood(ids, lengths, 1e-6), m.log_likelihood(ids, lengths, 1e-2)
    assert a - b == pytest.approx(2 * (math.log(1 - 1e-6) - math.log(1 - 1e-2)), abs=1e-12)


def test_self_loglik_scores_each_piece_and_averages():
    m, pu = fitted_markov(), 1e-3
    pieces = [toks(A, B), toks(B), np.zeros((0, 3), dtype=np.int64)]  # empty piece is skipped
    first = (math.log(known(2 / 6, 1 / 6, pu)) + math.log(known(2 / 6, 1 / 6, pu))) / 2
    second = math.log(known(2 / 6, 1 / 6, pu))
    out, _ = score(m, toks(A), [1], pieces, pu)
    assert out["self_loglik_per_token"] == pytest.approx((first + second) / 2, abs=1e-12)
    assert out["n_iter"] == 0 and out["converged"] == 1


def test_no_heldout_tokens_reports_count_but_no_score():
    out, _ = score(fitted_markov(), np.zeros((0, 3), dtype=np.int64), np.array([], dtype=np.int64), [], 1e-3)
    assert out["heldout_tokens"] == 0 and out["heldout_unknown_tokens"] == 0
    assert "heldout_loglik_per_token" not in out and "heldout_perplexity" not in out


# --- held-out likelihood: HMM, by summing over every state path ------------------------


def hand_hmm() -> HMMModel:
    m = HMMModel(4, n_components=2)
    m.startprob_ = np.array([0.6, 0.4])
    m.transmat_ = np.array([[0.7, 0.3], [0.2, 0.8]])
    # Column 0 (<unk>) is zero, as after training.
    m.emissionprob_ = np.array([[0.0, 0.5, 0.4, 0.1], [0.0, 0.1, 0.2, 0.7]])
    return m


def brute_force_loglik(m: HMMModel, seqs: list[list[int]], pu: float) -> float:
    emit = (1 - pu) * m.emissionprob_
    emit[:, UNK_ID] = pu
    total = 0.0
    for seq in seqs:
        p = 0.0
        for path in itertools.product(range(m.n_components), repeat=len(seq)):
            q = m.startprob_[path[0]] * emit[path[0], seq[0]]
            for t in range(1, len(seq)):
                q *= m.transmat_[path[t - 1], path[t]] * emit[path[t], seq[t]]
            p += q
        total += math.log(p)
    return total


@pytest.mark.parametrize("implementation", ["scaling", "log"])
def test_hmm_heldout_loglik_with_unknown_token_by_path_sum(implementation):
    m, pu = hand_hmm(), 0.01
    m.implementation = implementation
    seqs = [[2, 0, 3], [1]]  # A <unk> B | C
    expected = brute_force_loglik(m, seqs, pu)
    got = m.log_likelihood(np.array([2, 0, 3, 1]), np.array([3, 1]), pu)
    assert got == pytest.approx(expected, abs=1e-12)
    # The same through the evaluation function, from tokens.
    out, _ = score(m, toks(A, X, B, C), [3, 1], [], pu)
    assert out["heldout_unknown_tokens"] == 1
    assert out["heldout_loglik_per_token"] == pytest.approx(expected / 4, abs=1e-12)
    assert out["heldout_perplexity"] == pytest.approx(math.exp(-expected / 4), rel=1e-12)


def test_hmm_single_token_by_hand():
    """One token, written out fully: sum_s start[s] * (1 - p_unk) * emit[s, B]."""
    m, pu = hand_hmm(), 1e-3
    expected = math.log((1 - pu) * (0.6 * 0.1 + 0.4 * 0.7))
    assert m.log_likelihood(np.array([3]), np.array([1]), pu) == pytest.approx(expected, abs=1e-14)


@pytest.mark.parametrize("pu", [1e-6, 1e-3, 0.5])
def test_hmm_unknown_token_costs_exactly_log_p_unk(pu):
    """An unknown token has probability p_unk under every state: the documented policy."""
    got = hand_hmm().log_likelihood(np.array([UNK_ID]), np.array([1]), pu)
    assert got == pytest.approx(math.log(pu), abs=1e-12)


# --- generated MIDI read back ----------------------------------------------------------


def test_generated_tokens_survive_the_midi_round_trip(tmp_path):
    """What evaluate scores is what the sampler drew: tokens -> sample MIDI -> tokens is the
    identity (for tokens without two rests in a row, which a listener hears as one rest).
    Velocities matter most: writing the quantized value 8 as MIDI velocity 8 would be read
    back as 6."""
    tokens = {
        "p1": toks((60, 3, 8), (0, 1, 0), (62, 2, 6), (64, 4, 10)),
        "tr": toks((0, 4, 0), (45, 3, 2)),
        "no": toks((3, 0, 4), (5, 0, 6)),
    }
    path = tmp_path / "piece.mid"
    write_piece(path, tokens, Q, 22050, 16.0)
    back = piece_tokens(path, Q)
    assert set(back) == {"p1", "tr", "no"}  # the empty p2 track is not a voice
    for voice, t in tokens.items():
        assert back[voice].tolist() == t.tolist(), voice


# --- the real-vs-real control ----------------------------------------------------------


def test_excerpt_by_hand():
    # Onsets (beats): 0, 1, 3, 3.5, 4.5, 8.5 for durations 1, 2, .5, 1, 4, 1.
    t = toks((60, 3, 8), (0, 4, 0), (62, 1, 8), (64, 3, 8), (65, 5, 8), (67, 3, 8))
    assert excerpt(t, Q, 0.0, 3.0).tolist() == t[:2].tolist()  # 1 + 2 = 3 beats fits exactly
    assert excerpt(t, Q, 0.0, 2.9).tolist() == t[:1].tolist()  # the rest would run past
    assert excerpt(t, Q, 0.5, 2.0).tolist() == t[1:2].tolist()  # starts at the next onset
    assert excerpt(t, Q, 3.0, 100.0).tolist() == t[2:].tolist()  # to the end
    assert excerpt(t, Q, 20.0, 4.0).shape == (0, 3)  # past the end
    assert excerpt(t, Q, 4.5, 0.5).shape == (0, 3)  # first token (4 beats) too long


def test_control_excerpts_have_the_sample_length_and_come_from_the_songs():
    rng = np.random.default_rng(0)
    songs = [toks(*[(int(p), int(d), 8) for p, d in zip(rng.integers(40, 80, 300), rng.integers(0, 5, 300))])
             for _ in range(4)]
    ex = control_excerpts(songs, Q, 6, 16.0, seed=3, voice="p1")
    assert len(ex) == 6
    for e in ex:
        beats = Q.beats(e[:, 1]).sum()
        assert 16.0 - 2.0 < beats <= 16.0  # the longest token here is two beats (bin 4)
        # a contiguous slice of one of the songs
        assert any(
            any(np.array_equal(s[i : i + len(e)], e) for i in range(len(s) - len(e) + 1)) for s in songs
        )


def test_control_excerpts_are_deterministic_and_seed_dependent():
    rng = np.random.default_rng(1)
    songs = [toks(*[(int(p), 2, 8) for p in rng.integers(40, 80, 200)]) for _ in range(5)]
    a = control_excerpts(songs, Q, 4, 8.0, seed=0, voice="p1")
    b = control_excerpts(songs, Q, 4, 8.0, seed=0, voice="p1")
    c = control_excerpts(songs, Q, 4, 8.0, seed=1, voice="p1")
    d = control_excerpts(songs, Q, 4, 8.0, seed=0, voice="p2")
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    assert not all(np.array_equal(x, y) for x, y in zip(a, d))


def test_control_excerpts_exclude_short_songs_and_no_song_gives_empty():
    short = toks(A, B, C)  # 3 beats < 8: excluded, not taken whole (issue 11)
    long = toks(*[A] * 12)  # 12 beats
    ex = control_excerpts([short, np.zeros((0, 3), dtype=np.int64), long], Q, 3, 8.0, seed=0, voice="tr")
    assert len(ex) == 3 and all(e.tolist() == [list(A)] * 8 for e in ex)  # only the long song
    assert control_excerpts([short], Q, 3, 8.0, seed=0, voice="tr") == []
    assert control_excerpts([], Q, 3, 8.0, seed=0, voice="tr") == []


# --- scoring generated pieces -----------------------------------------------------------


def test_score_generated_mean_and_ci_over_pieces_by_hand():
    ref = [toks(A, B, A, C)]
    p1, p2 = toks(A, A), toks(B, C)
    mg = MGEvalSettings("corrected", 4, 1, 0)
    s = score_generated(ref, [p1, p2], Q, EPS, BOOT, [toks(A, B, A, B), toks(B, A, C, A), toks(A, C)], mg)
    k1, k2 = metrics.kl_pitch(ref, [p1], EPS), metrics.kl_pitch(ref, [p2], EPS)
    assert s.kl["kl_pitch"] == pytest.approx((k1 + k2) / 2, abs=1e-15)
    # Bootstrap over two pieces: every resample mean lies between the two values.
    assert min(k1, k2) <= s.kl["kl_pitch_ci_low"] <= s.kl["kl_pitch_ci_high"] <= max(k1, k2)
    assert s.kl["kl_pitch_pooled"] == pytest.approx(metrics.kl_pitch(ref, [p1, p2], EPS), abs=1e-15)
    # ref pitches 60:2, 62:1; pooled gen 60:2, 62:1 -> identical histograms.
    assert s.kl["kl_pitch_pooled"] == pytest.approx(0.0, abs=1e-12)
    assert "oa_mean" in s.mgeval and {k for k in s.mgeval if k.startswith("oa_")} >= {"oa_total_used_pitch", "oa_pitch_range"}


def test_score_generated_voice_missing_from_every_piece():
    """A voice the model never sounded: KL finite (epsilon), no MGEval."""
    ref = [toks(A, B), toks(B, C, A)]
    empty = np.zeros((0, 3), dtype=np.int64)
    s = score_generated(ref, [empty, empty], Q, EPS, BOOT, ref, MGEvalSettings("corrected", 4, 1, 0))
    # An empty histogram + epsilon is uniform over 128 pitches: KL = sum p log(128 p).
    p = (np.bincount([60, 62, 62, 60], minlength=128) + EPS) / (4 + 128 * EPS)
    assert s.kl["kl_pitch"] == pytest.approx(float(np.sum(p * np.log(128 * p))), abs=1e-12)
    assert s.kl["kl_pitch_ci_low"] == s.kl["kl_pitch_ci_high"] == s.kl["kl_pitch"]
    assert s.mgeval == {}


def test_score_generated_needs_a_piece():
    with pytest.raises(ValueError):
        score_generated([toks(A)], [], Q, EPS, BOOT)


def test_headline_holds_values_intervals_and_significance():
    sc = {"p1": {"hmm": VoiceScore(loglik={"heldout_loglik_per_beat": -2.0, "heldout_loglik_per_beat_ci_low": -2.5,
                                           "heldout_loglik_per_beat_ci_high": -1.5,
                                           "heldout_loglik_per_beat_minus_baseline": 0.1,
                                           "heldout_loglik_per_beat_minus_baseline_ci_low": -0.1,
                                           "heldout_loglik_per_beat_minus_baseline_ci_high": 0.3,
                                           "heldout_loglik_per_beat_minus_baseline_significant": 0},
                                   mgeval={"oa_mean": 0.8}),
                 "markov": VoiceScore(skipped="too few tokens")}}
    out = headline(sc)
    assert out == {"p1": {"hmm": {"heldout_loglik_per_beat": -2.0, "heldout_loglik_per_beat_low": -2.5,
                                  "heldout_loglik_per_beat_high": -1.5,
                                  "heldout_loglik_per_beat_minus_baseline": 0.1,
                                  "heldout_loglik_per_beat_minus_baseline_low": -0.1,
                                  "heldout_loglik_per_beat_minus_baseline_high": 0.3,
                                  "heldout_loglik_per_beat_minus_baseline_significant": 0,
                                  "oa_mean": 0.8}}}
    md = headline_markdown(out)
    assert "-2.0000 [-2.5000, -1.5000]" in md and "0.1000 [-0.1000, 0.3000] (not significant)" in md


# --- layout: json for dvc metrics, tables ---------------------------------------------


def scores_fixture() -> dict[str, dict[str, VoiceScore]]:
    return {
        "p1": {
            "hmm": VoiceScore(kl={"kl_pitch": 0.5, "kl_pitch_ci_low": 0.4}, loglik={"heldout_loglik_per_token": -3.0}),
            "markov": VoiceScore(kl={"kl_pitch": 0.25, "kl_pitch_ci_low": 0.2}, loglik={"heldout_loglik_per_token": -2.0}),
            "real_valid": VoiceScore(kl={"kl_pitch": 1.0, "kl_pitch_ci_low": 0.9}),
        },
        "no": {
            "hmm": VoiceScore(skipped="too few tokens"),
            "markov": VoiceScore(kl={"kl_pitch": None, "kl_pitch_ci_low": None}, loglik={"heldout_loglik_per_token": -1.0}),
            "real_valid": VoiceScore(kl={"kl_pitch": 2.0, "kl_pitch_ci_low": 2.0}),
        },
    }


def test_nested_is_voice_model_metric_and_marks_skipped():
    out = nested(scores_fixture(), "kl")
    assert out["p1"]["hmm"] == {"kl_pitch": 0.5, "kl_pitch_ci_low": 0.4}
    assert out["no"]["hmm"] == {"skipped": 1}
    ll = nested(scores_fixture(), "loglik")
    assert "real_valid" not in ll["p1"]  # the control has no likelihood: no empty entry


def test_table_rows_voices_columns_models_and_drops_all_nan_columns():
    df = table(scores_fixture(), "kl", "kl_pitch")
    assert list(df.index) == ["p1", "no"] and list(df.columns) == ["hmm", "markov", "real_valid"]
    assert df.at["p1", "markov"] == 0.25 and math.isnan(df.at["no", "hmm"]) and math.isnan(df.at["no", "markov"])
    ll = table(scores_fixture(), "loglik", "heldout_loglik_per_token")
    assert list(ll.columns) == ["hmm", "markov"]  # real_valid: all NaN, dropped


def test_markdown_ci_cells():
    value = pd.DataFrame({"hmm": [0.5, np.nan], "markov": [0.25, 1.0]}, index=["p1", "no"])
    low = pd.DataFrame({"hmm": [0.4, np.nan], "markov": [0.2, np.nan]}, index=["p1", "no"])
    high = pd.DataFrame({"hmm": [0.6, np.nan], "markov": [0.3, np.nan]}, index=["p1", "no"])
    md = markdown_ci(value, low, high, ".2f")
    assert "0.50 [0.40, 0.60]" in md and "0.25 [0.20, 0.30]" in md
    assert "n/a" in md and "| 1.00" in md.replace("  ", " ") or "1.00 |" in md
