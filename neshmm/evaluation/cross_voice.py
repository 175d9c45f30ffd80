"""Metrics of voices that play together: harmony, key agreement, rhythmic coincidence.

Every other metric of the project looks at one voice at a time, so four voices sampled
independently ("four radios") can score as well as real music. These functions look at
the voices of one piece jointly. They are pure: a piece is a dict voice -> ``(n, 4)`` int
array of ``(start, end, pitch, velocity)`` in ticks (the layout of
:mod:`neshmm.data.midi_io` and :class:`neshmm.data.corpus.Split`), plus its ticks per beat.

Choices, and why:

- **Harmony** uses the 12 pitch-class intervals ``(upper - lower) mod 12`` between two
  notes sounding at once, not the folded 0..6 interval classes: folding merges the fifth
  (7) with the fourth (5) and thirds with sixths, and whether the fourth is heard as
  consonant depends on which note is below. Weights are the time (in beats) the two
  notes sound together, so a held chord counts more than a grace note. Only p1, p2 and tr
  take part: the noise voice's "pitch" is a noise period, not a pitch.
- **Consonant** intervals are unison/octave (0), minor and major thirds (3, 4), the fifth
  (7) and minor and major sixths (8, 9). The **fourth** (5) follows common-practice
  counterpoint: consonant between the pulses, dissonant when its lower note is the
  triangle's, the NES's bass voice (a fourth over the bass is the unstable 6/4 sound).
- **Key agreement** correlates the voices' duration-weighted pitch-class profiles (see
  :func:`key_agreement` for what it cannot show).
- **Onset coincidence** counts, for a pair of voices, the onsets of either voice that have
  an onset of the other within a tolerance (default 1/16 beat = 1378 ticks at NES-MDB's
  22050 ticks per beat, about 31 ms or two NES frames, near the threshold at which two
  attacks are heard as one).
- The rhythm KL compares the distribution of **co-onset patterns**: onsets of all four
  voices are grouped into attacks (onsets within the tolerance of the attack's first one),
  and each attack is labelled by the set of voices that strike in it (15 patterns). Onset
  positions within the beat were rejected: NES-MDB's "beat" is a fixed half second
  (22050 ticks at 120 bpm, from the APU's sample clock), not the music's beat, so real
  songs' onsets are spread over the whole beat and the histogram says little.

Undefined values (a piece without two sounding pitched voices has no harmony, a pair with
a silent voice no coincidence) are NaN per piece and left out of that metric's mean; a
metric that no piece defines is ``None`` in :func:`cross_voice_scores`.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from neshmm.data.voices import VOICES
from neshmm.errors import ConfigError, DataError
from neshmm.evaluation.metrics import histogram_kl

PITCHED: tuple[str, ...] = ("p1", "p2", "tr")
HARMONY_PAIRS: tuple[tuple[str, str], ...] = (("p1", "p2"), ("p1", "tr"), ("p2", "tr"))
RHYTHM_PAIRS: tuple[tuple[str, str], ...] = (("p1", "tr"), ("p1", "no"), ("tr", "no"))
BASS = "tr"
N_INTERVALS = 12
CONSONANT = frozenset({0, 3, 4, 7, 8, 9})
FOURTH = 5
N_PATTERNS = 2 ** len(VOICES) - 1  # non-empty subsets of the four voices
DEFAULT_TOLERANCE_BEATS = 1.0 / 16.0
DEFAULT_N_BOOT = 1000
DEFAULT_CI_LEVEL = 0.95

Piece = Mapping[str, np.ndarray]


# ---------------------------------------------------------------------------------------
# Per piece


def _voice(piece: Piece, voice: str) -> np.ndarray:
    """Notes of one voice sorted by start; a missing voice is an empty array."""
    notes = piece.get(voice)
    if notes is None:
        return np.zeros((0, 4), dtype=np.int64)
    arr = np.asarray(notes)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.int64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise DataError(f"voice {voice}: notes must be (n, 4) rows start, end, pitch, velocity; got shape {arr.shape}")
    arr = arr.astype(np.int64)
    if (arr[:, 1] < arr[:, 0]).any():
        raise DataError(f"voice {voice}: a note ends before it starts")
    return arr[np.argsort(arr[:, 0], kind="stable")]


def overlapping_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index pairs (i into ``a``, j into ``b``) of notes that sound together, and for how many ticks.

    Both arrays sorted by start. For each note of ``b`` the candidates in ``a`` are those
    starting before it ends and not all ended before it starts (a running maximum of
    ``a``'s ends is monotone, so both bounds are binary searches); for monophonic voices
    this is a handful of candidates per note, so the join is linear in practice.
    """
    if len(a) == 0 or len(b) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    reach = np.maximum.accumulate(a[:, 1])
    lo = np.searchsorted(reach, b[:, 0], side="right")
    hi = np.searchsorted(a[:, 0], b[:, 1], side="left")
    counts = np.maximum(hi - lo, 0)
    j = np.repeat(np.arange(len(b)), counts)
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    i = np.repeat(lo, counts) + np.arange(counts.sum()) - offsets
    overlap = np.minimum(a[i, 1], b[j, 1]) - np.maximum(a[i, 0], b[j, 0])
    keep = overlap > 0
    return i[keep], j[keep], overlap[keep]


def harmony(piece: Piece, ticks_per_beat: int) -> tuple[np.ndarray, float]:
    """Beats of sounding-together per interval ``(upper - lower) mod 12``, and the consonant beats.

    Summed over the pairs p1-p2, p1-tr, p2-tr; a moment where all three sound counts three
    intervals. See the module doc for the consonance rule (the fourth over the triangle).
    """
    hist = np.zeros(N_INTERVALS)
    consonant = 0.0
    for va, vb in HARMONY_PAIRS:
        a, b = _voice(piece, va), _voice(piece, vb)
        i, j, ticks = overlapping_pairs(a, b)
        if len(ticks) == 0:
            continue
        beats = ticks / ticks_per_beat
        pa, pb = a[i, 2], b[j, 2]
        interval = np.abs(pa - pb) % N_INTERVALS
        hist += np.bincount(interval, weights=beats, minlength=N_INTERVALS)
        ok = np.isin(interval, list(CONSONANT))
        lower_is_bass = np.where(pa < pb, va == BASS, np.where(pb < pa, vb == BASS, False))
        ok |= (interval == FOURTH) & ~lower_is_bass
        consonant += float(beats[ok].sum())
    return hist, consonant


def pitch_class_profile(notes: np.ndarray) -> np.ndarray:
    """Sounding time per pitch class (in ticks): the profile a key finder would start from."""
    if len(notes) == 0:
        return np.zeros(12)
    return np.bincount(notes[:, 2] % 12, weights=(notes[:, 1] - notes[:, 0]).astype(np.float64), minlength=12)


def key_agreement(piece: Piece) -> float:
    """Mean Pearson correlation of the pitch-class profiles of p1, p2, tr, over pairs that both sound.

    1 when the voices use the pitch classes in the same proportions (parallel octaves),
    about 0 for unrelated keys. NaN when fewer than two voices have a profile that varies
    (silent, or every pitch class equally long).

    What it cannot show: it ignores time, so voices that agree on the key overall but
    play different chords at each moment (or modulate at different times) still agree;
    songs of one game often share a key, so voices swapped between such songs agree too;
    and real voices do not agree fully, since the bass dwells on roots and fifths while
    the melody favours thirds and passing tones, so 1 is not the target.
    """
    profiles = [pitch_class_profile(_voice(piece, v)) for v in PITCHED]
    usable = [p for p in profiles if p.sum() > 0 and p.std() > 0]
    if len(usable) < 2:
        return math.nan
    corr = np.corrcoef(np.stack(usable))
    upper = corr[np.triu_indices(len(usable), k=1)]
    return float(upper.mean())


def onsets(notes: np.ndarray) -> np.ndarray:
    """Distinct onset ticks of one voice, sorted."""
    return np.unique(notes[:, 0]) if len(notes) else np.zeros(0, dtype=np.int64)


def _matched(x: np.ndarray, y: np.ndarray, tolerance: float) -> int:
    """How many of the sorted ticks ``x`` have one of the sorted ticks ``y`` within ``tolerance``."""
    if len(x) == 0 or len(y) == 0:
        return 0
    k = np.searchsorted(y, x)
    left = np.abs(x - y[np.clip(k - 1, 0, len(y) - 1)])
    right = np.abs(y[np.clip(k, 0, len(y) - 1)] - x)
    return int((np.minimum(left, right) <= tolerance).sum())


def onset_coincidence(a: np.ndarray, b: np.ndarray, tolerance_ticks: float) -> float:
    """Share of the onsets of both voices that have an onset of the other voice within the tolerance.

    Symmetric (both voices' onsets are counted, so a busy voice cannot hide a sparse
    one's misses); NaN if either voice has no onset.
    """
    oa, ob = onsets(a), onsets(b)
    if len(oa) == 0 or len(ob) == 0:
        return math.nan
    return (_matched(oa, ob, tolerance_ticks) + _matched(ob, oa, tolerance_ticks)) / (len(oa) + len(ob))


def co_onset_patterns(piece: Piece, tolerance_ticks: float) -> np.ndarray:
    """Counts of attacks by the set of voices striking in them (15 bins, bit k = ``VOICES[k]``; bin = mask - 1).

    An attack opens at the earliest onset not yet grouped and takes every onset within
    ``tolerance_ticks`` of it (greedy, so a steady run of onsets closer than the tolerance
    is cut into attacks rather than merged into one).
    """
    times, bits = [], []
    for k, v in enumerate(VOICES):
        o = onsets(_voice(piece, v))
        times.append(o)
        bits.append(np.full(len(o), 1 << k, dtype=np.int64))
    t = np.concatenate(times)
    counts = np.zeros(N_PATTERNS, dtype=np.int64)
    if len(t) == 0:
        return counts
    order = np.argsort(t, kind="stable")
    t, m = t[order], np.concatenate(bits)[order]
    mask = 0
    start = t[0]
    for time, bit in zip(t.tolist(), m.tolist()):
        if time - start > tolerance_ticks:
            counts[mask - 1] += 1
            mask, start = 0, time
        mask |= bit
    counts[mask - 1] += 1
    return counts


@dataclass
class PieceFeatures:
    """What one piece contributes: per-piece values (NaN = undefined) and pooled counts."""

    interval_beats: np.ndarray
    consonance: float
    key_agreement: float
    coincidence: dict[str, float]
    co_onset: np.ndarray
    together_beats: float = field(default=0.0)


def piece_features(piece: Piece, ticks_per_beat: int, tolerance_beats: float = DEFAULT_TOLERANCE_BEATS) -> PieceFeatures:
    """Every cross-voice number of one piece (see the module doc for definitions)."""
    if not ticks_per_beat > 0:
        raise DataError(f"ticks_per_beat must be > 0, got {ticks_per_beat}")
    tol = tolerance_beats * ticks_per_beat
    hist, consonant = harmony(piece, ticks_per_beat)
    total = float(hist.sum())
    return PieceFeatures(
        interval_beats=hist,
        consonance=consonant / total if total > 0 else math.nan,
        key_agreement=key_agreement(piece),
        coincidence={
            f"{a}_{b}": onset_coincidence(_voice(piece, a), _voice(piece, b), tol) for a, b in RHYTHM_PAIRS
        },
        co_onset=co_onset_patterns(piece, tol),
        together_beats=total,
    )


# ---------------------------------------------------------------------------------------
# Over a set of pieces


def bootstrap_ci(values: np.ndarray, stat, n_boot: int, level: float, rng: np.random.Generator) -> tuple[float, float]:
    """Percentile bootstrap CI of ``stat(indices)`` over resampled indices of ``values``' rows.

    A local stand-in for ``neshmm.evaluation.statistics`` (being written elsewhere): the
    lead can swap it for that module's helper; only this function would change.
    """
    n = len(values)
    stats = np.array([stat(rng.integers(0, n, size=n)) for _ in range(n_boot)])
    stats = stats[np.isfinite(stats)]
    if len(stats) == 0:
        return math.nan, math.nan
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _tpb_list(ticks_per_beat: int | Sequence[int], n: int, what: str) -> list[int]:
    if np.ndim(ticks_per_beat) == 0:
        return [int(ticks_per_beat)] * n
    out = [int(t) for t in ticks_per_beat]
    if len(out) != n:
        raise DataError(f"{what}: {len(out)} ticks_per_beat values for {n} pieces")
    return out


def check_settings(tolerance_beats: float, n_boot: int, ci_level: float, epsilon: float) -> None:
    """One-line ConfigErrors naming the keys the lead will add (``evaluate.cross_voice.*``)."""
    if not (0.0 <= tolerance_beats <= 0.5):
        raise ConfigError(f"evaluate.cross_voice.onset_tolerance_beats must be in [0, 0.5], got {tolerance_beats}")
    if not (isinstance(n_boot, (int, np.integer)) and n_boot >= 1):
        raise ConfigError(f"evaluate.cross_voice.n_boot must be an integer >= 1, got {n_boot!r}")
    if not (0.0 < ci_level < 1.0):
        raise ConfigError(f"evaluate.cross_voice.ci_level must be in (0, 1), got {ci_level}")
    if not epsilon >= 0:
        raise ConfigError(f"evaluate.epsilon must be >= 0, got {epsilon}")


def features_of(pieces: Sequence[Piece], ticks_per_beat, tolerance_beats: float, what: str = "pieces") -> list[PieceFeatures]:
    tpbs = _tpb_list(ticks_per_beat, len(pieces), what)
    return [piece_features(p, t, tolerance_beats) for p, t in zip(pieces, tpbs)]


def pooled(features: Sequence[PieceFeatures]) -> dict[str, np.ndarray]:
    """The pooled distributions the KLs compare: interval beats (12) and co-onset counts (15)."""
    return {
        "harmony_interval": np.sum([f.interval_beats for f in features], axis=0) if features else np.zeros(N_INTERVALS),
        "co_onset": np.sum([f.co_onset for f in features], axis=0) if features else np.zeros(N_PATTERNS),
    }


def _rng(seed: int, name: str) -> np.random.Generator:
    """One stream per metric, so adding a metric never shifts another's CI."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def cross_voice_scores(
    pieces: Sequence[Piece],
    reference_pieces: Sequence[Piece],
    ticks_per_beat: int | Sequence[int],
    reference_ticks_per_beat: int | Sequence[int] | None = None,
    tolerance_beats: float = DEFAULT_TOLERANCE_BEATS,
    epsilon: float = 1e-8,
    n_boot: int = DEFAULT_N_BOOT,
    ci_level: float = DEFAULT_CI_LEVEL,
    seed: int = 0,
    reference_features: Sequence[PieceFeatures] | None = None,
) -> dict[str, float | int | None]:
    """Cross-voice metrics of ``pieces``, flat and JSON-ready (None = undefined).

    Per-piece metrics (mean over the pieces that define them, percentile-bootstrap CI over
    those pieces, and their count): ``harmony_consonance``, ``key_agreement``,
    ``onset_coincidence_p1_tr``, ``onset_coincidence_p1_no``, ``onset_coincidence_tr_no``.
    Pooled KLs, KL(reference || pieces) with the project's epsilon convention
    (:func:`neshmm.evaluation.metrics.histogram_kl`), their CI resampling both sets:
    ``kl_harmony_interval`` (12 intervals, weighted by beats sounding together) and
    ``kl_co_onset`` (15 co-onset patterns). Each metric ``m`` comes with ``m_ci_low``,
    ``m_ci_high`` and ``m_n`` (pieces it is defined on; for KLs, pieces with any mass).
    A KL's interval is the spread of the KL between resampled sets; the KL of a finite
    sample is biased upward, so when the two sets are alike the interval can lie above the
    point estimate: compare two conditions' intervals with each other, not with 0.
    ``reference_ticks_per_beat`` defaults to ``ticks_per_beat``. The same ``seed`` gives
    the same CIs. ``reference_features``: :func:`features_of` the reference pieces, when
    the caller scores several sets against one reference (they are then not recomputed;
    on NES-MDB that was 9 of evaluate's 21 seconds).
    """
    check_settings(tolerance_beats, n_boot, ci_level, epsilon)
    ref_tpb = ticks_per_beat if reference_ticks_per_beat is None else reference_ticks_per_beat
    gen = features_of(pieces, ticks_per_beat, tolerance_beats, "pieces")
    if reference_features is None:
        ref = features_of(reference_pieces, ref_tpb, tolerance_beats, "reference_pieces")
    else:
        ref = list(reference_features)
        if len(ref) != len(reference_pieces):
            raise DataError(f"reference_features: {len(ref)} for {len(reference_pieces)} reference pieces")
    out: dict[str, float | int | None] = {"cross_voice_pieces": len(gen)}

    per_piece = {
        "harmony_consonance": [f.consonance for f in gen],
        "key_agreement": [f.key_agreement for f in gen],
        **{f"onset_coincidence_{k}": [f.coincidence[k] for f in gen] for k in ("p1_tr", "p1_no", "tr_no")},
    }
    for name, values in per_piece.items():
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        out[f"{name}_n"] = int(len(v))
        if len(v) == 0:
            out[name] = out[f"{name}_ci_low"] = out[f"{name}_ci_high"] = None
            continue
        lo, hi = bootstrap_ci(v, lambda idx, v=v: v[idx].mean(), n_boot, ci_level, _rng(seed, name))
        out[name], out[f"{name}_ci_low"], out[f"{name}_ci_high"] = float(v.mean()), _finite(lo), _finite(hi)

    for name, attr in (("kl_harmony_interval", "interval_beats"), ("kl_co_onset", "co_onset")):
        width = N_INTERVALS if attr == "interval_beats" else N_PATTERNS
        g = np.array([getattr(f, attr) for f in gen], dtype=np.float64).reshape(len(gen), width)
        r = np.array([getattr(f, attr) for f in ref], dtype=np.float64).reshape(len(ref), width)
        g = g[g.sum(axis=1) > 0]
        r = r[r.sum(axis=1) > 0]
        out[f"{name}_n"] = int(len(g))
        if len(g) == 0 or len(r) == 0:
            out[name] = out[f"{name}_ci_low"] = out[f"{name}_ci_high"] = None
            continue
        out[name] = _finite(histogram_kl(r.sum(axis=0), g.sum(axis=0), epsilon))
        rng = _rng(seed, name)

        def stat(idx, g=g, r=r, rng=rng):
            ridx = rng.integers(0, len(r), size=len(r))
            return histogram_kl(r[ridx].sum(axis=0), g[idx].sum(axis=0), epsilon)

        lo, hi = bootstrap_ci(g, stat, n_boot, ci_level, rng)
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = _finite(lo), _finite(hi)
    return out
