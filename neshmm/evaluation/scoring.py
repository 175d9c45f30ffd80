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
from neshmm.config import BootstrapConfig
from neshmm.data.tokens import UNK_ID, Quantizer, Vocab, detokenize, tokenize_notes
from neshmm.errors import DataError
from neshmm.evaluation.likelihood import beats_to_seconds, sequence_beats
from neshmm.evaluation.mgeval import mgeval_scores
from neshmm.evaluation.mgeval_features import TOOLBOX_FEATURES
from neshmm.evaluation.statistics import Interval, kl_rows, mean_ci, pooled_ci, ratio_ci
from neshmm.evaluation.unknown import decompose
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
# The bootstrap over generated pieces of the MGEval mean overlap.
MGEVAL_STREAM = 1_000_037


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
    """All numbers for one voice and one system (a model, or the real-vs-real control).

    A metric ``m`` with an interval also has ``m_ci_low`` and ``m_ci_high`` beside it.
    ``per_file_loglik`` (not written out) lets the evaluate step pair a model with the
    baseline on the same held-out files.
    """

    kl: dict[str, float] = field(default_factory=dict)
    loglik: dict[str, float] = field(default_factory=dict)
    mgeval: dict[str, float] = field(default_factory=dict)
    skipped: str | None = None
    per_file_loglik: np.ndarray | None = None


def put_interval(out: dict, key: str, iv: Interval) -> None:
    out[key] = finite(iv.value)
    out[f"{key}_ci_low"] = finite(iv.low)
    out[f"{key}_ci_high"] = finite(iv.high)


@dataclass(frozen=True)
class MGEvalSettings:
    """How MGEval compares a voice's generated pieces with length-matched reference excerpts."""

    mode: str
    ticks_per_beat: int
    num_bar: int
    seed: int
    n_resamples: int = 0  # bootstrap over generated pieces for the mean overlap; 0 = no CI


def score_generated(
    ref: list[np.ndarray],
    pieces: list[np.ndarray],
    q: Quantizer,
    epsilon: float,
    boot: BootstrapConfig,
    mgeval_ref: list[np.ndarray] | None = None,
    mg: MGEvalSettings | None = None,
) -> VoiceScore:
    """KL of every histogram feature per piece (mean over pieces, with a bootstrap CI over
    pieces), the pooled pitch KL, and MGEval against length-matched reference excerpts.

    Per piece, because one piece is what a listener hears and the spread over pieces says
    how much a single number can be trusted; ``kl_pitch_pooled`` pools all pieces into one
    histogram, the notebook's single-sample number with more data behind it (its value
    falls as pieces are added, so compare it only at equal ``sample.n_samples``; its CI is
    a bootstrap over pieces). A piece in which the voice is silent counts as an empty
    histogram (finite thanks to epsilon). ``mgeval_ref`` (token excerpts as long as the
    pieces) and ``mg`` turn MGEval on.
    """
    if not pieces:
        raise ValueError("score_generated() needs at least one piece")
    n_bins = len(q.duration_bins)
    ref_hists = metrics.feature_histograms(ref, n_bins)  # once, not per piece
    per_piece = [metrics.kl_all(ref, [p], n_bins, epsilon, ref_hists) for p in pieces]
    out = VoiceScore()
    for key in per_piece[0]:
        values = np.array([d[key] for d in per_piece], dtype=np.float64)
        put_interval(out.kl, key, mean_ci(values, boot.n_resamples, boot.seed, boot.level))
    counts = np.stack([metrics.pitch_histogram([p]) for p in pieces])
    pooled = pooled_ci(counts, kl_rows(metrics.pitch_histogram(ref), epsilon), boot.n_resamples, boot.seed, boot.level)
    put_interval(out.kl, "kl_pitch_pooled", pooled)
    if mg is not None and mgeval_ref:
        out.mgeval = mgeval_summary(mgeval_ref, pieces, q, mg, boot)
    return out


def mgeval_summary(ref: list[np.ndarray], pieces: list[np.ndarray], q: Quantizer, mg: MGEvalSettings,
                   boot: BootstrapConfig) -> dict[str, float]:
    """``oa_<feature>``, ``kl_<feature>_intra_inter`` and their mean ``oa_mean`` (with a CI
    over generated pieces when ``mg.n_resamples`` > 0; each resample reruns the KDEs, so
    it costs ``n_resamples`` times the point estimate)."""
    def notes(tokens_list):
        return [n for n in (detokenize(t, mg.ticks_per_beat, q) for t in tokens_list) if len(n)]

    ref_notes, gen_notes = notes(ref), notes(pieces)
    if len(ref_notes) < 2 or not gen_notes:
        return {}
    scores = _mgeval_each(ref_notes, gen_notes, mg)
    out: dict[str, float] = {}
    for name, v in scores.items():
        out[f"oa_{name}"] = finite(v["oa"])
        out[f"kl_{name}_intra_inter"] = finite(v["kl"])
    oas = [v["oa"] for v in scores.values() if math.isfinite(v["oa"])]
    out["oa_mean"] = finite(float(np.mean(oas))) if oas else None
    if mg.n_resamples and oas:
        rng = np.random.default_rng([boot.seed, MGEVAL_STREAM])
        reps = []
        for _ in range(mg.n_resamples):
            pick = [gen_notes[i] for i in rng.integers(0, len(gen_notes), len(gen_notes))]
            r = _mgeval_each(ref_notes, pick, mg)
            reps.append(np.nanmean([v["oa"] for v in r.values()]))
        lo, hi = np.quantile(reps, [(1 - boot.level) / 2, (1 + boot.level) / 2])
        out["oa_mean_ci_low"], out["oa_mean_ci_high"] = finite(float(lo)), finite(float(hi))
    return out


def _mgeval_each(ref_notes, gen_notes, mg: MGEvalSettings) -> dict[str, dict[str, float]]:
    """:func:`mgeval_scores`, with a feature the toolbox cannot score (a KDE of identical
    distances, e.g. every piece has the same note count) as NaN instead of failing all."""
    kw = dict(mode=mg.mode, seed=mg.seed, num_bar=mg.num_bar)
    try:
        return mgeval_scores(ref_notes, gen_notes, mg.ticks_per_beat, **kw)
    except DataError:
        out = {}
        for name in TOOLBOX_FEATURES:
            try:
                out.update(mgeval_scores(ref_notes, gen_notes, mg.ticks_per_beat, features=[name], **kw))
            except DataError:
                out[name] = {"oa": math.nan, "kl": math.nan}
        return out


@dataclass(frozen=True)
class HeldOut:
    """One voice's held-out files: tokens, ids in the training vocabulary, lengths in beats."""

    ids: np.ndarray
    lengths: np.ndarray
    beats: np.ndarray  # per file
    p_unk: float


def held_out(vocab: Vocab, tokens: np.ndarray, lengths: np.ndarray, q: Quantizer, p_unk: float) -> HeldOut:
    lengths = np.asarray(lengths, dtype=np.int64)
    return HeldOut(vocab.encode(tokens), lengths, sequence_beats(tokens, lengths, q), p_unk)


def score_likelihood(model: TokenModel, held: HeldOut, vocab: Vocab, pieces: list[np.ndarray],
                     boot: BootstrapConfig) -> tuple[dict[str, float], np.ndarray]:
    """Held-out log-likelihood per token, per beat and per second, each with a file-level
    bootstrap CI; perplexity; the known-token log-likelihood and the unknown rate apart;
    and the per-file log-likelihoods (for pairing with the baseline).

    Held-out tokens absent from the training vocabulary are ``<unk>``, scored with the
    probability ``p_unk`` estimated from the training data (see
    :meth:`TokenModel.log_likelihood`) and counted. Per beat, because per-token rates
    cannot compare tokenizations: coarser bins make the same music fewer, easier tokens.
    ``self_loglik_per_token`` is the notebook's number (the model scoring its own samples),
    kept for comparison only: it rewards a model for being predictable.
    """
    ids, lengths = held.ids, held.lengths
    out: dict[str, float] = {"heldout_tokens": int(len(ids)), "heldout_files": int((lengths > 0).sum())}
    out["heldout_unknown_tokens"] = int((ids == UNK_ID).sum())
    per_file = np.zeros(len(lengths))
    if len(ids):
        per_file = model.log_likelihood(ids, lengths, held.p_unk, per_sequence=True)
        total = float(per_file.sum())
        keep = lengths > 0
        b = (boot.n_resamples, boot.seed, boot.level)
        put_interval(out, "heldout_loglik_per_token", ratio_ci(per_file[keep], lengths[keep], *b))
        put_interval(out, "heldout_loglik_per_beat", ratio_ci(per_file[keep], held.beats[keep], *b))
        put_interval(out, "heldout_loglik_per_second", ratio_ci(per_file[keep], beats_to_seconds(held.beats[keep]), *b))
        out["heldout_perplexity"] = finite(metrics.perplexity(total, len(ids)))
        parts = decompose(total, ids, held.p_unk)
        out["heldout_known_loglik_per_known_token"] = finite(parts.known_loglik_per_token)
        out["heldout_unknown_rate"] = finite(parts.unknown_rate)
        out["p_unk"] = finite(held.p_unk)
    encoded = [vocab.encode(p) for p in pieces if len(p)]
    if encoded:
        # All pieces in one call (per sequence): the model builds its scoring tables once,
        # not once per piece (for the Markov chain, a log of its V x V matrix each time).
        piece_lengths = np.array([len(e) for e in encoded])
        per_piece = model.log_likelihood(np.concatenate(encoded), piece_lengths, held.p_unk, per_sequence=True)
        out["self_loglik_per_token"] = finite(float(np.mean(per_piece / piece_lengths)))
    out["n_iter"] = int(model.fit_info.get("n_iter", 0))
    out["converged"] = int(bool(model.fit_info.get("converged", True)))
    return out, per_file
