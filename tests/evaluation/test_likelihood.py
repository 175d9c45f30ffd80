import os
from pathlib import Path

import numpy as np
import pytest

from neshmm.evaluation.likelihood import (
    NESMDB_BPM,
    beats_to_seconds,
    rates,
    sequence_beats,
)
from neshmm.models.hmm import HMMModel
from neshmm.models.markov import MarkovModel
from helpers import Q, toks

ROOT = Path(__file__).resolve().parents[2]
NESMDB_DIR = Path(os.environ.get("NESMDB_DIR", ROOT.parent / "shared" / "nesmdb_midi"))

# Bins (beats): 0 -> .25, 3 -> 1, 4 -> 2, 5 -> 4. Rests (pitch 0, velocity 0) count too.
SONG_A = toks((60, 3, 8), (0, 4, 0), (62, 0, 8))  # 1 + 2 + .25 = 3.25 beats
SONG_B = toks((0, 5, 0), (64, 3, 8))  # 4 + 1 = 5 beats


def test_sequence_beats_count_rests_and_notes_by_hand():
    tokens = np.concatenate([SONG_A, SONG_B])
    assert sequence_beats(tokens, [3, 2], Q).tolist() == [3.25, 5.0]
    assert sequence_beats(tokens, [3, 0, 2], Q).tolist() == [3.25, 0.0, 5.0]
    with pytest.raises(ValueError, match="lengths sum to 4"):
        sequence_beats(tokens, [3, 1], Q)


def test_seconds_at_nesmdb_tempo():
    assert NESMDB_BPM == 120.0
    assert beats_to_seconds([3.25, 5.0]).tolist() == [1.625, 2.5]
    assert beats_to_seconds([6.0], bpm=90.0).tolist() == [4.0]
    with pytest.raises(ValueError):
        beats_to_seconds([1.0], bpm=0.0)


def test_rates_by_hand():
    tokens = np.concatenate([SONG_A, SONG_B])
    r = rates([-6.0, -4.0], tokens, [3, 2], Q)
    assert r == {
        "loglik_per_token": pytest.approx(-10.0 / 5),
        "loglik_per_beat": pytest.approx(-10.0 / 8.25),
        "loglik_per_second": pytest.approx(-10.0 / 4.125),
    }


def two_models():
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 6, 300)
    lengths = np.array([100, 120, 80])
    hmm = HMMModel(6, n_components=3, n_iter=5, seed=1).fit(ids, lengths)
    return [MarkovModel(6, alpha=0.5).fit(ids, lengths), hmm]


@pytest.mark.parametrize("index", [0, 1])
def test_per_sequence_loglik_is_each_files_score_and_sums_to_the_total(index):
    model = two_models()[index]
    ids = np.array([1, 2, 3, 0, 4, 5, 5, 1, 2])  # one <unk>
    lengths = np.array([4, 0, 3, 2])
    per = model.log_likelihood(ids, lengths, 1e-3, per_sequence=True)
    assert per[1] == 0.0 and len(per) == 4
    assert per[0] == pytest.approx(model.log_likelihood(ids[:4], [4], 1e-3))
    assert per[3] == pytest.approx(model.log_likelihood(ids[7:], [2], 1e-3))
    assert per.sum() == pytest.approx(model.log_likelihood(ids, lengths, 1e-3))
    with pytest.raises(ValueError, match="lengths sum to 8"):
        model.log_likelihood(ids, [4, 4], 1e-3, per_sequence=True)


@pytest.mark.skipif(not (NESMDB_DIR / "valid").is_dir(), reason="NES-MDB not available")
def test_every_nesmdb_file_is_at_120_bpm():
    """The seconds conversion assumes it: one set-tempo event of 500000 us per beat."""
    files = sorted((NESMDB_DIR / "valid").glob("*.mid"))
    assert files
    for f in files:
        data = f.read_bytes()
        tempos, i = set(), data.find(b"\xff\x51\x03")
        while i >= 0:
            tempos.add(int.from_bytes(data[i + 3 : i + 6], "big"))
            i = data.find(b"\xff\x51\x03", i + 1)
        assert tempos == {round(60e6 / NESMDB_BPM)}, f.name
