"""Notes <-> (pitch, duration bin, velocity bin) tokens, and the vocabulary that numbers them.

A token is three small integers: the MIDI pitch (0 for a rest), the index of the nearest
duration bin, and the quantized velocity value (0 for a rest). Durations are quantized in
beats, i.e. relative to each file's own ``ticks_per_beat``, so files of any resolution
share one vocabulary; at NES-MDB's 22050 ticks per beat this is exactly the notebook's
rule of snapping ticks to ``TPB * bins``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from neshmm import atomic

UNK_ID = 0  # id reserved for tokens absent from the training vocabulary
TOKEN_FIELDS = ("pitch", "duration_bin", "velocity")


@dataclass(frozen=True)
class Quantizer:
    """Duration bins (beats) and velocity bins, as configured."""

    duration_bins: tuple[float, ...]
    velocity_edges: tuple[int, ...]
    velocity_values: tuple[int, ...]

    def durations(self, ticks: np.ndarray, ticks_per_beat: int) -> np.ndarray:
        """Index of the nearest bin; ties go to the first bin, as the notebook's argmin."""
        bins_ticks = ticks_per_beat * np.asarray(self.duration_bins, dtype=np.float64)
        diff = np.abs(np.asarray(ticks, dtype=np.float64)[:, None] - bins_ticks[None, :])
        return np.argmin(diff, axis=1).astype(np.int64)

    def velocities(self, velocity: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(np.asarray(self.velocity_edges), velocity, side="right")
        return np.asarray(self.velocity_values, dtype=np.int64)[idx]

    def representative_velocities(self, values: np.ndarray) -> np.ndarray:
        """A MIDI velocity inside each quantized value's range (its midpoint).

        Writing the quantized value itself (the notebook's choice) is not stable: value 8
        stands for velocities 12-15 but would be re-read as 6. The midpoint re-quantizes to
        the same value, so tokenize(detokenize(tokens)) == tokens.
        """
        edges = np.asarray(self.velocity_edges, dtype=np.int64)
        idx = np.searchsorted(np.asarray(self.velocity_values), values)
        lo = np.concatenate([[0], edges])[idx]
        hi = np.concatenate([edges - 1, [edges[-1]]])[idx] if len(edges) else lo
        return (lo + hi) // 2

    def beats(self, duration_bin: np.ndarray) -> np.ndarray:
        return np.asarray(self.duration_bins, dtype=np.float64)[duration_bin]


def tokenize_notes(notes: np.ndarray, ticks_per_beat: int, q: Quantizer) -> np.ndarray:
    """Tokens of one voice: ``(n, 3)`` int64 rows (pitch, duration_bin, velocity).

    Notes are taken in start order; a gap between the current time and a note's start
    becomes a rest token first; the current time then moves to that note's end, so an
    overlap is not a rest (the notebook's rules, vectorized).
    """
    notes = np.asarray(notes, dtype=np.int64).reshape(-1, 4)
    if len(notes) == 0:
        return np.zeros((0, 3), dtype=np.int64)
    notes = notes[np.argsort(notes[:, 0], kind="stable")]
    start, end, pitch, velocity = notes.T
    prev_end = np.concatenate([[0], end[:-1]])
    gap = start - prev_end
    note_tokens = np.stack(
        [pitch, q.durations(end - start, ticks_per_beat), q.velocities(velocity)], axis=1
    )
    has_rest = gap > 0
    rest_tokens = np.zeros((len(notes), 3), dtype=np.int64)
    rest_tokens[has_rest, 1] = q.durations(gap[has_rest], ticks_per_beat)
    # Interleave (rest_i, note_i) and keep only the rests that exist.
    both = np.stack([rest_tokens, note_tokens], axis=1).reshape(-1, 3)
    keep = np.stack([has_rest, np.ones(len(notes), dtype=bool)], axis=1).reshape(-1)
    return both[keep]


def detokenize(tokens: np.ndarray, ticks_per_beat: int, q: Quantizer) -> np.ndarray:
    """Notes ``(n, 4)`` (start, end, pitch, velocity) from tokens; rests advance time."""
    tokens = np.asarray(tokens, dtype=np.int64).reshape(-1, 3)
    lengths = np.rint(q.beats(tokens[:, 1]) * ticks_per_beat).astype(np.int64)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    is_note = tokens[:, 2] > 0
    velocity = q.representative_velocities(tokens[is_note, 2])
    return np.stack([starts[is_note], ends[is_note], tokens[is_note, 0], velocity], axis=1)


@dataclass
class Vocab:
    """Sorted distinct training tokens; id 0 is ``<unk>``, known tokens are 1..V."""

    tokens: np.ndarray  # (V, 3) sorted lexicographically

    @classmethod
    def build(cls, tokens: np.ndarray) -> "Vocab":
        tokens = np.asarray(tokens, dtype=np.int64).reshape(-1, 3)
        return cls(np.unique(tokens, axis=0))

    @property
    def size(self) -> int:
        """Number of symbols a model must cover, ``<unk>`` included."""
        return len(self.tokens) + 1

    def _keys(self, tokens: np.ndarray) -> np.ndarray:
        t = np.asarray(tokens, dtype=np.int64).reshape(-1, 3)
        return (t[:, 0] << 40) | (t[:, 1] << 20) | t[:, 2]

    def encode(self, tokens: np.ndarray) -> np.ndarray:
        """Ids of tokens; tokens not in the vocabulary become UNK_ID (never dropped)."""
        keys = self._keys(self.tokens)
        query = self._keys(tokens)
        if len(keys) == 0:
            return np.zeros(len(query), dtype=np.int64)
        pos = np.clip(np.searchsorted(keys, query), 0, len(keys) - 1)
        return np.where(keys[pos] == query, pos + 1, UNK_ID).astype(np.int64)

    def decode(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        if (ids <= UNK_ID).any() or (ids > len(self.tokens)).any():
            raise ValueError("decode() got <unk> or an id outside the vocabulary")
        return self.tokens[ids - 1]

    def to_json(self, **meta) -> dict:
        return {"unk_id": UNK_ID, "fields": list(TOKEN_FIELDS), "tokens": self.tokens.tolist(), **meta}

    def save(self, path: str | Path, **meta) -> None:
        atomic.write_json(path, self.to_json(**meta))

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        obj = json.loads(Path(path).read_text())
        return cls(np.asarray(obj["tokens"], dtype=np.int64).reshape(-1, 3))


def quantizer_from_config(cfg) -> Quantizer:
    return Quantizer(
        duration_bins=tuple(float(b) for b in cfg.duration_bins),
        velocity_edges=tuple(int(e) for e in cfg.velocity_edges),
        velocity_values=tuple(int(v) for v in cfg.velocity_values),
    )


def concat_sequences(seqs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate sequences into (values, lengths), hmmlearn's layout."""
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    if not seqs:
        return np.zeros((0, 3), dtype=np.int64), lengths
    return np.concatenate(seqs), lengths
