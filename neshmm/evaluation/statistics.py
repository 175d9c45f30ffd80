"""Bootstrap confidence intervals for the numbers the evaluate stage reports.

Why a bootstrap over *files* (sequences) and not over tokens: tokens within one song are
strongly dependent (a song repeats its own motifs), so a token-level resample pretends to
have far more independent evidence than there is. Measured on NES-MDB valid, the file-level
interval around held-out log-likelihood is about ±0.2 nats/token; a token-level one would
be an order of magnitude narrower and wrong.

Every statistic here is a ratio of sums (total log-likelihood over total tokens or beats),
so resampling is a matrix product: a ``(n_resamples, n_files)`` matrix of how often each
file was drawn times the per-file numerators and denominators. The draw is
``numpy.random.default_rng(seed).integers(0, n, size=(n_resamples, n))`` (one row per
resample), documented so a test can redo it by hand. Intervals are percentile intervals
(``numpy.quantile``, linear interpolation), centred on the statistic of the full data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from neshmm.errors import ConfigError, DataError


@dataclass(frozen=True)
class Interval:
    """A point estimate and its confidence interval (``level`` is e.g. 0.95)."""

    value: float
    low: float
    high: float
    level: float = 0.95

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0

    def excludes(self, x: float) -> bool:
        return not (self.low <= x <= self.high)

    def format(self, fmt: str = ".4f") -> str:
        """``"value [low, high]"``, the form tables print."""
        return f"{self.value:{fmt}} [{self.low:{fmt}}, {self.high:{fmt}}]"

    def to_json(self) -> dict:
        """Plain floats (None for NaN/inf, which JSON cannot hold), for DVC metrics files."""

        def clean(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {"value": clean(self.value), "low": clean(self.low), "high": clean(self.high), "level": self.level}

    @classmethod
    def from_json(cls, obj: dict) -> "Interval":
        def num(x) -> float:
            return float("nan") if x is None else float(x)

        return cls(num(obj["value"]), num(obj["low"]), num(obj["high"]), float(obj.get("level", 0.95)))


@dataclass(frozen=True)
class PairedComparison:
    """Model minus baseline on the same files; ``significant`` = the CI excludes 0."""

    model: Interval
    baseline: Interval
    difference: Interval

    @property
    def significant(self) -> bool:
        return self.difference.excludes(0.0)

    def to_json(self) -> dict:
        return {
            "model": self.model.to_json(),
            "baseline": self.baseline.to_json(),
            "difference": self.difference.to_json(),
            "significant": self.significant,
        }


def check_bootstrap_args(n_resamples: int, level: float) -> None:
    """Raise ConfigError naming the config key (evaluate.bootstrap.*) and the allowed range."""
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise ConfigError(f"evaluate.bootstrap.n_resamples={n_resamples}: must be a whole number >= 1 (1000 is usual)")
    if not 0.0 < level < 1.0:
        raise ConfigError(f"evaluate.bootstrap.level={level}: must be strictly between 0 and 1 (e.g. 0.95)")


def resample_counts(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """``(n_resamples, n)`` int matrix: how often each of ``n`` items is drawn per resample.

    Built from ``default_rng(seed).integers(0, n, size=(n_resamples, n))`` so the same
    seed gives the same resamples whatever statistic is computed from them (this is what
    makes the paired bootstrap paired).
    """
    if n < 1:
        raise DataError("bootstrap: no files (or pieces) to resample; nothing was scored")
    idx = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    flat = (np.arange(n_resamples, dtype=np.int64)[:, None] * n + idx).ravel()
    return np.bincount(flat, minlength=n_resamples * n).reshape(n_resamples, n)


def _interval(value: float, replicates: np.ndarray, level: float) -> Interval:
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(replicates, [alpha, 1.0 - alpha])
    return Interval(float(value), float(low), float(high), float(level))


def _per_file(numerators, denominators) -> tuple[np.ndarray, np.ndarray]:
    num = np.asarray(numerators, dtype=np.float64).ravel()
    den = np.asarray(denominators, dtype=np.float64).ravel()
    if num.shape != den.shape:
        raise ValueError(f"one numerator per denominator needed, got {num.shape} and {den.shape}")
    if len(den) and not (den > 0).all():
        raise DataError("bootstrap: every file needs a positive length (tokens or beats); drop empty files first")
    return num, den


def ratio_ci(
    numerators, denominators, n_resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> Interval:
    """CI of ``sum(numerators) / sum(denominators)``, resampling files with replacement.

    E.g. numerators = per-file held-out log-likelihood, denominators = per-file tokens
    (log-lik per token) or beats (log-lik per beat). The ratio of sums, not the mean of
    per-file ratios, because that is the number reported (long files weigh more).
    """
    check_bootstrap_args(n_resamples, level)
    num, den = _per_file(numerators, denominators)
    w = resample_counts(len(num), int(n_resamples), seed)
    return _interval(num.sum() / den.sum(), (w @ num) / (w @ den), level)


def paired_ratio_ci(
    model_numerators,
    baseline_numerators,
    denominators,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> PairedComparison:
    """Model vs baseline scored on the same files: CI of the difference of their ratios.

    Paired (one resample of files used for both) because both models meet the same easy
    and hard songs; most of the file-to-file spread cancels in the difference, so a gap
    far smaller than either model's own interval can still be significant.
    """
    check_bootstrap_args(n_resamples, level)
    m, den = _per_file(model_numerators, denominators)
    b, _ = _per_file(baseline_numerators, denominators)
    w = resample_counts(len(den), int(n_resamples), seed)
    d = w @ den
    rm, rb = (w @ m) / d, (w @ b) / d
    total = den.sum()
    return PairedComparison(
        model=_interval(m.sum() / total, rm, level),
        baseline=_interval(b.sum() / total, rb, level),
        difference=_interval((m.sum() - b.sum()) / total, rm - rb, level),
    )


def mean_ci(values, n_resamples: int = 1000, seed: int = 0, level: float = 0.95) -> Interval:
    """CI of the mean of a per-piece metric (e.g. KL of one generated piece), over pieces."""
    values = np.asarray(values, dtype=np.float64).ravel()
    return ratio_ci(values, np.ones_like(values), n_resamples, seed, level)


def pooled_ci(
    piece_counts,
    statistic: Callable[[np.ndarray], np.ndarray],
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """CI of a statistic of the *pooled* histogram of pieces, resampling pieces.

    ``piece_counts`` is ``(n_pieces, n_bins)``; ``statistic`` maps a ``(m, n_bins)`` stack
    of pooled count histograms to ``m`` values (vectorised), e.g. :func:`kl_rows` against
    the reference. Used for ``kl_pitch_pooled``, whose pieces are pooled before the KL.
    """
    check_bootstrap_args(n_resamples, level)
    counts = np.asarray(piece_counts, dtype=np.float64)
    if counts.ndim != 2:
        raise ValueError(f"piece_counts must be (n_pieces, n_bins), got shape {counts.shape}")
    w = resample_counts(len(counts), int(n_resamples), seed)
    value = float(statistic(counts.sum(axis=0, keepdims=True))[0])
    return _interval(value, statistic(w @ counts), level)


def kl_rows(ref_counts, epsilon: float) -> Callable[[np.ndarray], np.ndarray]:
    """KL(ref || each row) after adding ``epsilon`` to every bin, as ``metrics.histogram_kl``."""
    ref = np.asarray(ref_counts, dtype=np.float64) + epsilon
    p = ref / ref.sum()

    def kl(rows: np.ndarray) -> np.ndarray:
        q = np.asarray(rows, dtype=np.float64) + epsilon
        q = q / q.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore"):
            terms = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - np.log(q)), 0.0)
        return terms.sum(axis=1)

    return kl
