"""What every token model offers, and the safe (pickle-free) on-disk format they share."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Iterator

import numpy as np

from neshmm import atomic
from neshmm.errors import DataError
from neshmm.data.tokens import UNK_ID


MAX_DROPPED_RESTS = 10_000  # consecutive rest-after-rest draws before a voice falls silent


class TokenModel(ABC):
    """A generative model of token-id sequences over ``n_symbols`` ids (id 0 = ``<unk>``)."""

    name: str = ""

    def __init__(self, n_symbols: int):
        self.n_symbols = n_symbols
        # Deterministic facts about the fit (saved with the model); wall time is kept apart
        # in fit_seconds because it would make equal models differ byte for byte.
        self.fit_info: dict = {}
        self.fit_seconds: float = 0.0

    @classmethod
    @abstractmethod
    def from_config(cls, cfg, n_symbols: int) -> "TokenModel": ...

    @abstractmethod
    def fit(self, ids: np.ndarray, lengths: np.ndarray) -> "TokenModel": ...

    @abstractmethod
    def log_likelihood(self, ids: np.ndarray, lengths: np.ndarray, unk_smoothing: float) -> float:
        """Total natural-log likelihood of the sequences.

        Policy for tokens never seen in training (``<unk>``, or any id a state never
        emitted): every output distribution is mixed with the uniform distribution over all
        ``n_symbols`` ids with weight ``unk_smoothing``, so each such token costs a finite,
        documented amount instead of being dropped or giving -inf.
        """

    @abstractmethod
    def _token_stream(self, rng: np.random.Generator) -> Iterator[int]:
        """An endless stream of sampled ids (never ``<unk>``)."""

    @abstractmethod
    def arrays(self) -> dict[str, np.ndarray]: ...

    @classmethod
    @abstractmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict) -> "TokenModel": ...

    def config_dict(self) -> dict:
        return {}

    def sample(
        self,
        rng: np.random.Generator,
        beats_per_id: np.ndarray,
        beats: float,
        rest_ids: np.ndarray | None = None,
    ) -> np.ndarray:
        """Ids whose durations fill at most ``beats`` beats.

        Stops before the first token that would run past ``beats`` so every sampled token
        is a vocabulary token (a truncated note would not be); the voice is silent for the
        remainder, and all voices of a piece share the same end.

        ``rest_ids`` (a boolean mask over ids) marks rests. A rest drawn right after a
        rest is dropped: real token sequences never hold two rests in a row (a gap is
        one rest), and in a MIDI file two rests are one silence, which reads back as
        a single rest of the summed length, possibly a token outside the vocabulary.
        If a model emits nothing but rests for ``MAX_DROPPED_RESTS`` draws, the voice
        stays silent from there on.
        """
        out: list[int] = []
        total = 0.0
        after_rest, dropped = False, 0
        for token in self._token_stream(rng):
            is_rest = bool(rest_ids[token]) if rest_ids is not None else False
            if is_rest and after_rest:
                dropped += 1
                if dropped > MAX_DROPPED_RESTS:
                    break
                continue
            dropped = 0
            step = float(beats_per_id[token])
            if total + step > beats + 1e-9:
                break
            out.append(token)
            after_rest = is_rest
            total += step
            if total >= beats - 1e-9:
                break
        return np.asarray(out, dtype=np.int64)

    def save(self, path: str | Path, **meta) -> None:
        header = {
            "model": self.name,
            "n_symbols": self.n_symbols,
            "config": self.config_dict(),
            "fit": self.fit_info,
            **meta,
        }
        header_bytes = np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8)
        atomic.write_npz(path, meta_json=header_bytes, **self.arrays())


def _categorical(rng: np.random.Generator, cdf: np.ndarray) -> int:
    """Draw from a distribution given by its cumulative sums (one uniform per draw)."""
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(cdf) - 1))


def cdf_without_unk(probs: np.ndarray) -> np.ndarray:
    """Row-wise cumulative sums with ``<unk>`` given zero mass, for sampling."""
    p = np.array(probs, dtype=np.float64, copy=True)
    p[..., UNK_ID] = 0.0
    return np.cumsum(p, axis=-1)


def mix_uniform(probs: np.ndarray, weight: float) -> np.ndarray:
    return (1.0 - weight) * probs + weight / probs.shape[-1]


def read_model_file(path: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable model file ({exc}); rerun `dvc repro`") from None
    meta = json.loads(bytes(arrays.pop("meta_json")).decode())
    return meta, arrays


def load_model(path: str | Path) -> TokenModel:
    from neshmm.models import MODELS

    meta, arrays = read_model_file(path)
    if meta.get("skipped"):
        raise DataError(f"{path}: model was skipped at training ({meta.get('reason')})")
    return MODELS[meta["model"]].from_arrays(arrays, meta)
