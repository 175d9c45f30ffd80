"""An honest price for held-out tokens the training data never showed (``<unk>``, id 0).

The old policy mixes every output distribution with the uniform distribution (weight
``unk_smoothing`` = 1e-6). That has two faults: the cost of an unknown token,
``log(1e-6 / n_symbols)``, is a constant someone chose rather than an estimate, and the
mixing also moves the probabilities of *known* tokens (by up to 0.1 nats/token measured on
NES-MDB), so the known-token score depends on a knob that has nothing to do with them.

The policy here: estimate from the training counts how likely the next token is one never
seen (``p_unk``), give ``<unk>`` exactly that probability in every output distribution, and
scale the known tokens by ``1 - p_unk``. Their probabilities *given that the token is
known* are then exactly the model's, and every token's probability factorises as
``P(known or not) * P(token | known, context)``. The total log-likelihood therefore splits
exactly into a model-independent part (``n_unk log p_unk + n_known log(1 - p_unk)``, the
same for every model sharing the vocabulary) and the known-token log-likelihood, which is
what actually compares models (:func:`decompose`).

Estimator (:func:`unk_probability`): Good-Turing's missing mass with *files* as the unit
(``"file_good_turing"``, the default): the share of training tokens whose type occurs in
one training file only. A held-out song comes from another game, and the tokens it brings
that training lacks are those only one song uses; token-level Good-Turing (N1/N) misses a
rare token a song uses twice. Measured on NES-MDB p1 (python -m benchmarks.evaluation_ci),
estimate from the training files vs the valid split's actual unknown rate:

=========================  ==========  ===========  ===========  ============
training files             actual      file GT      GT N1/N      Witten-Bell
=========================  ==========  ===========  ===========  ============
540 (a quarter of half)    0.54%       0.51%        0.16%        1.24%
2159 (the training half)   0.05%       0.10%        0.03%        0.38%
=========================  ==========  ===========  ===========  ============

so ``"good_turing"`` (N1/N) and ``"witten_bell"`` (T/(N+T)) are offered for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neshmm.data.tokens import UNK_ID
from neshmm.errors import ConfigError, DataError
from neshmm.models.base import with_unknown  # noqa: F401 - the policy, defined with the models that apply it

from neshmm.config import UNK_METHODS as METHODS  # noqa: E402 - the schema owns the choices it validates


def type_counts(ids) -> np.ndarray:
    """Token count per known id (``<unk>`` and ids never seen dropped), the estimators' input."""
    ids = np.asarray(ids, dtype=np.int64).ravel()
    counts = np.bincount(ids[ids != UNK_ID]) if len(ids) else np.zeros(0, dtype=np.int64)
    return counts[counts > 0]


def good_turing(counts) -> float:
    """Missing mass N1 / N: the share of training tokens whose type was seen only once."""
    counts = _counts(counts)
    return float((counts == 1).sum() / counts.sum())


def witten_bell(counts) -> float:
    """T / (N + T): each type was "new" once, so new types arrived T times in N + T events."""
    counts = _counts(counts)
    return float(len(counts) / (counts.sum() + len(counts)))


def file_good_turing(ids, lengths) -> float:
    """Good-Turing with files as the unit: the share of training tokens whose type occurs
    in exactly one training file.

    Why: a held-out song comes from another game; the tokens it brings that training lacks
    are those only one song uses (an odd pitch, a rare velocity), which token-level N1
    counts only if the song used them once.
    """
    ids = np.asarray(ids, dtype=np.int64).ravel()
    lengths = np.asarray(lengths, dtype=np.int64).ravel()
    if lengths.sum() != len(ids):
        raise ValueError(f"lengths sum to {lengths.sum()} but there are {len(ids)} ids")
    known = ids != UNK_ID
    if not known.any():
        raise DataError("<unk> estimate: no known training token; the training split is empty")
    file_of = np.repeat(np.arange(len(lengths)), lengths)
    # Distinct (type, file) pairs as one int64 key each: np.unique(axis=0) on the pairs gave
    # the same set but sorted structured rows, 0.4 s per NES-MDB voice instead of 0.03 s.
    n_files = max(len(lengths), 1)
    pairs = np.unique(ids[known] * n_files + file_of[known])
    files_per_type = np.bincount(pairs // n_files)
    single = files_per_type[ids[known]] == 1
    return float(single.sum() / known.sum())


def unk_probability(ids, lengths, method: str = "file_good_turing") -> float:
    """``p_unk`` estimated from the training ids of one voice (the vocabulary's own data)."""
    if method == "good_turing":
        return good_turing(type_counts(ids))
    if method == "witten_bell":
        return witten_bell(type_counts(ids))
    if method == "file_good_turing":
        return file_good_turing(ids, lengths)
    raise ConfigError(f"evaluate.unk_method={method!r}: must be one of {', '.join(METHODS)}")


def _counts(counts) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.int64).ravel()
    if (counts < 0).any():
        raise ValueError("type counts must be >= 0")
    counts = counts[counts > 0]
    if counts.sum() == 0:
        raise DataError("<unk> estimate: no known training token; the training split is empty")
    return counts


@dataclass(frozen=True)
class LoglikParts:
    """A total log-likelihood under :func:`with_unknown`, split into its two factors."""

    total: float
    n_known: int
    n_unknown: int
    p_unk: float

    @property
    def unknown_part(self) -> float:
        """``n_unknown log p_unk + n_known log(1 - p_unk)``: the same for every model."""
        return self.n_unknown * np.log(self.p_unk) + self.n_known * np.log1p(-self.p_unk)

    @property
    def known_loglik(self) -> float:
        """Sum over known tokens of log P(token | known, context): what compares models."""
        return self.total - self.unknown_part

    @property
    def known_loglik_per_token(self) -> float:
        return self.known_loglik / self.n_known if self.n_known else float("nan")

    @property
    def unknown_rate(self) -> float:
        n = self.n_known + self.n_unknown
        return self.n_unknown / n if n else float("nan")

    def to_json(self) -> dict:
        return {
            "loglik": float(self.total),
            "known_loglik_per_known_token": float(self.known_loglik_per_token),
            "unknown_tokens": int(self.n_unknown),
            "unknown_rate": float(self.unknown_rate),
            "p_unk": float(self.p_unk),
        }


def decompose(total_loglik: float, ids, p_unk: float) -> LoglikParts:
    """Split a total scored with :func:`with_unknown` applied to every output distribution.

    Exact for any model (HMM, Markov chain, n-gram) that applies the policy to *every*
    distribution it scores with: each token then has probability ``p_unk`` if unknown and
    ``(1 - p_unk) * P(token | known, context)`` if known, whatever the context.
    """
    ids = np.asarray(ids, dtype=np.int64).ravel()
    n_unk = int((ids == UNK_ID).sum())
    return LoglikParts(float(total_loglik), len(ids) - n_unk, n_unk, float(p_unk))
