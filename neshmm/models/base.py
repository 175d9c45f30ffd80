"""What every token model offers, and the safe (pickle-free) on-disk format they share.

Conventions follow hmmlearn's: ``__init__`` stores hyperparameters only; what ``fit``
learns is held in attributes ending in ``_`` (listed in ``fitted_arrays``) and checked by
:meth:`TokenModel.check_fitted` before scoring, sampling or saving, so an unfitted model
fails in one line instead of scoring with placeholder numbers.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Iterator

import numpy as np

from neshmm import atomic
from neshmm.errors import DataError, NotFittedError
from neshmm.data.tokens import UNK_ID


MAX_DROPPED_RESTS = 10_000  # consecutive rest-after-rest draws before a voice falls silent


class TokenModel(ABC):
    """A generative model of token-id sequences over ``n_symbols`` ids (id 0 = ``<unk>``)."""

    name: str = ""
    Config: type  # the model's config schema (a dataclass with a ``name`` field)
    fitted_arrays: tuple[str, ...] = ()  # what fit() learns; saved without the trailing "_"
    label_param: str | None = None  # the hyperparameter that tells a family's models apart in titles

    def __init__(self, n_symbols: int):
        self.n_symbols = n_symbols
        # Worker processes or threads a model may use; 0 = one per core. Not a
        # hyperparameter: the fitted model is the same for any value, so it is not saved.
        self.n_jobs = 0
        # Deterministic facts about the fit (saved with the model); wall time is kept apart
        # in fit_seconds because it would make equal models differ byte for byte.
        self.fit_info: dict = {}
        self.fit_seconds: float = 0.0
        # Held-out tokens (neshmm.models.tuning.TuningData) a model may read in fit() to
        # choose a hyperparameter; set by the train step like n_jobs, never saved.
        self.tuning = None
        # Per fit (restart), the training log-likelihood after each EM iteration, for the
        # convergence plots; empty for closed-form fits. Deterministic, but not saved.
        self.fit_curves: list[list[float]] = []

    @classmethod
    def hyperparameters(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls.Config) if f.name != "name"]

    @classmethod
    def from_config(cls, cfg, n_symbols: int) -> "TokenModel":
        return cls(n_symbols, **{k: getattr(cfg, k) for k in cls.hyperparameters()})

    @classmethod
    def validate_config(cls, cfg, key: str) -> None:
        """Range checks a type cannot express, as ``neshmm.errors.require`` lines naming ``key``."""

    def config_dict(self) -> dict:
        return {"name": self.name, **{k: getattr(self, k) for k in self.hyperparameters()}}

    def data_problem(self, n_tokens: int, voice: str) -> str | None:
        """Why ``n_tokens`` training tokens cannot fit this model (``"<key>=<value>: ..."``), or None."""
        return None

    def memory_problem(self, n_tokens: int, voice: str, available: int) -> str | None:
        """Why fitting on ``n_tokens`` tokens would not fit in ``available`` bytes of memory
        (``"<key>=<value>: ... needs about X GiB ..."``), or None."""
        return None

    def check_fitted(self) -> None:
        missing = [a for a in self.fitted_arrays if getattr(self, a, None) is None]
        if missing:
            raise NotFittedError(
                f"{self.name} model is not fitted ({', '.join(missing)} unset): call fit() or load a trained model file"
            )

    @abstractmethod
    def fit(self, ids: np.ndarray, lengths: np.ndarray) -> "TokenModel": ...

    def log_likelihood(self, ids: np.ndarray, lengths: np.ndarray, p_unk: float, per_sequence: bool = False):
        """Natural-log likelihood of the sequences: the total, or one value per sequence.

        Policy for tokens never seen in training (``<unk>``, id 0): every distribution the
        model scores with gives ``<unk>`` the probability ``p_unk`` and known ids their own
        probabilities scaled by ``1 - p_unk`` (:func:`neshmm.evaluation.unknown.with_unknown`),
        so the cost of an unknown token is an estimate from the training data (the evaluate
        step's ``evaluate.unk_method``) and the relative probabilities of known tokens are
        exactly the model's. Per sequence, because the bootstrap resamples files.
        """
        self.check_fitted()
        ids = np.asarray(ids, dtype=np.int64).ravel()
        lengths = np.asarray(lengths, dtype=np.int64).ravel()
        if int(lengths.sum()) != len(ids):
            raise ValueError(f"lengths sum to {int(lengths.sum())} but there are {len(ids)} ids")
        if not 0.0 < p_unk < 1.0:
            raise ValueError(f"p_unk={p_unk!r}: must be in (0, 1)")
        per = np.zeros(len(lengths), dtype=np.float64)
        if len(ids):
            nonempty = lengths > 0
            per[nonempty] = self._sequence_log_likelihoods(ids, lengths[nonempty], p_unk)
        return per if per_sequence else float(per.sum())

    @abstractmethod
    def _sequence_log_likelihoods(self, ids: np.ndarray, lengths: np.ndarray, p_unk: float) -> np.ndarray:
        """Log-likelihood of each (non-empty) sequence of a fitted model, int64 ids."""

    @abstractmethod
    def _token_stream(self, rng: np.random.Generator) -> Iterator[int]:
        """An endless stream of sampled ids (never ``<unk>``)."""

    def arrays(self) -> dict[str, np.ndarray]:
        self.check_fitted()
        return {a.rstrip("_"): getattr(self, a) for a in self.fitted_arrays}

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of each fitted array (name without the trailing ``_``), as the
        hyperparameters and ``n_symbols`` imply; checked when a model file is loaded, with
        the values of these arrays checked to be probabilities (other arrays, such as an
        n-gram's count tables, only for presence)."""
        return {}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict) -> "TokenModel":
        """A fitted model from a file's arrays and header; a :class:`DataError` (one line,
        without the file name, which the caller adds) for anything that does not fit: a
        header without ``n_symbols`` or ``config``, a missing array, a wrong shape or an
        array that is not a probability table. Crafted or damaged files must not reach
        the sampler, where a wrong shape surfaced as an IndexError traceback."""
        cfg, n_symbols = meta.get("config"), meta.get("n_symbols")
        if not isinstance(cfg, dict) or isinstance(n_symbols, bool) or not isinstance(n_symbols, int) or n_symbols < 1:
            raise DataError("header lacks a 'config' mapping or a positive integer 'n_symbols'")
        try:
            model = cls(n_symbols, **{k: cfg[k] for k in cls.hyperparameters() if k in cfg})
            shapes = model.expected_shapes()
        except (TypeError, ValueError) as exc:
            raise DataError(f"header config {cfg} is not a valid {cls.name} configuration ({exc})") from None
        for a in cls.fitted_arrays:
            name = a.rstrip("_")
            if name not in arrays:
                raise DataError(f"lacks the fitted array {name!r}")
            x = arrays[name]
            if name in shapes and tuple(x.shape) != tuple(shapes[name]):
                raise DataError(f"array {name!r} has shape {tuple(x.shape)}, expected {tuple(shapes[name])} "
                                f"for n_symbols={n_symbols} and config {cfg}")
            if name in shapes:
                if x.dtype.kind != "f" or x.size == 0 or not np.isfinite(x).all() or (x < 0).any():
                    raise DataError(f"array {name!r} is not a table of finite non-negative probabilities")
                if not np.allclose(x.sum(axis=-1), 1.0, atol=1e-6):
                    raise DataError(f"array {name!r} has rows that do not sum to 1")
            setattr(model, a, x)
        fit = meta.get("fit", {})
        model.fit_info = fit if isinstance(fit, dict) else {}
        return model

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
        self.check_fitted()
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


def with_unknown(probs, p_unk: float) -> np.ndarray:
    """Scoring distribution(s): ``<unk>`` (column 0) gets ``p_unk``, known ids keep their
    relative probabilities, scaled to ``1 - p_unk``.

    ``probs`` is one distribution or a row-stochastic matrix over ids (last axis); the
    model's own mass on ``<unk>`` is discarded (a model never trained on ``<unk>`` has no
    opinion on it, only whatever smoothing left there). A row with no mass on known ids
    cannot be scored and raises.
    """
    if not 0.0 < p_unk < 1.0:
        raise ValueError(f"p_unk must be strictly between 0 and 1, got {p_unk}")
    p = np.array(probs, dtype=np.float64, copy=True)
    if p.shape[-1] < 2:
        raise ValueError("a distribution over ids needs <unk> and at least one known id")
    if (p < 0).any():
        raise ValueError("probabilities must be >= 0")
    known = p[..., 1:].sum(axis=-1, keepdims=True)
    if (known <= 0).any():
        raise ValueError("a distribution gives known tokens no mass; it cannot be rescaled")
    p[..., 1:] *= (1.0 - p_unk) / known
    p[..., UNK_ID] = p_unk
    return p


def sequence_sums(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per-sequence sums of per-token values (``lengths`` all > 0)."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return np.add.reduceat(values, starts) if len(values) else np.zeros(0)


def read_model_file(path: str | Path, registered: bool = True) -> tuple[dict, dict[str, np.ndarray]]:
    """Header and arrays of a model file; ``registered`` also checks that the header names a
    model of the registry (the joint model, not a per-voice token model, checks its own)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(bytes(arrays.pop("meta_json")).decode())
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable model file ({type(exc).__name__}: {exc}); rerun `dvc repro`") from None
    if not isinstance(meta, dict):
        raise DataError(f"{path}: model header is not a JSON object; rerun `dvc repro`")
    # Every reader (sample, evaluate, render) relies on these two header facts; a crafted
    # header must fail here in one line, never as a KeyError later.
    if registered:
        from neshmm.models import model_class

        model_class(meta.get("model"), error=DataError, where=f"{path}: header model")
    if meta.get("skipped") and not isinstance(meta.get("reason"), str):
        raise DataError(f"{path}: header of a skipped model lacks its 'reason'; rerun `dvc repro train`")
    return meta, arrays

