"""Score each (voice, model) pair and lay the numbers out as DVC metrics and tables.

Reference statistics come from token artifacts (never by re-parsing the corpus); generated
statistics come from the sample MIDI files, parsed and tokenized like the corpus, so what
is scored is exactly what a listener gets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from neshmm import metrics
from neshmm.midi_io import read_midi
from neshmm.models import TokenModel
from neshmm.tokens import UNK_ID, Quantizer, Vocab, tokenize_notes
from neshmm.voices import assign_voices


def piece_tokens(path: Path, q: Quantizer) -> dict[str, np.ndarray]:
    """Tokens per voice of one generated MIDI file."""
    song = read_midi(path)
    voices = assign_voices(song)
    return {v: tokenize_notes(n, song.ticks_per_beat, q) for v, n in voices.notes.items()}


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
) -> VoiceScore:
    """KL of every histogram feature per piece (mean and std over pieces) plus MGEval."""
    per_piece = [metrics.kl_all(ref, [p], len(duration_bins), epsilon) for p in pieces]
    out = VoiceScore()
    for key in per_piece[0]:
        mean, std = metrics.mean_std([d[key] for d in per_piece])
        out.kl[key] = finite(mean)
        out.kl[f"{key}_std"] = finite(std)
    # Pooled over all pieces: the notebook's single-histogram number with more data.
    out.kl["kl_pitch_pooled"] = finite(metrics.kl_pitch(ref, pieces, epsilon))
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
    """Held-out per-token log-likelihood and perplexity, unknown-token count, self score."""
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


def nested(scores: dict[str, dict[str, VoiceScore]], part: str) -> dict:
    """{voice: {model: {metric: value}}}: `dvc metrics diff` prints one row per leaf."""
    out: dict = {}
    for voice, by_model in scores.items():
        out[voice] = {}
        for model, s in by_model.items():
            values = dict(getattr(s, part))
            if s.skipped:
                values = {"skipped": 1}
            if values:
                out[voice][model] = values
    return out


def table(scores: dict[str, dict[str, VoiceScore]], part: str, metric: str) -> pd.DataFrame:
    """Rows voices, columns models, cells one metric (NaN where undefined or skipped)."""
    rows = {}
    for voice, by_model in scores.items():
        rows[voice] = {
            m: (np.nan if s.skipped else getattr(s, part).get(metric, np.nan)) for m, s in by_model.items()
        }
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "voice"
    return df.astype(float)


def markdown(df: pd.DataFrame, floatfmt: str = ".4f") -> str:
    return df.to_markdown(floatfmt=floatfmt) + "\n"
