"""Whole-piece scores of every system: cross-voice metrics and held-out likelihood per beat.

The per-voice tables (metrics/kl.json, ...) score one voice at a time. Two questions need
all voices at once, and are answered here for the systems ``model``, ``baseline`` and
``joint`` and for real music:

- **Cross-voice metrics** (:mod:`neshmm.evaluation.cross_voice`): do the voices of a piece
  fit together? Generated pieces are read back from their MIDI files (what a listener
  hears); the KL reference is the training songs whole (the songs every model learnt from);
  the real control is one length-matched excerpt of every held-out song at least
  ``sample.beats`` long (:func:`neshmm.data.excerpts.song_excerpts`), all voices kept.
- **Held-out log-likelihood per beat, all voices**: the total over the four voices
  divided by the held-out songs' length in beats, the one denominator the per-voice
  models (tokens) and the joint model (frames) share. They model different data: the
  joint model has no velocity and merges notes shorter than a frame, the per-voice models
  see every note with its velocity but no other voice. So the comparison is rough: it
  says which system finds the held-out songs less surprising in its own representation.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

import numpy as np

from neshmm.config import Config
from neshmm.data.corpus import Split
from neshmm.data.excerpts import song_excerpts, total_beats, whole_songs
from neshmm.data.frames import FrameVocab, UNK_ID, split_frames
from neshmm.data.midi_io import read_midi
from neshmm.data.voices import assign_voices
from neshmm.evaluation.cross_voice import cross_voice_scores, features_of
from neshmm.models.joint import JointModel
from neshmm.parallel import shared_map

# Mixed into the control excerpts' random stream (the per-voice control uses 1_000_003).
CROSS_VOICE_CONTROL_STREAM = 3_000_017
# Reference songs per task when their features are computed on workers: small enough to
# balance two workers, large enough that a task's overhead (~1 ms) stays negligible.
FEATURE_SLICE = 100
# Rows of metrics/cross_voice.md, in this order.
CROSS_VOICE_METRICS = (
    "harmony_consonance",
    "kl_harmony_interval",
    "key_agreement",
    "onset_coincidence_p1_tr",
    "onset_coincidence_p1_no",
    "onset_coincidence_tr_no",
    "kl_co_onset",
)


def midi_piece(path: Path) -> tuple[dict[str, np.ndarray], int]:
    """Notes per voice ``(n, 4)`` and ticks per beat of one generated MIDI file."""
    song = read_midi(path)
    return {v: n for v, n in assign_voices(song).notes.items() if len(n)}, int(song.ticks_per_beat)


def cross_voice_all(
    cfg: Config, systems: Mapping[str, list[Path]], reference: Split, train_files, heldout: Split, jobs: int = 1
) -> dict[str, dict]:
    """``{column: cross_voice_scores(...)}`` for each system's MIDI files and the real control.

    ``systems`` maps a column name (hmm, markov, joint) to its pieces' MIDI paths. The
    control column is ``real_<heldout>``; its entry says ``"skipped"`` when no held-out
    song is long enough. Each column is scored apart from the others (its bootstrap
    streams are seeded per metric, the control's excerpts from the sampling seed), so
    ``jobs`` > 1 scores them on forked workers with the same numbers.
    """
    ev = cfg.evaluate
    c = ev.cross_voice
    ref_pieces, ref_tpb = whole_songs(reference, train_files)
    # Once, not per column; in slices on the workers (on NES-MDB, 2250 songs, 2 s of work).
    slices = [(a, min(a + FEATURE_SLICE, len(ref_pieces))) for a in range(0, len(ref_pieces), FEATURE_SLICE)]
    shared_ref = (ref_pieces, ref_tpb, c.onset_tolerance_beats)
    ref_features = [f for part in shared_map(_features_slice, shared_ref, slices, jobs) for f in part]
    kw = dict(reference_ticks_per_beat=ref_tpb, tolerance_beats=c.onset_tolerance_beats, epsilon=ev.epsilon,
              n_boot=ev.bootstrap.n_resamples, ci_level=ev.bootstrap.level, seed=ev.bootstrap.seed,
              reference_features=ref_features)
    control = f"real_{ev.heldout}"
    shared = (cfg, systems, ref_pieces, heldout, kw)
    columns = [*systems, control]
    return dict(zip(columns, shared_map(_cross_voice_column, shared, columns, jobs)))


def _features_slice(shared, bounds: tuple[int, int]) -> list:
    """:func:`features_of` the reference pieces ``a:b`` (one task of :func:`cross_voice_all`)."""
    pieces, tpbs, tolerance = shared
    a, b = bounds
    return features_of(pieces[a:b], tpbs[a:b], tolerance, "reference pieces")


def _cross_voice_column(shared, column: str) -> dict:
    """One column of :func:`cross_voice_all`: a system's MIDI files, or the real control."""
    cfg, systems, ref_pieces, heldout, kw = shared
    if column in systems:
        read = [midi_piece(p) for p in systems[column]]
        return cross_voice_scores([p for p, _ in read], ref_pieces, [t for _, t in read], **kw)
    s = cfg.sample
    rng = np.random.default_rng([s.seed, CROSS_VOICE_CONTROL_STREAM])
    pieces, tpbs, _ = song_excerpts(heldout, s.beats, rng)
    if pieces:
        return cross_voice_scores(pieces, ref_pieces, tpbs, **kw)
    return {"skipped": f"no {cfg.evaluate.heldout} song lasts sample.beats={s.beats:g} beats"}


def _cell(d: dict, metric: str) -> str:
    if "skipped" in d:
        return "skipped"
    value = d.get(metric)
    if value is None:
        return "n/a"
    lo, hi = d.get(f"{metric}_ci_low"), d.get(f"{metric}_ci_high")
    ci = f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else ""
    return f"{value:.3f}{ci}"


def cross_voice_markdown(scores: dict[str, dict], ci_level: float, n_boot: int) -> str:
    """One table, rows metrics, columns systems, cells ``value [low, high]``."""
    cols = list(scores)
    lines = [
        f"## Cross-voice metrics per system: mean (or pooled KL) [{ci_level:.0%} percentile-bootstrap CI, "
        f"{n_boot} resamples]\n",
        "| metric | " + " | ".join(cols) + " |",
        "|:--|" + "--:|" * len(cols),
    ]
    for m in CROSS_VOICE_METRICS:
        lines.append(f"| {m} | " + " | ".join(_cell(scores[c], m) for c in cols) + " |")
    lines.append("| pieces | " + " | ".join(
        "0" if "skipped" in scores[c] else str(scores[c].get("cross_voice_pieces", 0)) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def joint_heldout(model: JointModel, vocab: FrameVocab, heldout: Split, unk_smoothing: float) -> dict:
    """Total held-out log-likelihood of the joint model on the held-out frames, and counts."""
    seqs = split_frames(heldout, model.frame_beats)
    ids = vocab.encode(seqs.codes)
    total = model.log_likelihood(ids, seqs.lengths, unk_smoothing) if len(ids) else math.nan
    return {
        "heldout_loglik_all_voices": total,
        "heldout_frames": int(len(ids)),
        "heldout_unknown_symbols": int((ids == UNK_ID).sum()),
        "heldout_unknown_fraction": float((ids == UNK_ID).mean()) if len(ids) else math.nan,
    }


def per_voice_total(loglik_by_voice: Mapping[str, Mapping]) -> tuple[float, list[str]]:
    """Sum of the per-voice held-out totals (per-token mean x tokens) and the voices in it.

    A voice without a held-out score (skipped, or no held-out tokens) is left out and the
    list says so; the figure then covers fewer voices than the joint model's.
    """
    total, voices = 0.0, []
    for voice, ll in loglik_by_voice.items():
        per_token, n = ll.get("heldout_loglik_per_token"), ll.get("heldout_tokens")
        if per_token is None or not n:
            continue
        total += float(per_token) * int(n)
        voices.append(voice)
    return total, voices


def per_beat_entry(total: float, beats: float, voices: list[str], **extra) -> dict:
    finite = lambda x: None if x is None or not math.isfinite(x) else float(x)  # noqa: E731
    return {
        "heldout_loglik_per_beat_all_voices": finite(total / beats) if beats > 0 else None,
        "heldout_loglik_all_voices": finite(total),
        "heldout_beats": round(float(beats), 6),
        "voices": ",".join(voices),
        **{k: finite(v) if isinstance(v, float) else v for k, v in extra.items()},
    }


def loglik_all_markdown(entries: dict[str, dict], heldout: str) -> str:
    cols = list(entries)
    rows = ["heldout_loglik_per_beat_all_voices", "heldout_loglik_all_voices", "heldout_beats", "voices"]
    lines = [
        f"## Held-out ({heldout}) log-likelihood per beat, all voices (higher = better; rough: the joint model "
        "sees frames without velocity, the per-voice models tokens with velocity)\n",
        "| metric | " + " | ".join(cols) + " |",
        "|:--|" + "--:|" * len(cols),
    ]
    for r in rows:
        cells = []
        for c in cols:
            v = entries[c].get(r)
            cells.append("n/a" if v is None else (f"{v:.1f}" if r == "heldout_beats" else f"{v:.4f}" if isinstance(v, float) else str(v)))
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


__all__ = [
    "cross_voice_all", "cross_voice_markdown", "joint_heldout", "per_voice_total", "per_beat_entry",
    "loglik_all_markdown", "total_beats", "CROSS_VOICE_METRICS",
]
