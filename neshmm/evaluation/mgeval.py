"""MGEval (Yang & Lerch 2018) scores in two modes: ``toolbox`` and ``corrected``.

Why two: ``toolbox`` reproduces the reference implementation (``mgeval/utils.py`` and the
procedure of its ``demo.ipynb``) so our numbers can sit next to published MGEval tables;
``corrected`` is the statistically sound version of the same comparison. Features come
from :mod:`neshmm.evaluation.mgeval_features`, where each mode's definitions are listed.

Per feature, with the reference set as the toolbox's "set1" and the generated set as
"set2":

``toolbox``
    * intra-set distances: exhaustive leave-one-out over the reference pieces, each piece
      against every other one (``c_dist``: Euclidean norm), so every pair appears twice,
      ``n_ref * (n_ref - 1)`` values;
    * inter-set distances: each reference piece against every generated piece,
      ``n_ref * n_gen`` values (the notebook requires equal set sizes; any sizes work here);
    * ``oa``: ``utils.overlap_area``, ``scipy.integrate.quad`` of ``min`` of the two
      ``scipy.stats.gaussian_kde`` densities over ``[min, max]`` of both samples together;
    * ``kl``: ``utils.kl_dist``, ``scipy.stats.entropy`` of the intra density sampled on
      ``linspace(min(intra), max(intra), 1000)`` against the inter density sampled on
      ``linspace(min(inter), max(inter), 1000)``.

    Followed although they look like bugs: the KL compares densities at *different* x
    (two grids), so it is not a divergence between the two distributions (it can be ~0 for
    clearly different ones); the overlap ignores the KDE mass outside the data range, so
    identical samples give OA < 1; duplicated intra pairs change Scott's bandwidth. Any
    piece on which the toolbox would fail (a NaN feature, see the features module), a
    constant distance sample (singular KDE), or bar features of unequal length raise
    :class:`~neshmm.errors.DataError`. No randomness: ``seed`` is unused.

``corrected``
    * corrected features; a piece whose feature is undefined is left out of that feature;
    * intra-set distances over distinct pairs ``i < j`` only, inter-set over all pairs, each
      capped at ``max_pairs`` drawn with ``seed`` (same seed, same result);
    * ``oa`` and ``kl`` = KL(intra || inter) from
      :func:`neshmm.evaluation.metrics.overlap_and_kl`: both densities on one shared grid
      that covers their tails, renormalized, so identical samples give OA 1 and KL 0.

Config: the lead's ``evaluate.mgeval_mode`` (``toolbox`` | ``corrected``) is checked by
:func:`check_mode`.
"""

from __future__ import annotations

import math
import warnings
import zlib
from typing import Sequence

import numpy as np

from neshmm.errors import ConfigError, DataError
from neshmm.evaluation import metrics
from neshmm.evaluation.mgeval_features import (
    BEATS_PER_BAR,
    TOOLBOX_FEATURES,
    check_notes,
    corrected_features,
    toolbox_features,
)

from neshmm.config import MGEVAL_MODES  # noqa: E402 - the schema owns the choices it validates
DEFAULT_MGEVAL_MODE = "toolbox"
KL_NUM_SAMPLE = 1000  # utils.kl_dist's default grid size


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`MGEVAL_MODES`, else a one-line ConfigError."""
    if mode not in MGEVAL_MODES:
        raise ConfigError(f"evaluate.mgeval_mode must be one of {list(MGEVAL_MODES)}, got {mode!r}")
    return mode


def check_features(features: Sequence[str] | None) -> tuple[str, ...]:
    names = TOOLBOX_FEATURES if features is None else tuple(features)
    unknown = sorted(set(names) - set(TOOLBOX_FEATURES))
    if unknown or not names:
        raise ConfigError(f"unknown or no MGEval features {unknown}; choose from {list(TOOLBOX_FEATURES)}")
    return names


# ---------------------------------------------------------------------------------------
# The toolbox's utils, from their definitions


def c_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``utils.c_dist`` (mode 'None'): Euclidean distance of ``a`` to each row of ``b``."""
    return np.linalg.norm(np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)[None, :], axis=1)


def _kde(sample: np.ndarray, what: str):
    from scipy import stats  # imported when used: the default (corrected) mode never needs it

    try:
        return stats.gaussian_kde(sample)
    except (np.linalg.LinAlgError, ValueError) as exc:
        raise DataError(f"toolbox MGEval: cannot fit a KDE to the {what} distances ({len(sample)} values, "
                        f"{len(np.unique(sample))} distinct): {exc}") from None


def _scalar_pdf(kde):
    """The 1-D density of a fitted ``gaussian_kde`` at one point, as a plain function.

    Same sum as ``kde(x)`` (agrees to ~1e-15): ``quad`` calls its integrand ~1000 times
    per feature, and scipy's per-call overhead (a Cholesky solve) made that minutes.
    """
    data = kde.dataset[0].astype(np.float64)
    weights = kde.weights.astype(np.float64)
    var = float(kde.covariance[0, 0])
    norm = 1.0 / math.sqrt(2.0 * math.pi * var)

    def pdf(x: float) -> float:
        return float(norm * np.dot(weights, np.exp(-0.5 * (x - data) ** 2 / var)))

    return pdf


def toolbox_overlap_area(a: np.ndarray, b: np.ndarray) -> float:
    """``utils.overlap_area``: quad of min(KDE_a, KDE_b) over [min(a, b), max(a, b)].

    ``quad`` runs with the toolbox's defaults (its limit of 50 subintervals is often hit
    on these kinked integrands; scipy then warns, and the toolbox kept the value too).
    """
    pa, pb = _scalar_pdf(_kde(a, "intra-set")), _scalar_pdf(_kde(b, "inter-set"))
    lo, hi = min(np.min(a), np.min(b)), max(np.max(a), np.max(b))
    from scipy import integrate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        return float(integrate.quad(lambda x: min(pa(x), pb(x)), lo, hi)[0])


def toolbox_kl(a: np.ndarray, b: np.ndarray, num_sample: int = KL_NUM_SAMPLE) -> float:
    """``utils.kl_dist``: entropy(KDE_a on a's range grid, KDE_b on b's range grid)."""
    pa, pb = _kde(a, "intra-set"), _kde(b, "inter-set")
    xa = np.linspace(np.min(a), np.max(a), num_sample)
    xb = np.linspace(np.min(b), np.max(b), num_sample)
    from scipy import stats

    return float(stats.entropy(pa(xa), pb(xb)))


def toolbox_distances(ref: np.ndarray, gen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The demo notebook's leave-one-out intra (ref) and inter (ref vs gen) distances."""
    n = len(ref)
    intra = np.concatenate([c_dist(ref[i], np.delete(ref, i, axis=0)) for i in range(n)]) if n else np.zeros(0)
    inter = np.concatenate([c_dist(ref[i], gen) for i in range(n)]) if n else np.zeros(0)
    return intra, inter


# ---------------------------------------------------------------------------------------
# Scores


def _stack(rows: list[np.ndarray], name: str) -> np.ndarray:
    lengths = {len(r) for r in rows}
    if len(lengths) > 1:
        raise DataError(f"toolbox MGEval: {name} has {sorted(lengths)} values in different pieces "
                        f"(their bar counts differ); pass num_bar")
    return np.stack(rows)


def _toolbox_scores(ref_pieces, gen_pieces, tpb, names, num_bar) -> dict[str, dict[str, float]]:
    sets = []
    for label, pieces in (("reference", ref_pieces), ("generated", gen_pieces)):
        feats = [toolbox_features(p, tpb, num_bar, names) for p in pieces]
        for i, f in enumerate(feats):
            bad = [k for k, v in f.items() if not np.isfinite(v).all()]
            if bad:
                raise DataError(f"toolbox MGEval: {label} piece {i} has no value for {bad} (the toolbox fails there too; "
                                f"mode corrected leaves such pieces out)")
        sets.append(feats)
    out = {}
    for name in names:
        ref = _stack([f[name] for f in sets[0]], name)
        gen = _stack([f[name] for f in sets[1]], name)
        if ref.shape[1:] != gen.shape[1:]:
            raise DataError(f"toolbox MGEval: {name} lengths differ between the sets; pass num_bar")
        intra, inter = toolbox_distances(ref, gen)
        out[name] = {"oa": toolbox_overlap_area(intra, inter), "kl": toolbox_kl(intra, inter)}
    return out


def _corrected_scores(ref_pieces, gen_pieces, tpb, names, num_bar, seed, max_pairs) -> dict[str, dict[str, float]]:
    if num_bar is None:
        last = max((int(check_notes(p)[:, 1].max()) for p in [*ref_pieces, *gen_pieces] if len(p)), default=0)
        num_bar = max(1, math.ceil(last / (BEATS_PER_BAR * tpb)))
    mats = []
    for pieces in (ref_pieces, gen_pieces):
        feats = [corrected_features(p, tpb, num_bar, names) for p in pieces]
        m = {}
        for name in names:
            rows = [f[name] for f in feats]
            mat = np.stack(rows) if rows else np.zeros((0, 1))
            m[name] = mat[np.isfinite(mat).all(axis=1)]
        mats.append(m)
    out = {}
    for name in names:
        r, g = mats[0][name], mats[1][name]
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        i, j = metrics._intra_pairs(len(r), max_pairs, rng)
        a, b = metrics._inter_pairs(len(g), len(r), max_pairs, rng)
        intra = np.linalg.norm(r[i] - r[j], axis=1)
        inter = np.linalg.norm(g[a] - r[b], axis=1)
        oa, kl = metrics.overlap_and_kl(intra, inter)
        out[name] = {"oa": oa, "kl": kl}
    return out


def mgeval_scores(
    reference_pieces: Sequence[np.ndarray],
    generated_pieces: Sequence[np.ndarray],
    ticks_per_beat: int,
    mode: str = DEFAULT_MGEVAL_MODE,
    features: Sequence[str] | None = None,
    seed: int = 0,
    num_bar: int | None = None,
    max_pairs: int = metrics.DEFAULT_MAX_PAIRS,
) -> dict[str, dict[str, float]]:
    """``{feature: {"oa": overlap area, "kl": KL(intra || inter)}}`` in the chosen mode.

    Pieces are notes arrays ``(start, end, pitch, velocity)`` in ticks at
    ``ticks_per_beat`` (tempo 120, 4/4). ``num_bar`` fixes the bar count of the bar
    features; None means the toolbox's per-piece rounding (``toolbox``, which then needs
    pieces of equal rounded length) or enough bars for the longest piece (``corrected``).
    ``seed`` and ``max_pairs`` only matter in ``corrected`` mode, which samples pairs.
    """
    check_mode(mode)
    names = check_features(features)
    if not (isinstance(ticks_per_beat, (int, np.integer)) and ticks_per_beat > 0):
        raise ConfigError(f"ticks_per_beat must be a positive integer, got {ticks_per_beat!r}")
    if num_bar is not None and num_bar < 1:
        raise ConfigError(f"num_bar must be >= 1 or None, got {num_bar}")
    if max_pairs < 1:
        raise ConfigError(f"max_pairs must be >= 1, got {max_pairs}")
    if mode == "toolbox":
        if len(reference_pieces) < 2 or len(generated_pieces) < 1:
            raise DataError(f"toolbox MGEval needs >= 2 reference and >= 1 generated pieces, "
                            f"got {len(reference_pieces)} and {len(generated_pieces)}")
        return _toolbox_scores(reference_pieces, generated_pieces, int(ticks_per_beat), names, num_bar)
    return _corrected_scores(reference_pieces, generated_pieces, int(ticks_per_beat), names, num_bar, seed, max_pairs)
