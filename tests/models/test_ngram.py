"""The n-gram model against modified Kneser–Ney computed by hand, plus the model contract.

The toy corpus is one sequence ``1 1 1 1 1 2 2 2 2 3 3 3`` over ids 1..3 (0 = ``<unk>``,
``n_symbols`` = 4, uniform base 1/4); ``B`` is the sequence-start symbol. Every number below
is counted from that sequence by hand and written out, independent of the implementation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from neshmm.errors import ConfigError, NotFittedError
from neshmm.models import build_model, load_model
from neshmm.models.ngram import FALLBACK_DISCOUNTS, NGramConfig, NGramModel, modified_kn_discounts

TOY = np.array([1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3])
V = 4
UNIFORM = 1 / V


def fit_toy(order: int, discount_floor: float = 0.0) -> NGramModel:
    """Floor 0: Chen & Goodman's discounts unchanged (the hand computations below)."""
    return NGramModel(V, order=order, discount_floor=discount_floor).fit(TOY, np.array([len(TOY)]))


def ll(model, seq):
    """The model's own log-probability of a sequence (no <unk> policy): the hand formulas."""
    return float(np.log(model.probabilities(np.array(seq), np.array([len(seq)]))).sum())


def test_discounts_follow_chen_goodman_from_count_of_counts():
    # n1=3, n2=2, n3=1, n4=1 -> Y = 3/7, D1 = 1 - 2Y*2/3, D2 = 2 - 3Y*1/2, D3+ = 3 - 4Y*1/1
    d, ok = modified_kn_discounts(np.array([1, 1, 1, 2, 2, 3, 4, 7]))
    y = 3 / 7
    assert ok and d.tolist() == pytest.approx([1 - 2 * y * 2 / 3, 2 - 3 * y / 2, 3 - 4 * y])
    # n3 = 0: the formula is undefined; kenlm's fallback discounts are used.
    d, ok = modified_kn_discounts(np.array([1, 2, 4]))
    assert not ok and d.tolist() == list(FALLBACK_DISCOUNTS)


# Unigram level shared by the bigram and trigram models: continuation counts (distinct
# left neighbours, B included): 1 <- {B,1}, 2 <- {1,2}, 3 <- {2,3}: a = 2, 2, 2; S = 6.
# n1 = 0 -> fallback discounts D = (0.5, 1, 1.5); every a = 2 loses D2 = 1.
G0 = 3 * 1.0 / 6  # gamma of the empty context
P1 = {0: G0 * UNIFORM, **{w: (2 - 1.0) / 6 + G0 * UNIFORM for w in (1, 2, 3)}}


def test_bigram_matches_hand_computation():
    m = fit_toy(2)
    # Top order: raw bigram counts (B,1)=1 (1,1)=4 (1,2)=1 (2,2)=3 (2,3)=1 (3,3)=2:
    # n1=3, n2=1, n3=1, n4=1 -> Y = 3/5, D1 = 1 - 2Y/3 = 0.6, D2 = 2 - 3Y = 0.2, D3+ = 3 - 4Y = 0.6
    d1, d2, d3 = 0.6, 0.2, 0.6
    assert m.discounts_[1].tolist() == pytest.approx([d1, d2, d3])
    assert m.discounts_[0].tolist() == list(FALLBACK_DISCOUNTS)
    g_b = d1 * 1 / 1  # context B: one bigram seen once
    g_1 = (d3 + d1) / 5  # context 1: (1,1)=4, (1,2)=1
    g_2 = (d3 + d1) / 4  # context 2: (2,2)=3, (2,3)=1
    g_3 = d2 / 2  # context 3: (3,3)=2
    p_1_b = (1 - d1) / 1 + g_b * P1[1]
    p_2_1 = (1 - d1) / 5 + g_1 * P1[2]
    p_3_2 = (1 - d1) / 4 + g_2 * P1[3]
    p_3_3 = (2 - d2) / 2 + g_3 * P1[3]
    p_unk_3 = g_3 * P1[0]
    p_1_3 = g_3 * P1[1]
    assert ll(m, [1, 2, 3, 3]) == pytest.approx(math.log(p_1_b * p_2_1 * p_3_2 * p_3_3), rel=1e-12)
    assert ll(m, [3, 0, 1]) == pytest.approx(
        math.log(g_b * P1[3]) + math.log(p_unk_3) + math.log(P1[1]), rel=1e-12
    )  # <unk> is a context never seen: its next token falls back to the unigram level
    assert m.distribution([3])[1] == pytest.approx(p_1_3, rel=1e-12)


def test_trigram_matches_hand_computation():
    m = fit_toy(3)
    # Top order, raw trigram counts: (B,1,1)=1 (1,1,1)=3 (1,1,2)=1 (1,2,2)=1 (2,2,2)=2
    # (2,2,3)=1 (2,3,3)=1 (3,3,3)=1: n4 = 0 -> fallback (0.5, 1, 1.5).
    # Order 2, adjusted: (B,1) keeps its raw count 1 (nothing precedes B); continuation counts
    # (1,1) <- {B,1} = 2, (1,2) <- {1} = 1, (2,2) <- {1,2} = 2, (2,3) <- {2} = 1,
    # (3,3) <- {2,3} = 2: n3 = 0 -> fallback too.
    d1, d2, d3 = FALLBACK_DISCOUNTS
    assert m.discounts_.tolist() == [list(FALLBACK_DISCOUNTS)] * 3
    g2_b = d1 / 1  # (B,1)=1
    g2_1 = (d2 + d1) / 3  # (1,1)=2, (1,2)=1
    g2_3 = d2 / 2  # (3,3)=2
    p2_1_b = (1 - d1) / 1 + g2_b * P1[1]
    p2_1_1 = (2 - d2) / 3 + g2_1 * P1[1]
    p2_2_1 = (1 - d1) / 3 + g2_1 * P1[2]
    p2_1_3 = g2_3 * P1[1]
    p2_3_b = g2_b * P1[3]
    g3_b1 = d1 / 1  # (B,1,1)=1
    g3_11 = (d3 + d1) / 4  # (1,1,1)=3, (1,1,2)=1
    p3_1_b1 = (1 - d1) / 1 + g3_b1 * p2_1_1
    p3_2_11 = (1 - d1) / 4 + g3_11 * p2_2_1
    # Sequence start: 1 | B (order 2), 1 | B 1, 2 | 1 1.
    assert ll(m, [1, 1, 2]) == pytest.approx(math.log(p2_1_b * p3_1_b1 * p3_2_11), rel=1e-12)
    # Unseen trigram contexts (B,3) and (3,1) fall back to order 2 unchanged.
    assert ll(m, [3, 1, 2]) == pytest.approx(math.log(p2_3_b * p2_1_3 * p2_2_1), rel=1e-12)
    # Only the last order-1 symbols count.
    assert m.distribution([2, 3, 1, 1])[2] == pytest.approx(p3_2_11, rel=1e-12)


def test_discount_floor_raises_small_discounts_only():
    m = fit_toy(2, discount_floor=0.5)
    # Bigram discounts (0.6, 0.2, 0.6) become (0.6, 1.0, 1.5); the unigram fallback stays.
    assert m.discounts_.tolist() == [[0.5, 1.0, 1.5], pytest.approx([0.6, 1.0, 1.5])]
    g_3 = 1.0 / 2  # context 3: (3,3)=2 loses D2 = 1.0
    assert m.distribution([3])[3] == pytest.approx((2 - 1.0) / 2 + g_3 * P1[3], rel=1e-12)


def test_order_one_is_a_discounted_unigram_interpolated_with_uniform():
    m = fit_toy(1)
    # Top (only) order: raw counts 5, 4, 3 (S = 12), n1 = 0 -> fallback; all >= 3 lose 1.5.
    g = 3 * 1.5 / 12
    expected = [g * UNIFORM] + [(c - 1.5) / 12 + g * UNIFORM for c in (5, 4, 3)]
    for context in ([], [m.bos], [1, 2], [3]):
        assert m.distribution(context).tolist() == pytest.approx(expected, rel=1e-12)
    assert ll(m, [2, 0]) == pytest.approx(math.log(expected[2] * expected[0]), rel=1e-12)


def test_unknown_policy_like_the_other_models():
    """log_likelihood applies TokenModel's <unk> policy: <unk> costs log p_unk, a known token
    its probability given "known" (the KN base's own <unk> mass removed) times 1 - p_unk."""
    m = fit_toy(2)
    pu = 0.1
    seq = np.array([1, 0, 2])
    p = m.probabilities(seq, np.array([3]))
    p0 = m.probabilities(seq, np.array([3]), target=0)
    expected = math.log((1 - pu) * p[0] / (1 - p0[0])) + math.log(pu) + math.log((1 - pu) * p[2] / (1 - p0[2]))
    assert m.log_likelihood(seq, np.array([3]), pu) == pytest.approx(expected, rel=1e-12)


def _random_corpus(seed=3, v=9):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 40, 25)
    ids = rng.choice(np.arange(1, v), size=int(lengths.sum()), p=np.arange(1, v) / np.arange(1, v).sum())
    return ids, lengths, v


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_distributions_sum_to_one_over_all_ids_and_match_the_scorer(order):
    ids, lengths, v = _random_corpus()
    m = NGramModel(v, order=order).fit(ids, lengths)
    seen = list(ids[:6])
    for context in ([m.bos], [m.bos, *seen[:2]], seen, [8, 8, 8, 8], [0, 0], [m.bos, 0, 5]):
        p = m.distribution(context)
        assert p.shape == (v,) and (p > 0).all()  # <unk> included
        assert p.sum() == pytest.approx(1.0, abs=1e-12)
    # The vectorised scorer and the per-context distribution agree at every position.
    probs = m.probabilities(ids, lengths)
    pos = 0
    for n in lengths[lengths > 0]:
        seq = ids[pos : pos + n]
        for t in range(n):
            assert probs[pos + t] == pytest.approx(m.distribution([m.bos, *seq[:t]])[seq[t]], rel=1e-12)
        pos += n


def test_save_load_round_trip_is_bit_identical(tmp_path):
    ids, lengths, v = _random_corpus()
    m = build_model(NGramConfig(order=4), v).fit(ids, lengths)
    m.save(tmp_path / "a.npz", voice="p1", role="baseline")
    back = load_model(tmp_path / "a.npz")
    assert isinstance(back, NGramModel) and back.order == 4
    for name, arr in m.arrays().items():
        assert np.array_equal(back.arrays()[name], arr) and back.arrays()[name].dtype == arr.dtype != object
    back.save(tmp_path / "b.npz", voice="p1", role="baseline")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert back.log_likelihood(ids, lengths, 1e-6) == m.log_likelihood(ids, lengths, 1e-6)
    # Same data, fresh fit: byte-identical file.
    build_model(NGramConfig(order=4), v).fit(ids, lengths).save(tmp_path / "c.npz", voice="p1", role="baseline")
    assert (tmp_path / "c.npz").read_bytes() == (tmp_path / "a.npz").read_bytes()


def test_sampling_is_seeded_and_never_emits_unk():
    ids, lengths, v = _random_corpus()
    m = NGramModel(v, order=3).fit(ids, lengths)
    beats = np.full(v, 0.5)
    a = m.sample(np.random.default_rng(5), beats, 100.0)
    b = m.sample(np.random.default_rng(5), beats, 100.0)
    c = m.sample(np.random.default_rng(6), beats, 100.0)
    assert len(a) == 200 and a.tolist() == b.tolist() and a.tolist() != c.tolist()
    assert a.min() >= 1 and a.max() < v


def test_sampling_follows_the_learned_transitions():
    # A deterministic cycle 1 2 3 1 2 3 ...: an order-2 model continues it almost always.
    ids = np.tile([1, 2, 3], 200)
    m = NGramModel(5, order=2).fit(ids, np.array([len(ids)]))
    out = m.sample(np.random.default_rng(0), np.ones(5), 300.0)
    follows = np.mean((out[1:] - out[:-1]) % 3 == 1)
    assert out[0] == 1 and follows > 0.95


def test_unfitted_model_raises_one_line_error():
    m = NGramModel(5, order=2)
    for call in (lambda: m.log_likelihood(np.array([1]), np.array([1]), 0.1),
                 lambda: m.sample(np.random.default_rng(0), np.ones(5), 4.0),
                 lambda: m.save("unused.npz")):
        with pytest.raises(NotFittedError) as err:
            call()
        assert "\n" not in str(err.value) and "ngram model is not fitted" in str(err.value)


@pytest.mark.parametrize("order", [0, 6, 2.5])
def test_order_out_of_range_is_a_config_error(order):
    with pytest.raises(ConfigError, match=r"^baseline\.order=.*must be an integer in \[1, 5\]"):
        NGramModel.validate_config(NGramConfig(order=order), "baseline")


@pytest.mark.parametrize("floor", [-0.1, 1.0])
def test_discount_floor_out_of_range_is_a_config_error(floor):
    with pytest.raises(ConfigError, match=r"^model\.discount_floor=.*must be in \[0, 1\)"):
        NGramModel.validate_config(NGramConfig(discount_floor=floor), "model")
