"""Draw four-voice pieces from per-voice models, all voices spanning the same beats."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neshmm.data.midi_io import write_midi
from neshmm.models import TokenModel
from neshmm.data.tokens import Quantizer, Vocab, detokenize
from neshmm.data.voices import PROGRAMS, VOICES


@dataclass
class VoiceModel:
    model: TokenModel
    vocab: Vocab

    def beats_per_id(self, q: Quantizer) -> np.ndarray:
        """Duration in beats of each id; <unk> (never sampled) gets 0."""
        return np.concatenate([[0.0], q.beats(self.vocab.tokens[:, 1])])

    def rest_ids(self) -> np.ndarray:
        """True for the ids of rest tokens (velocity 0); <unk> is not a rest."""
        return np.concatenate([[False], self.vocab.tokens[:, 2] == 0])


def piece_rng(seed: int, role_index: int, piece: int, voice: str) -> np.random.Generator:
    """An independent stream per (seed, model role, piece, voice).

    Keyed by the voice's fixed NES index, not its position in ``voices``, so dropping a
    voice from the config leaves the others' samples unchanged.
    """
    return np.random.default_rng([seed, role_index, piece, VOICES.index(voice)])


def sample_piece(
    voice_models: dict[str, VoiceModel],
    q: Quantizer,
    beats: float,
    seed: int,
    role_index: int,
    piece: int,
) -> dict[str, np.ndarray]:
    """Tokens per voice (n, 3), each voice filling at most ``beats`` beats."""
    out = {}
    for voice, vm in voice_models.items():
        rng = piece_rng(seed, role_index, piece, voice)
        ids = vm.model.sample(rng, vm.beats_per_id(q), beats, rest_ids=vm.rest_ids())
        out[voice] = vm.vocab.decode(ids) if len(ids) else np.zeros((0, 3), dtype=np.int64)
    return out


def write_piece(path: Path, tokens: dict[str, np.ndarray], q: Quantizer, ticks_per_beat: int, beats: float) -> None:
    notes = {v: detokenize(t, ticks_per_beat, q) for v, t in tokens.items()}
    write_midi(path, notes, ticks_per_beat, PROGRAMS, end_tick=int(round(beats * ticks_per_beat)))
