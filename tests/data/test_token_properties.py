"""Property tests (hypothesis) of tokenization, vocabularies and the sample -> MIDI -> tokens path.

Random note lists (any order, overlaps, gaps, any resolution a sample may use) must
satisfy the invariants the whole pipeline leans on; hypothesis shrinks any failure to a
small note list worth reading.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neshmm.evaluation.scoring import piece_tokens
from neshmm.models.hmm import HMMModel
from neshmm.models.markov import MarkovModel
from neshmm.models.sampling import VoiceModel, sample_piece, write_piece
from neshmm.data.tokens import UNK_ID, Quantizer, Vocab, detokenize, tokenize_notes
from neshmm.data.voices import VOICES

Q = Quantizer((0.25, 0.5, 0.75, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0), (1, 4, 8, 12, 16), (0, 2, 4, 6, 8, 10))
# Resolutions at which every bin is a distinct whole number of ticks (what config
# validation demands of sample.ticks_per_beat), NES-MDB's among them.
TPBS = st.one_of(st.sampled_from([4, 24, 96, 480, 960, 22050]), st.integers(8, 32767))

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def note_lists(draw, max_notes=40):
    """(notes (n, 4) in random order, ticks_per_beat): any starts, positive lengths."""
    tpb = draw(TPBS)
    n = draw(st.integers(0, max_notes))
    horizon = 64 * tpb
    starts = draw(st.lists(st.integers(0, horizon), min_size=n, max_size=n))
    lengths = draw(st.lists(st.integers(1, 40 * tpb), min_size=n, max_size=n))
    # 1..127: the corpus reader drops pitch 0 (neshmm.data.voices), so no model samples it.
    pitches = draw(st.lists(st.integers(1, 127), min_size=n, max_size=n))
    velocities = draw(st.lists(st.integers(1, 127), min_size=n, max_size=n))
    notes = np.array([[s, s + d, p, v] for s, d, p, v in zip(starts, lengths, pitches, velocities)], dtype=np.int64)
    return notes.reshape(-1, 4), tpb


@PROPS
@given(note_lists())
def test_tokenize_detokenize_tokenize_is_a_fixed_point(case):
    notes, tpb = case
    tokens = tokenize_notes(notes, tpb, Q)
    again = tokenize_notes(detokenize(tokens, tpb, Q), tpb, Q)
    assert again.tolist() == tokens.tolist()


@PROPS
@given(note_lists())
def test_token_shape_never_two_rests_in_a_row_and_never_a_trailing_rest(case):
    """What the sampler's output is compared with: real token sequences never have two
    consecutive rests (a gap is one rest) and never end on a rest."""
    notes, tpb = case
    tokens = tokenize_notes(notes, tpb, Q)
    is_rest = tokens[:, 2] == 0
    assert is_rest.sum() + len(notes) == len(tokens)
    assert not (is_rest[1:] & is_rest[:-1]).any()
    assert len(tokens) == 0 or not is_rest[-1]


@PROPS
@given(note_lists())
def test_rests_and_durations_preserve_the_onset_order(case):
    notes, tpb = case
    back = detokenize(tokenize_notes(notes, tpb, Q), tpb, Q)
    by_start = notes[np.argsort(notes[:, 0], kind="stable")]
    # Same notes, in the order of their onsets, and onsets strictly increasing.
    assert back[:, 2].tolist() == by_start[:, 2].tolist()
    assert (np.diff(back[:, 0]) > 0).all()
    # A note starts later than another in the output iff it did in the input (ties kept
    # in input order, then separated by the first note's duration).
    for a, b in zip(range(len(by_start) - 1), range(1, len(by_start))):
        if by_start[a, 0] < by_start[b, 0]:
            assert back[a, 0] < back[b, 0]


@st.composite
def grid_songs(draw):
    """Monophonic songs whose every gap and length is exactly one duration bin."""
    tpb = draw(st.sampled_from([4, 96, 480, 22052]))  # multiples of 4: every bin is whole ticks
    n = draw(st.integers(0, 30))
    rows, now = [], 0
    for _ in range(n):
        now += round(draw(st.sampled_from((0.0,) + Q.duration_bins)) * tpb)
        length = round(draw(st.sampled_from(Q.duration_bins)) * tpb)
        rows.append([now, now + length, draw(st.integers(0, 127)), draw(st.integers(1, 127))])
        now += length
    return np.array(rows, dtype=np.int64).reshape(-1, 4), tpb


@PROPS
@given(grid_songs())
def test_on_the_bin_grid_onsets_and_lengths_come_back_exactly(case):
    notes, tpb = case
    back = detokenize(tokenize_notes(notes, tpb, Q), tpb, Q)
    assert back[:, :3].tolist() == notes[:, :3].tolist()
    assert Q.velocities(back[:, 3]).tolist() == Q.velocities(notes[:, 3]).tolist()


TOKENS = st.tuples(st.integers(0, 127), st.integers(0, len(Q.duration_bins) - 1), st.sampled_from(Q.velocity_values))


@PROPS
@given(st.lists(TOKENS, min_size=1, max_size=60), st.lists(TOKENS, max_size=30))
def test_decode_encode_is_identity_on_known_tokens_and_unknown_is_unk(train, other):
    vocab = Vocab.build(np.array(train))
    known = np.array(train)[::-1]
    ids = vocab.encode(known)
    assert (ids >= 1).all() and (ids <= len(vocab.tokens)).all()
    assert vocab.decode(ids).tolist() == known.tolist()
    seen = {tuple(t) for t in train}
    for token, i in zip(other, vocab.encode(np.array(other).reshape(-1, 3))):
        assert (i == UNK_ID) == (tuple(token) not in seen)


# --- sampled MIDI parses back into the model's vocabulary -------------------------------------


@st.composite
def training_songs(draw):
    """A few songs per voice (real tokens of random notes), enough to fit a tiny model."""
    songs = {}
    for voice in draw(st.lists(st.sampled_from(VOICES), min_size=1, max_size=4, unique=True)):
        seqs = []
        for _ in range(draw(st.integers(1, 3))):
            notes, tpb = draw(note_lists(max_notes=25))
            if len(notes):
                seqs.append(tokenize_notes(notes, tpb, Q))
        if seqs:
            songs[voice] = seqs
    return songs


def fit(kind: str, seqs: list[np.ndarray], seed: int) -> VoiceModel:
    vocab = Vocab.build(np.concatenate(seqs))
    ids = np.concatenate([vocab.encode(s) for s in seqs])
    lengths = np.array([len(s) for s in seqs])
    if kind == "hmm":
        model = HMMModel(vocab.size, n_components=3, n_iter=5, seed=seed).fit(ids, lengths)
    else:
        model = MarkovModel(vocab.size, alpha=1.0).fit(ids, lengths)
    return VoiceModel(model, vocab)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(training_songs(), st.sampled_from(["hmm", "markov"]), st.integers(0, 2**16), st.sampled_from([16.0, 64.0]))
def test_every_sampled_midi_parses_back_to_tokens_of_the_vocabulary(tmp_path, songs, kind, seed, beats):
    models = {v: fit(kind, seqs, seed) for v, seqs in songs.items()}
    tokens = sample_piece(models, Q, beats, seed, 0, 0)
    path = tmp_path / "piece.mid"
    write_piece(path, tokens, Q, 22050, beats)
    back = piece_tokens(path, Q)
    for voice, vm in models.items():
        got = back.get(voice, np.zeros((0, 3), dtype=np.int64))
        assert (vm.vocab.encode(got) != UNK_ID).all(), (voice, got[vm.vocab.encode(got) == UNK_ID].tolist())
        # Exactly the sampled tokens, up to a trailing rest (silence until the piece ends).
        sampled = tokens[voice]
        if len(sampled) and sampled[-1, 2] == 0:
            sampled = sampled[:-1]
        assert got.tolist() == sampled.tolist()
