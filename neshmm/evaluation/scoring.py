"""Score each (voice, model) pair and lay the numbers out as DVC metrics and tables.

Reference statistics come from token artifacts (never by re-parsing the corpus); generated
statistics come from the sample MIDI files, parsed and tokenized like the corpus, so what
is scored is exactly what a listener gets.

The real-vs-real control ("real_<heldout>") is scored exactly like a model: ``n`` excerpts
of held-out songs, each as long in beats as a generated piece, chosen with the sampling
seed; songs shorter than a piece are excluded and counted (:func:`matched_excerpts`). Its numbers are what real, unseen music of the same length scores against the
reference, i.e. the level a model can sensibly be asked to reach.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from neshmm.evaluation import metrics
from neshmm.data.midi_io import read_midi
from neshmm.models import TokenModel
from neshmm.data.tokens import UNK_ID, Quantizer, Vocab, tokenize_notes
from neshmm.data.voices import VOICES, assign_voices

# Mixed into the control's random stream so its excerpts never correlate with a model's
# samples drawn from the same seed (sampling uses [seed, role_index, piece, voice]).
CONTROL_STREAM = 1_000_003


def piece_tokens(path: Path, q: Quantizer) -> dict[str, np.ndarray]:
    """Tokens per voice of one generated MIDI file, quantized exactly like the corpus.

    This relies on :func:`neshmm.tokens.detokenize` writing a velocity that re-quantizes
    to the token's value (tested in tests/test_evaluation.py): writing the value itself
    would turn 8 into 6 on the way back and score velocities the model never produced.
    """
    song = read_midi(path)
    voices = assign_voices(song)
    return {v: tokenize_notes(n, song.ticks_per_beat, q) for v, n in voices.notes.items()}


def excerpt(tokens: np.ndarray, q: Quantizer, start_beat: float, beats: float) -> np.ndarray:
    """The tokens of one sequence from the first one starting at or after ``start_beat``,
    up to but excluding the first that would end past ``beats`` beats later.

    This is the sampler's stopping rule (:meth:`TokenModel.sample`), so an excerpt and a
    generated voice have the same length in beats and no truncated token.
    """
    tokens = np.asarray(tokens, dtype=np.int64).reshape(-1, 3)
    length = q.beats(tokens[:, 1])
    onsets = np.cumsum(length) - length
    first = int(np.searchsorted(onsets, start_beat - 1e-9, side="left"))
    ends = np.cumsum(length[first:])
    n = int(np.searchsorted(ends, beats + 1e-9, side="right"))
    return tokens[first : first + n]


# Mixed into the stream of reference excerpts (train songs for per-piece metrics such as
# MGEval), so they never correlate with the control's or a model's draws.
REFERENCE_STREAM = 1_000_033


@dataclass
class Excerpts:
    """Length-matched excerpts of real songs, and how many songs were too short to give one.

    ``n_songs`` counts the songs in which the voice plays; ``n_short`` of them are shorter
    than the excerpt length and were excluded (see :func:`matched_excerpts`).
    """

    pieces: list[np.ndarray]
    n_songs: int
    n_short: int

    def counts(self, prefix: str = "") -> dict[str, int]:
        return {f"{prefix}songs": self.n_songs, f"{prefix}short_songs_excluded": self.n_short}


def matched_excerpts(
    seqs: Sequence[np.ndarray], q: Quantizer, n: int, beats: float, rng: np.random.Generator
) -> Excerpts:
    """``n`` excerpts of ``beats`` beats from the songs at least ``beats`` long.

    Each excerpt picks a song uniformly, then a time uniformly in [0, song length - beats],
    and starts at the last token onset at or before it, so at least ``beats`` beats of
    music follow; :func:`excerpt` then cuts with the sampler's stopping rule. An excerpt
    thus has the length of a generated piece, give or take one token, exactly like the
    sampler's output.

    Songs shorter than ``beats`` are excluded, not looped and not taken whole: whole, they
    hold fewer notes than a generated piece (on NES-MDB valid, 80% of the songs are shorter
    than 128 beats and the control averaged half a piece's notes), which skews every
    per-piece histogram and MGEval distance; looped, a jingle that never repeats in the game
    becomes a repetition no composer wrote, inflating self-similarity. Excluding biases the
    references towards long songs (level themes over jingles); that is the price of
    comparing like with like, and ``n_short`` says how large it is. No long-enough song:
    no excerpt (empty ``pieces``).
    """
    seqs = [np.asarray(s, dtype=np.int64).reshape(-1, 3) for s in seqs]
    seqs = [s for s in seqs if len(s)]
    onsets, totals = [], []
    for s in seqs:
        length = q.beats(s[:, 1])
        onsets.append(np.cumsum(length) - length)
        totals.append(float(length.sum()))
    long_enough = [i for i, t in enumerate(totals) if t >= beats - 1e-9]
    out = Excerpts([], n_songs=len(seqs), n_short=len(seqs) - len(long_enough))
    if not long_enough:
        return out
    for _ in range(n):
        i = long_enough[int(rng.integers(len(long_enough)))]
        t = float(rng.uniform(0.0, totals[i] - beats))
        start = float(onsets[i][np.searchsorted(onsets[i], t + 1e-9, side="right") - 1])
        out.pieces.append(excerpt(seqs[i], q, start, beats))
    return out


def control_set(seqs: Sequence[np.ndarray], q: Quantizer, n: int, beats: float, seed: int, voice: str) -> Excerpts:
    """The real-vs-real control: ``n`` length-matched held-out excerpts, from ``seed``.

    The stream is keyed by the voice's fixed NES index, like the sampler's, so dropping a
    voice from the config leaves the other voices' excerpts unchanged.
    """
    return matched_excerpts(seqs, q, n, beats, np.random.default_rng([seed, CONTROL_STREAM, VOICES.index(voice)]))


def control_excerpts(
    seqs: Sequence[np.ndarray], q: Quantizer, n: int, beats: float, seed: int, voice: str
) -> list[np.ndarray]:
    """The pieces of :func:`control_set` (songs shorter than ``beats`` excluded)."""
    return control_set(seqs, q, n, beats, seed, voice).pieces


def reference_excerpts(
    seqs: Sequence[np.ndarray], q: Quantizer, n: int, beats: float, seed: int, voice: str
) -> Excerpts:
    """``n`` length-matched excerpts of the reference split (train) for per-piece metrics.

    MGEval compares sets of pieces by pairwise distances of per-piece features (note
    count, pitch range, ...), which depend on a piece's length; the reference set must
    therefore hold pieces as long as the generated ones, not whole songs. A stream of its
    own, so the set does not change when the control or the samples do.
    """
    return matched_excerpts(seqs, q, n, beats, np.random.default_rng([seed, REFERENCE_STREAM, VOICES.index(voice)]))


def finite(x: float) -> float | None:
    """JSON has no NaN/inf; None marks an undefined metric explicitly."""
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass
class VoiceScore:
    """All numbers for one voice and one model (or the real-vs-real control)."""

    kl: dict[str, float] = field(default_factory=dict)
    loglik: dict[str, float] = field(default_factory=dict)
    mgeval: dict[str, float] = field(default_factory=dict)
    skipped: str | None = None


def score_generated(
    ref: list[np.ndarray],
    pieces: list[np.ndarray],
    duration_bins: list[float],
    epsilon: float,
    seed: int,
    with_mgeval: bool = True,
) -> VoiceScore:
    """KL of every histogram feature per piece (mean and std over pieces) plus MGEval.

    Per piece, because one piece is what a listener hears and the spread over pieces says
    how much a single number can be trusted; ``kl_pitch_pooled`` pools all pieces into one
    histogram, the notebook's single-sample number with more data behind it. A piece in
    which the voice is silent counts as an empty histogram (finite thanks to epsilon).
    """
    if not pieces:
        raise ValueError("score_generated() needs at least one piece")
    ref_hists = metrics.feature_histograms(ref, len(duration_bins))  # once, not per piece
    per_piece = [metrics.kl_all(ref, [p], len(duration_bins), epsilon, ref_hists) for p in pieces]
    out = VoiceScore()
    for key in per_piece[0]:
        mean, std = metrics.mean_std([d[key] for d in per_piece])
        out.kl[key] = finite(mean)
        out.kl[f"{key}_std"] = finite(std)
    out.kl["kl_pitch_pooled"] = finite(metrics.kl_pitch(ref, pieces, epsilon))
    if with_mgeval:
        mg = metrics.mgeval(ref, [p for p in pieces if len(p)], duration_bins, seed=seed)
        out.mgeval = {k: finite(v) for k, v in mg.items()}
    return out


def score_likelihood(
    model: TokenModel,
    vocab: Vocab,
    heldout_tokens: np.ndarray,
    heldout_lengths: np.ndarray,
    pieces: list[np.ndarray],
    unk_smoothing: float,
) -> dict[str, float]:
    """Held-out per-token log-likelihood and perplexity, unknown-token count, self score.

    Held-out tokens absent from the training vocabulary are encoded as ``<unk>`` and
    scored, not dropped: every output distribution is mixed with the uniform distribution
    with weight ``unk_smoothing`` (see :meth:`TokenModel.log_likelihood`), so each unknown
    token costs about ``log(unk_smoothing / n_symbols)`` and their count is reported next to
    the score. ``self_loglik_per_token`` is the notebook's number (the model scoring its own
    samples), kept for comparison only: it rewards a model for being predictable.
    """
    ids = vocab.encode(heldout_tokens)
    out: dict[str, float] = {"heldout_tokens": int(len(ids))}
    out["heldout_unknown_tokens"] = int((ids == UNK_ID).sum())
    out["heldout_unknown_fraction"] = finite(out["heldout_unknown_tokens"] / len(ids)) if len(ids) else None
    if len(ids):
        total = model.log_likelihood(ids, heldout_lengths, unk_smoothing)
        out["heldout_loglik_per_token"] = finite(metrics.per_token(total, len(ids)))
        out["heldout_perplexity"] = finite(metrics.perplexity(total, len(ids)))
    self_scores = []
    for p in pieces:
        if len(p):
            pid = vocab.encode(p)
            self_scores.append(model.log_likelihood(pid, np.array([len(pid)]), unk_smoothing) / len(pid))
    if self_scores:
        out["self_loglik_per_token"] = finite(float(np.mean(self_scores)))
    out["n_iter"] = int(model.fit_info.get("n_iter", 0))
    out["converged"] = int(bool(model.fit_info.get("converged", True)))
    return out
