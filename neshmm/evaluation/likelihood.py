"""Held-out log-likelihood per file, and the lengths that turn it into a rate.

Per file because the bootstrap (:mod:`neshmm.evaluation.statistics`) resamples files;
per beat and per second because a per-token rate cannot compare tokenizations: with
coarser duration bins the same music is fewer, more predictable tokens, and nats per token
improve although nothing was learned. Nats per beat of music are the same unit whatever
the bins (what the tokens *describe* still differs, see the report of issue 11).

Tempo: the tokens carry durations in beats only (``Quantizer.beats``); the MIDI reader
ignores tempo events. Every NES-MDB file has a single tempo event of 500000 us per beat,
i.e. 120 bpm (checked on all 4905 train and valid files; the dataset's README says the
same), so seconds = beats * 60 / 120. A corpus with other tempi would need the tempo kept
at parsing time; :data:`NESMDB_BPM` is the one place the assumption lives.
"""

from __future__ import annotations

import numpy as np

from neshmm.data.tokens import Quantizer

NESMDB_BPM = 120.0


def sequence_offsets(lengths) -> np.ndarray:
    lengths = np.asarray(lengths, dtype=np.int64).ravel()
    if (lengths < 0).any():
        raise ValueError("sequence lengths must be >= 0")
    return np.concatenate([[0], np.cumsum(lengths)])


def sequence_beats(tokens, lengths, q: Quantizer) -> np.ndarray:
    """Length of each sequence in beats: the summed durations of all its tokens, rests too.

    This is the music the likelihood covers: from the voice's start (time 0, a leading gap
    is a rest token) to the end of its last note; silence after the last note has no token
    and so is not counted.
    """
    tokens = np.asarray(tokens, dtype=np.int64).reshape(-1, 3)
    offsets = sequence_offsets(lengths)
    if offsets[-1] != len(tokens):
        raise ValueError(f"lengths sum to {offsets[-1]} but there are {len(tokens)} tokens")
    cum = np.concatenate([[0.0], np.cumsum(q.beats(tokens[:, 1]))])
    return cum[offsets[1:]] - cum[offsets[:-1]]


def beats_to_seconds(beats, bpm: float = NESMDB_BPM) -> np.ndarray:
    """Seconds at a constant tempo (NES-MDB: 120 bpm, see the module docstring)."""
    if not bpm > 0:
        raise ValueError(f"bpm must be > 0, got {bpm}")
    return np.asarray(beats, dtype=np.float64) * (60.0 / bpm)


def rates(loglik, tokens, lengths, q: Quantizer, bpm: float = NESMDB_BPM) -> dict[str, float]:
    """Total log-likelihood per token, per beat and per second (nats), from per-file values."""
    loglik = np.asarray(loglik, dtype=np.float64)
    beats = sequence_beats(tokens, lengths, q)
    n_tokens = int(np.sum(lengths))
    total = float(loglik.sum())
    return {
        "loglik_per_token": total / n_tokens if n_tokens else float("nan"),
        "loglik_per_beat": total / float(beats.sum()) if beats.sum() > 0 else float("nan"),
        "loglik_per_second": total / float(beats_to_seconds(beats, bpm).sum()) if beats.sum() > 0 else float("nan"),
    }
