"""Evaluation metrics: histogram KLs, MGEval distance-distribution scores, likelihood helpers.

Every function here is pure (arrays in, numbers out) so the evaluate stage owns all I/O
and these numbers can be unit-tested on hand-sized inputs.

A corpus for one voice is a list of per-file token arrays, each ``(n, 3)`` int64 rows
``(pitch, duration_bin, velocity)`` as made by :mod:`neshmm.data.tokens`. A token is a note
when its velocity is positive and a rest otherwise; this is the same test
:func:`neshmm.tokens.detokenize` uses, so the metrics count exactly the notes that would
be rendered.
"""

from __future__ import annotations

import math
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Sequence

import numpy as np

N_PITCHES = 128  # MIDI pitch range; also bounds velocities, which are MIDI values too
N_PITCH_CLASSES = 12
MAX_INTERVAL = 24  # intervals beyond two octaves are rare leaps; pooling them keeps bins few
N_INTERVALS = 2 * MAX_INTERVAL + 1

HISTOGRAM_FEATURES: tuple[str, ...] = (
    "pitch",
    "duration",
    "velocity",
    "pitch_class",
    "interval",
    "rest_ratio",
)

MGEVAL_FEATURES: tuple[str, ...] = (
    "pitch_count",
    "pitch_range",
    "mean_pitch_interval",
    "mean_ioi",
    "note_count",
    "note_density",
    "pitch_class_hist",
    "note_length_hist",
)

DEFAULT_MAX_PAIRS = 10_000
DEFAULT_N_GRID = 1024
_MAX_GRID = 16_384  # bounds KDE evaluation cost when one bandwidth is tiny
_TAIL_BANDWIDTHS = 5.0  # grid margin: Gaussian mass beyond 5 sigma (~6e-7) is negligible
_FALLBACK_FRACTION = 0.01  # degenerate-vs-degenerate bandwidth, as a share of the data range


# ---------------------------------------------------------------------------------------
# Token helpers


def _as_tokens(tokens) -> np.ndarray:
    """Accept lists and empty arrays of any shape, as tokens.py does, but refuse garbage."""
    arr = np.asarray(tokens, dtype=np.int64)
    if arr.size % 3 != 0 or (arr.ndim == 2 and arr.shape[1] != 3 and arr.size > 0):
        raise ValueError(f"tokens must have shape (n, 3), got {arr.shape}")
    return arr.reshape(-1, 3)


def _note_mask(tokens: np.ndarray) -> np.ndarray:
    return tokens[:, 2] > 0


def _concat_tokens(tokens_list: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """All token rows of a corpus in order, and the index of the file each row came from."""
    seqs = [_as_tokens(t) for t in tokens_list]
    if not seqs:
        return np.zeros((0, 3), dtype=np.int64), np.zeros(0, dtype=np.int64)
    lengths = np.fromiter((len(t) for t in seqs), dtype=np.int64, count=len(seqs))
    return np.concatenate(seqs), np.repeat(np.arange(len(seqs)), lengths)


def _concat_notes(tokens_list: Sequence[np.ndarray]) -> np.ndarray:
    """All note rows of a corpus; rests dropped because no histogram here counts them."""
    tokens, _ = _concat_tokens(tokens_list)
    return tokens[_note_mask(tokens)]


def _bincount(values: np.ndarray, n_bins: int, what: str) -> np.ndarray:
    """``np.bincount`` that fails loudly instead of silently growing past ``n_bins``."""
    values = np.asarray(values, dtype=np.int64)
    if values.size and (values.min() < 0 or values.max() >= n_bins):
        raise ValueError(
            f"{what} values must lie in [0, {n_bins - 1}], got [{values.min()}, {values.max()}]"
        )
    return np.bincount(values, minlength=n_bins).astype(np.int64)


# ---------------------------------------------------------------------------------------
# Histogram KL


def pitch_histogram(tokens_list: Sequence[np.ndarray]) -> np.ndarray:
    """Counts of note pitches over the whole corpus (128 MIDI bins, rests excluded).

    Rests are excluded because their pitch 0 is a placeholder, not a sounding pitch; summing
    over files (rather than averaging per-file histograms) is the notebook's definition.
    """
    return _bincount(_concat_notes(tokens_list)[:, 0], N_PITCHES, "pitch")


def histogram_kl(ref_counts, gen_counts, epsilon: float) -> float:
    """KL(ref || gen) of two count histograms after adding ``epsilon`` to every bin.

    The epsilon keeps the KL finite when the generated set misses a bin the reference uses
    (or is empty altogether: an all-zero histogram becomes uniform). The computation is the
    notebook's, step for step, so results stay comparable with its published numbers.
    With ``epsilon == 0`` a bin used by ref but not gen gives ``inf`` and an all-zero
    histogram gives ``nan``, which is the honest answer without smoothing.

    Zero bins (both histograms empty arrays): there are no categories in which the two
    distributions could differ, so the result is 0.0 rather than an error; this is what lets
    :func:`kl_all` compare velocities when neither set has a single note.
    """
    ref = np.asarray(ref_counts, dtype=np.float64)
    gen = np.asarray(gen_counts, dtype=np.float64)
    if ref.ndim != 1 or ref.shape != gen.shape:
        raise ValueError(f"histograms must be 1-D of equal length, got {ref.shape} and {gen.shape}")
    if not epsilon >= 0:
        raise ValueError(f"epsilon must be >= 0, got {epsilon}")
    if (ref < 0).any() or (gen < 0).any():
        raise ValueError("histogram counts must be non-negative")
    if ref.size == 0:
        return 0.0
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 is the documented NaN
        h_ref = ref + epsilon
        h_ref = h_ref / h_ref.sum()
        h_gen = gen + epsilon
        h_gen = h_gen / h_gen.sum()
        # scipy.stats.entropy(h_ref, h_gen)'s arithmetic (renormalise, rel_entr, sum), bit for
        # bit, without its argument-checking wrapper: that cost 0.4 ms a call, and evaluate
        # makes ~13,000 calls (bootstrap resamples), 5 of the demo run's 8 seconds.
        from scipy.special import rel_entr

        h_gen = h_gen / np.sum(h_gen, axis=0, keepdims=True)
        h_ref = h_ref / np.sum(h_ref, axis=0, keepdims=True)
        return float(np.sum(rel_entr(h_ref, h_gen), axis=0))


def kl_pitch(ref_tokens_list, gen_tokens_list, epsilon: float) -> float:
    """The notebook's headline metric: KL(reference pitches || generated pitches)."""
    return histogram_kl(pitch_histogram(ref_tokens_list), pitch_histogram(gen_tokens_list), epsilon)


def _intervals(tokens: np.ndarray) -> np.ndarray:
    """Melodic steps between successive notes of one file; a rest does not break the line."""
    pitches = tokens[_note_mask(tokens), 0]
    return np.clip(np.diff(pitches), -MAX_INTERVAL, MAX_INTERVAL)


def feature_histograms(tokens_list: Sequence[np.ndarray], n_duration_bins: int) -> dict[str, np.ndarray]:
    """Count histograms of one corpus, each with a fixed length so two corpora align.

    Keys (all int64 counts):
    ``pitch`` (128), ``duration`` (``n_duration_bins``, notes only: rest lengths are
    timing, not melody), ``velocity`` (128 MIDI values, notes only; :func:`kl_all` keeps only
    the values either set uses, because the quantized velocities are sparse and epsilon on
    never-used values would only dilute the comparison), ``pitch_class`` (12; noise-voice
    "pitches" are noise periods, the histogram is still well defined), ``interval`` (49 bins
    for steps -24..+24 semitones, larger leaps pooled at the ends; intervals never span two
    files), ``rest_ratio`` (2 bins: [notes, rests], so its KL compares rest proportions).
    """
    if n_duration_bins < 0:
        raise ValueError(f"n_duration_bins must be >= 0, got {n_duration_bins}")
    # One pass over the concatenated corpus (per-file loops cost seconds on NES-MDB);
    # the intervals are exactly _intervals() per file, concatenated in file order.
    tokens, file_of = _concat_tokens(tokens_list)
    mask = _note_mask(tokens)
    notes, note_file = tokens[mask], file_of[mask]
    same_file = note_file[1:] == note_file[:-1]
    intervals = np.clip(np.diff(notes[:, 0])[same_file], -MAX_INTERVAL, MAX_INTERVAL)
    n_tokens = len(tokens)
    n_notes = len(notes)
    return {
        "pitch": _bincount(notes[:, 0], N_PITCHES, "pitch"),
        "duration": _bincount(notes[:, 1], n_duration_bins, "duration_bin"),
        "velocity": _bincount(notes[:, 2], N_PITCHES, "velocity"),
        "pitch_class": _bincount(notes[:, 0] % N_PITCH_CLASSES, N_PITCH_CLASSES, "pitch class"),
        "interval": _bincount(intervals + MAX_INTERVAL, N_INTERVALS, "interval"),
        "rest_ratio": np.array([n_notes, n_tokens - n_notes], dtype=np.int64),
    }


def kl_all(
    ref_tokens_list,
    gen_tokens_list,
    n_duration_bins: int,
    epsilon: float,
    ref_histograms: dict[str, np.ndarray] | None = None,
) -> dict[str, float]:
    """KL(reference || generated) for every histogram feature, keyed ``kl_<feature>``.

    ``kl_pitch`` equals :func:`kl_pitch` exactly. An empty generated set (a voice the
    sampler produced no file for) gives finite values thanks to epsilon. If neither set has
    a note, ``kl_velocity`` has zero bins and is 0.0, like the other features, whose
    all-epsilon histograms are then both uniform. ``ref_histograms`` may pass the
    reference's :func:`feature_histograms` when one reference is compared with many sets
    (same result, computed once).
    """
    if ref_histograms is None:
        ref = feature_histograms(ref_tokens_list, n_duration_bins)
    else:  # precomputed by the caller, who compares one reference with many sets
        ref = dict(ref_histograms)
    gen = feature_histograms(gen_tokens_list, n_duration_bins)
    used = (ref["velocity"] + gen["velocity"]) > 0
    ref["velocity"], gen["velocity"] = ref["velocity"][used], gen["velocity"][used]
    return {f"kl_{name}": histogram_kl(ref[name], gen[name], epsilon) for name in HISTOGRAM_FEATURES}


# ---------------------------------------------------------------------------------------
# Spread and likelihood


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and population std (ddof=0) of a metric over repeated samples.

    ddof=0 so a single sample reports spread 0.0 instead of NaN. NaN inputs propagate on
    purpose: a sample whose metric is undefined should not silently vanish from the average.
    """
    arr = np.asarray(list(values), dtype=np.float64)
    if arr.size == 0:
        raise ValueError("mean_std() needs at least one value")
    return float(arr.mean()), float(arr.std(ddof=0))


def _check_n_tokens(n_tokens: int) -> None:
    if not n_tokens > 0:
        raise ValueError(f"n_tokens must be > 0, got {n_tokens}")


def per_token(total_loglik: float, n_tokens: int) -> float:
    """Mean log-likelihood per token, so files and splits of different length compare."""
    _check_n_tokens(n_tokens)
    return float(total_loglik) / n_tokens


def perplexity(total_loglik: float, n_tokens: int) -> float:
    """``exp(-total_loglik / n_tokens)``: the effective number of equally likely next tokens.

    Returns ``inf`` rather than raising when the exponent overflows (a model that gives
    held-out tokens near-zero probability), since that is the correct limit.
    """
    _check_n_tokens(n_tokens)
    with np.errstate(over="ignore"):
        return float(np.exp(-float(total_loglik) / n_tokens))


# ---------------------------------------------------------------------------------------
# MGEval (Yang & Lerch 2018)


def sequence_features(tokens, duration_bins: Sequence[float]) -> dict[str, np.ndarray]:
    """MGEval-style descriptors of one file, each a 1-D float vector.

    A descriptor that does not exist for this file (e.g. a pitch range without notes, an
    inter-onset interval with fewer than two notes) is NaN, so the file is left out of that
    feature's distances instead of being counted as a misleading zero. The histograms are
    normalized, as in MGEval, so long files are not far from short ones merely by length.
    Onsets are token-sequence time: each token (rest or note) advances time by its
    duration, which is how :func:`neshmm.tokens.detokenize` places notes.
    """
    t = _as_tokens(tokens)
    bins = np.asarray(duration_bins, dtype=np.float64)
    if t.size and (t[:, 1].min() < 0 or t[:, 1].max() >= len(bins)):
        raise ValueError(f"duration_bin values must lie in [0, {len(bins) - 1}]")
    beats = bins[t[:, 1]]
    onsets = np.cumsum(beats) - beats
    mask = _note_mask(t)
    pitches = t[mask, 0].astype(np.float64)
    n = len(pitches)
    nan = np.nan
    total_beats = float(beats.sum())

    def hist(values: np.ndarray, n_bins: int) -> np.ndarray:
        if n == 0:
            return np.full(n_bins, nan)
        return np.bincount(values, minlength=n_bins)[:n_bins] / n

    return {
        "pitch_count": np.array([len(np.unique(pitches))], dtype=np.float64),
        "pitch_range": np.array([np.ptp(pitches) if n else nan]),
        "mean_pitch_interval": np.array([np.abs(np.diff(pitches)).mean() if n >= 2 else nan]),
        "mean_ioi": np.array([np.diff(onsets[mask]).mean() if n >= 2 else nan]),
        "note_count": np.array([float(n)]),
        "note_density": np.array([n / total_beats if total_beats > 0 else nan]),
        "pitch_class_hist": hist(t[mask, 0] % N_PITCH_CLASSES, N_PITCH_CLASSES),
        "note_length_hist": hist(t[mask, 1], len(bins)),
    }


def _feature_matrix(tokens_list, duration_bins, names) -> dict[str, np.ndarray]:
    per_seq = [sequence_features(t, duration_bins) for t in tokens_list]
    out = {}
    for name in names:
        dim = N_PITCH_CLASSES if name == "pitch_class_hist" else (
            len(duration_bins) if name == "note_length_hist" else 1
        )
        rows = [f[name] for f in per_seq]
        mat = np.stack(rows) if rows else np.zeros((0, dim))
        out[name] = mat[np.isfinite(mat).all(axis=1)]
    return out


def _intra_pairs(n: int, max_pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs i < j (self pairs excluded), all of them or ``max_pairs`` drawn without
    replacement; unranking a drawn pair number avoids materializing n^2/2 pairs."""
    total = n * (n - 1) // 2
    if total <= max_pairs:
        i, j = np.triu_indices(n, k=1)
        return i, j
    k = np.sort(rng.choice(total, size=max_pairs, replace=False))
    row_len = np.arange(n - 1, 0, -1, dtype=np.int64)  # row i pairs with i+1..n-1
    starts = np.concatenate([[0], np.cumsum(row_len)[:-1]])
    i = np.searchsorted(starts, k, side="right") - 1
    j = i + 1 + (k - starts[i])
    return i, j


def _inter_pairs(n_gen: int, n_ref: int, max_pairs: int, rng: np.random.Generator):
    total = n_gen * n_ref
    k = np.arange(total) if total <= max_pairs else np.sort(rng.choice(total, size=max_pairs, replace=False))
    return np.divmod(k, n_ref)


def _fit_density(sample: np.ndarray) -> float | None:
    """Bandwidth of the Scott's-rule Gaussian KDE, or None when the sample cannot define one.

    scipy's KDE needs at least two distinct values (its covariance must be invertible);
    a single value or a constant sample is returned as None and modelled by the caller as
    one Gaussian at the sample mean. The bandwidth is scipy's ``gaussian_kde``'s bit for
    bit, computed without importing scipy.stats (:mod:`neshmm.evaluation.kde_bandwidth`).
    """
    if len(sample) >= 2 and np.ptp(sample) > 0:
        from neshmm.evaluation.kde_bandwidth import scott_bandwidth

        try:
            h = scott_bandwidth(sample)
        except np.linalg.LinAlgError:
            return None
        if h > 0 and math.isfinite(h):
            return h
    return None


_KDE_BLOCK = 1 << 16  # grid points x distinct sample values per block: stays in cache


def _kde_logpdf(x: np.ndarray, sample: np.ndarray, h: float) -> np.ndarray:
    """``gaussian_kde(sample).logpdf(x)`` for 1-D data with bandwidth ``h``, computed faster.

    The same sum, ``log(1/n sum_j N(x; sample_j, h^2))``, but over the distinct sample values
    weighted by their counts (distances between integer features repeat a lot), as a
    max-shifted exp-sum in cache-sized blocks instead of scipy's pairwise ``logaddexp``. It
    agrees with scipy to rounding (~1e-12), far below the printed precision of any metric.
    """
    values, counts = np.unique(np.asarray(sample, dtype=np.float64), return_counts=True)
    log_counts = np.log(counts.astype(np.float64))
    scale = 1.0 / (h * math.sqrt(2.0))  # so that the exponent is -(scaled difference)^2
    xs = np.asarray(x, dtype=np.float64) * scale
    vs = values * scale
    out = np.empty(len(xs))
    step = max(1, _KDE_BLOCK // len(vs))
    buf = np.empty((min(step, len(xs)), len(vs)))
    for a in range(0, len(xs), step):
        xb = xs[a : a + step]
        z = buf[: len(xb)]
        np.subtract(xb[:, None], vs[None, :], out=z)
        np.multiply(z, z, out=z)
        np.subtract(log_counts, z, out=z)
        top = z.max(axis=1)
        z -= top[:, None]
        np.exp(z, out=z)
        out[a : a + step] = top + np.log(z.sum(axis=1))
    return out - math.log(len(sample) * h * math.sqrt(2 * math.pi))


def _normal_logpdf(x: np.ndarray, loc: float, h: float) -> np.ndarray:
    return -0.5 * ((x - loc) / h) ** 2 - math.log(h * math.sqrt(2 * math.pi))


def overlap_and_kl(intra: np.ndarray, inter: np.ndarray, n_grid: int = DEFAULT_N_GRID) -> tuple[float, float]:
    """Overlapping area and KL(intra || inter) of the KDEs of two distance samples.

    Both densities are evaluated on one shared grid (MGEval's reference code used two
    different grids for its KL, which makes the number meaningless) and renormalized on it,
    so identical samples give exactly OA = 1 and KL = 0, and the KL is a proper discrete KL
    (never negative). Log-densities are used throughout, so the KL stays finite even where a
    density underflows.

    Degenerate samples: an empty sample gives ``(nan, nan)`` (nothing to estimate). A
    single value or a constant sample becomes one Gaussian at its mean, borrowing the other
    sample's Scott bandwidth; if both are degenerate the bandwidth is 1% of the pooled range
    (two equal constants then give OA 1, KL 0; two different constants give OA ~ 0 and
    KL = 5000, i.e. "disjoint", a value set by the fallback rather than by the data).
    """
    intra = np.asarray(intra, dtype=np.float64).ravel()
    inter = np.asarray(inter, dtype=np.float64).ravel()
    if intra.size == 0 or inter.size == 0:
        return math.nan, math.nan
    fits = [_fit_density(s) for s in (intra, inter)]
    pooled = np.concatenate([intra, inter])
    lo, hi = float(pooled.min()), float(pooled.max())
    known = [f for f in fits if f is not None]
    fallback_h = min(known) if known else (_FALLBACK_FRACTION * (hi - lo) if hi > lo else 1.0)
    hs = [f if f is not None else fallback_h for f in fits]
    lo -= _TAIL_BANDWIDTHS * max(hs)
    hi += _TAIL_BANDWIDTHS * max(hs)
    # At least 4 grid points per narrowest bandwidth, within [n_grid, _MAX_GRID].
    n_points = int(np.clip(math.ceil(4 * (hi - lo) / min(hs)) + 1, n_grid, max(n_grid, _MAX_GRID)))
    grid = np.linspace(lo, hi, n_points)

    logs = []
    for fit, sample, h in zip(fits, (intra, inter), hs):
        logd = _kde_logpdf(grid, sample, h) if fit is not None else _normal_logpdf(grid, float(sample.mean()), h)
        # Renormalize on the grid: trapezoid weights times densities then sum to one.
        from scipy.special import logsumexp

        logd = logd - logsumexp(logd, b=_trapezoid_weights(grid))
        logs.append(logd)
    log_p, log_q = logs
    w = _trapezoid_weights(grid)
    p, q = np.exp(log_p), np.exp(log_q)
    oa = float(np.sum(w * np.minimum(p, q)))
    kl = float(np.sum(w * p * (log_p - log_q)))
    return min(max(oa, 0.0), 1.0), max(kl, 0.0)


def _trapezoid_weights(grid: np.ndarray) -> np.ndarray:
    w = np.full(len(grid), grid[1] - grid[0])
    w[0] = w[-1] = (grid[1] - grid[0]) / 2
    return w


def mgeval(
    ref_tokens_list: Sequence[np.ndarray],
    gen_tokens_list: Sequence[np.ndarray],
    duration_bins: Sequence[float],
    features: Sequence[str] | None = None,
    seed: int = 0,
    max_pairs: int = DEFAULT_MAX_PAIRS,
    n_grid: int = DEFAULT_N_GRID,
) -> dict[str, float]:
    """Yang & Lerch (2018) comparison: does a generated file sit among reference files the
    way reference files sit among each other?

    Per feature, the intra-set distances (Euclidean, between distinct reference files) and
    inter-set distances (each generated file to each reference file) are smoothed with a
    Gaussian KDE; ``oa_<feature>`` is the overlapping area of the two densities (1 = the
    generated set is indistinguishable by this feature) and ``kl_<feature>_intra_inter`` is
    KL(intra || inter) in nats (0 = indistinguishable).

    With thousands of reference files the pair counts grow quadratically, so each
    distribution uses at most ``max_pairs`` pairs, drawn without replacement from a
    generator seeded by ``seed`` and the feature's name: the same inputs always give the
    same numbers, whichever subset of ``features`` is requested.

    Files for which a feature is undefined (see :func:`sequence_features`) are left out of
    that feature. Results are NaN when a distribution has no pair at all: fewer than two
    usable reference files, or no usable generated file (e.g. a voice missing from the
    generated set). Other degenerate cases follow :func:`overlap_and_kl`.
    """
    names = MGEVAL_FEATURES if features is None else tuple(features)
    unknown = sorted(set(names) - set(MGEVAL_FEATURES))
    if unknown:
        raise ValueError(f"unknown mgeval features {unknown}; choose from {list(MGEVAL_FEATURES)}")
    if max_pairs < 1:
        raise ValueError(f"max_pairs must be >= 1, got {max_pairs}")
    if n_grid < 2:
        raise ValueError(f"n_grid must be >= 2, got {n_grid}")
    ref = _feature_matrix(ref_tokens_list, duration_bins, names)
    gen = _feature_matrix(gen_tokens_list, duration_bins, names)

    def one(name: str) -> tuple[float, float]:
        r, g = ref[name], gen[name]
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        i, j = _intra_pairs(len(r), max_pairs, rng)
        intra = np.linalg.norm(r[i] - r[j], axis=1)
        a, b = _inter_pairs(len(g), len(r), max_pairs, rng)
        inter = np.linalg.norm(g[a] - r[b], axis=1)
        return overlap_and_kl(intra, inter, n_grid)

    # Features are independent (each has its own seeded pair draw), so they run in threads;
    # the KDE sums are numpy work that releases the GIL. Same numbers for any thread count.
    workers = max(1, min(len(names), os.cpu_count() or 1))
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(one, names))
    else:
        results = [one(name) for name in names]
    out: dict[str, float] = {}
    for name, (oa, kl) in zip(names, results):
        out[f"oa_{name}"] = oa
        out[f"kl_{name}_intra_inter"] = kl
    return out
