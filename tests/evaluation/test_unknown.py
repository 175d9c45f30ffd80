import numpy as np
import pytest

from neshmm.errors import ConfigError, DataError
from neshmm.evaluation.unknown import (
    decompose,
    file_good_turing,
    good_turing,
    type_counts,
    unk_probability,
    witten_bell,
    with_unknown,
)
from helpers import hmm_path_sum

# Toy training data: two files over known ids 1..4 (id 0 = <unk> never in training).
IDS = np.array([1, 1, 2, 3, 2, 2, 4])
LENGTHS = np.array([4, 3])  # file 0: 1 1 2 3, file 1: 2 2 4
# Count table: id 1 -> 2, id 2 -> 3, id 3 -> 1, id 4 -> 1; N = 7, T = 4, N1 = 2.


def test_count_table():
    assert type_counts(IDS).tolist() == [2, 3, 1, 1]
    assert type_counts(np.array([0, 0, 3])).tolist() == [1]  # <unk> is not a type


def test_estimators_by_hand():
    assert good_turing([2, 3, 1, 1]) == pytest.approx(2 / 7)
    assert witten_bell([2, 3, 1, 1]) == pytest.approx(4 / 11)
    # Types in one file only: 1 (x2) and 3 (file 0), 4 (file 1); 2 is in both. 4 of 7 tokens.
    assert file_good_turing(IDS, LENGTHS) == pytest.approx(4 / 7)
    assert unk_probability(IDS, LENGTHS, "good_turing") == pytest.approx(2 / 7)
    assert unk_probability(IDS, LENGTHS, "witten_bell") == pytest.approx(4 / 11)
    assert unk_probability(IDS, LENGTHS) == pytest.approx(4 / 7)  # the default


def test_estimator_errors():
    with pytest.raises(ConfigError, match="evaluate.unk_method='laplace'"):
        unk_probability(IDS, LENGTHS, "laplace")
    with pytest.raises(DataError, match="no known training token"):
        good_turing([0, 0])
    with pytest.raises(DataError, match="no known training token"):
        file_good_turing(np.array([0, 0]), np.array([2]))


def test_with_unknown_by_hand():
    p = np.array([0.2, 0.3, 0.5])  # the model's own 0.2 on <unk> is discarded
    got = with_unknown(p, 0.1)
    assert got == pytest.approx([0.1, 0.9 * 0.375, 0.9 * 0.625])


def test_with_unknown_rows_keep_known_ratios_and_sum_to_one():
    rng = np.random.default_rng(0)
    m = rng.random((5, 7))
    m /= m.sum(axis=1, keepdims=True)
    got = with_unknown(m, 0.01)
    assert got.sum(axis=1) == pytest.approx(np.ones(5))
    assert (got[:, 0] == 0.01).all()
    known = m[:, 1:] / m[:, 1:].sum(axis=1, keepdims=True)
    assert got[:, 1:] / 0.99 == pytest.approx(known)  # P(token | known) unchanged
    assert m[0, 0] != 0.01  # input untouched


@pytest.mark.parametrize("p, p_unk", [([0.5, 0.5, 0.0], 0.0), ([0.5, 0.5], 1.0), ([1.0, 0.0, 0.0], 0.1), ([0.5], 0.1)])
def test_with_unknown_rejects_what_it_cannot_rescale(p, p_unk):
    with pytest.raises(ValueError):
        with_unknown(np.array(p), p_unk)


def test_decompose_markov_by_hand():
    # Start and transition rows over ids 0..2; the policy applied to each row.
    p_unk = 0.05
    start = with_unknown(np.array([0.0, 0.6, 0.4]), p_unk)
    trans = with_unknown(np.array([[0.0, 0.5, 0.5], [0.1, 0.2, 0.7], [0.0, 0.9, 0.1]]), p_unk)
    seq = np.array([1, 2, 0, 1])  # 1 -> 2 -> <unk> -> 1 (row 0 scores the token after <unk>)
    total = np.log(start[1]) + np.log(trans[1, 2]) + np.log(trans[2, 0]) + np.log(trans[0, 1])
    parts = decompose(total, seq, p_unk)
    assert (parts.n_known, parts.n_unknown) == (3, 1)
    # Known part: log P(token | known, context) = the model's row renormalised over known ids.
    known = np.log(0.6) + np.log(0.7 / 0.9) + np.log(0.5)
    assert parts.known_loglik == pytest.approx(known)
    assert parts.unknown_part == pytest.approx(np.log(p_unk) + 3 * np.log(1 - p_unk))
    assert parts.known_loglik_per_token == pytest.approx(known / 3)
    assert parts.unknown_rate == 0.25
    assert parts.to_json()["unknown_tokens"] == 1


def test_decompose_hmm_known_part_is_the_hmm_with_unknown_tokens_unobserved():
    """Under the policy an <unk> carries no evidence about the state: its emission is
    p_unk in every state. The known part must equal the path sum in which <unk> positions
    emit 1 and known ids their emission given "known"."""
    start = np.array([0.6, 0.4])
    trans = np.array([[0.7, 0.3], [0.2, 0.8]])
    emission = np.array([[0.0, 0.5, 0.4, 0.1], [1e-9, 0.1, 0.2, 0.7]])
    p_unk = 0.02
    seq = [2, 0, 3, 1]
    total = hmm_path_sum(start, trans, with_unknown(emission, p_unk), seq)
    parts = decompose(total, np.array(seq), p_unk)
    unobserved = emission / emission[:, 1:].sum(axis=1, keepdims=True)
    unobserved[:, 0] = 1.0
    assert parts.known_loglik == pytest.approx(hmm_path_sum(start, trans, unobserved, seq))


def test_file_good_turing_matches_a_direct_count_on_random_files():
    rng = np.random.default_rng(4)
    lengths = rng.integers(1, 40, size=60)
    ids = rng.integers(0, 90, size=lengths.sum())
    files = np.repeat(np.arange(len(lengths)), lengths)
    in_files = {t: len(set(files[ids == t])) for t in set(ids.tolist()) if t != 0}
    known = [t for t in ids.tolist() if t != 0]
    expected = sum(in_files[t] == 1 for t in known) / len(known)
    assert file_good_turing(ids, lengths) == pytest.approx(expected, rel=1e-15)
