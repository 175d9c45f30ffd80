"""MGEval's twelve per-piece features, two ways: as the toolbox computes them, and corrected.

Why two: published MGEval tables (Yang & Lerch 2018, toolbox ``RichardYang40148/mgeval``)
can only be compared with numbers computed by the toolbox's own definitions, quirks
included; the corrected definitions are what the features are meant to measure. Both read
one piece as our notes array, ``(n, 4)`` int rows ``(start, end, pitch, velocity)`` in
ticks (see :mod:`neshmm.data.midi_io`), one voice or several voices merged.

Toolbox mode (:func:`toolbox_features`), written from ``mgeval/core.py`` and pretty_midi
0.2.x, not copied. The toolbox reads a MIDI file twice; the mapping to notes is:

* pretty_midi features (``total_used_pitch``, ``total_pitch_class_histogram``,
  ``bar_pitch_class_histogram``, ``pitch_class_transition_matrix``, ``pitch_range``,
  ``avg_IOI``) work in seconds: tick ``t`` is ``t * (60 / (120 * ticks_per_beat))`` s, the
  float product pretty_midi computes at NES-MDB's single tempo of 120. The piano roll is
  ``fs = 100`` frames/s; a note fills frames ``int(start*100) : int(end*100)`` with its
  velocity, so every "duration-weighted" quantity is weighted by velocity x frames, and a
  note inside one 10 ms frame weighs nothing. The roll ends at the last note-off (pretty_midi
  also counts control changes, which notes arrays do not carry).
* python-midi features (``bar_used_pitch``, ``total_used_note``, ``bar_used_note``,
  ``avg_pitch_shift``, ``note_length_hist``, ``note_length_transition_matrix``) read track 1
  as events in tick order, note-offs before note-ons at one tick (as our writer, and miditoolkit
  before it, writes them), note-ons of one tick in notes-array order. NES-MDB keeps its time signature in the
  meta track 0, so track 1 has none and the toolbox's default applies: a bar is
  ``4 * ticks_per_beat``. The track's last event is taken as the last note-off.
* ``bar_pitch_class_histogram`` reads the *last* time signature (NES-MDB ends on 1/1, which,
  like 4/4, makes a 4-beat bar: 200 frames at 120 bpm).
* Python 2 ``round`` (half away from zero) and integer ``/`` are reproduced.

Toolbox definitions that look like bugs, followed here anyway:

1. ``total_pitch_class_histogram`` and the piano-roll features weight by velocity, not
   duration alone, and lose notes shorter than a 10 ms frame.
2. ``pitch_class_transition_matrix`` (pretty_midi) counts every ordered pair whose end and
   start lie within 50 ms, *including a note with itself* when it is shorter than 50 ms, and
   nothing across a rest; counts are raw, so they grow with the piece's length.
3. ``bar_used_note``/``note_length_*`` compute the bar from ``time_sig[track_num]`` (the
   denominator's power) when the track has a time signature, halving the 4/4 bar; not
   triggered for NES-MDB (see above).
4. ``bar_pitch_class_histogram`` with a given ``num_bar`` and a longer roll keeps
   ``len - len % 200`` frames split into ``num_bar`` equal parts (bars of the wrong length),
   and fails when that length is an exact multiple of 200 (``roll[:-0]`` is empty).
5. The toolbox reads ``instruments[track_num]`` (the *second* instrument) there, but track 1
   (the first) elsewhere; here both mean the given piece.
6. ``bar_used_*`` index the first note without the bounds check later notes get.

Where the toolbox crashes or returns NaN (no notes, fewer than two notes for an interval,
a roll shorter than half a bar, ...), the feature is NaN here.

Corrected mode (:func:`corrected_features`) keeps each feature's meaning and fixes the
above: exact tick durations without velocity, bars of ``4 * ticks_per_beat`` counted
from tick 0 (``num_bar`` of them, a note belonging to the bar of its onset and a duration
split at bar lines), transitions between successive notes in onset order, IOI in beats.
Undefined values are NaN, so the scorer leaves that piece out of that feature.
"""

from __future__ import annotations

import math

import numpy as np

from neshmm.errors import DataError

TOOLBOX_FEATURES: tuple[str, ...] = (
    "total_used_pitch",
    "bar_used_pitch",
    "total_used_note",
    "bar_used_note",
    "total_pitch_class_histogram",
    "bar_pitch_class_histogram",
    "pitch_class_transition_matrix",
    "pitch_range",
    "avg_pitch_shift",
    "avg_IOI",
    "note_length_hist",
    "note_length_transition_matrix",
)
BAR_FEATURES = frozenset({"bar_used_pitch", "bar_used_note", "bar_pitch_class_histogram"})

BEATS_PER_BAR = 4  # NES-MDB is 4/4 throughout
TOOLBOX_BPM = 120.0  # NES-MDB's one tempo; also the toolbox's bar_pitch_class_histogram default
FS = 100  # the toolbox's piano-roll frame rate, frames per second
PC_TIME_THRESH = 0.05  # pretty_midi's transition window, seconds
# Note-length classes in 96ths of a bar, toolbox order: whole, half, quarter, 8th, 16th,
# dotted half, dotted quarter, dotted 8th, dotted 16th, half/quarter/8th triplets.
NOTE_LENGTH_UNITS = (96, 48, 24, 12, 6, 72, 36, 18, 9, 32, 16, 8)
N_PC = 12


def check_notes(notes, what: str = "piece") -> np.ndarray:
    """A validated ``(n, 4)`` int64 notes array, sorted by onset (stable).

    Zero-length notes are refused: the toolbox's two MIDI readers disagree on them
    (pretty_midi keeps them open, python-midi counts them), so neither mode could be exact.
    :func:`neshmm.data.voices.clean_notes` already drops them from the corpus.
    """
    arr = np.asarray(notes)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.int64)
    if arr.ndim != 2 or arr.shape[1] != 4 or not np.issubdtype(arr.dtype, np.integer):
        raise DataError(f"{what}: notes must be an (n, 4) integer array, got {arr.dtype} {arr.shape}")
    arr = arr.astype(np.int64)
    bad = (arr[:, 0] < 0) | (arr[:, 1] <= arr[:, 0]) | (arr[:, 2] < 0) | (arr[:, 2] > 127)
    bad |= (arr[:, 3] < 1) | (arr[:, 3] > 127)
    if bad.any():
        raise DataError(f"{what}: {int(bad.sum())} notes with start < 0, end <= start, pitch or velocity out of MIDI range")
    return arr[np.argsort(arr[:, 0], kind="stable")]


def _py2_round(x: float) -> int:
    """Python 2 ``round`` for x >= 0 (half away from zero), which the toolbox ran under."""
    return int(math.floor(x + 0.5))


def _seconds(ticks: np.ndarray, ticks_per_beat: int) -> np.ndarray:
    return ticks * (60.0 / (TOOLBOX_BPM * ticks_per_beat))  # pretty_midi's tick_scale product


def _length_classes(lengths: np.ndarray, bar_ticks: float) -> np.ndarray:
    """Index of the nearest note-length class (first one on ties, as ``argmin``)."""
    unit = bar_ticks / 96.0
    centres = np.array(NOTE_LENGTH_UNITS, dtype=np.float64) * unit
    return np.abs(centres[None, :] - np.asarray(lengths, dtype=np.float64)[:, None]).argmin(axis=1)


def _transitions(idx: np.ndarray, n: int) -> np.ndarray:
    mat = np.zeros((n, n))
    np.add.at(mat, (idx[:-1], idx[1:]), 1)
    return mat


def _normalized(h: np.ndarray) -> np.ndarray:
    total = h.sum()
    return h / total if total > 0 else np.full(h.shape, np.nan)


# ---------------------------------------------------------------------------------------
# Toolbox


def _toolbox_bar_counts(starts: np.ndarray, pitches: np.ndarray, last_tick: int, bar: int, num_bar):
    """(notes per bar, distinct pitches per bar) as ``bar_used_note``/``bar_used_pitch``."""
    if len(starts) == 0:
        return None  # the toolbox never allocates its array: UnboundLocalError
    if num_bar is None:
        num_bar = _py2_round(float(last_tick) / bar)
    bar_of = starts // bar
    if bar_of[0] >= num_bar:
        return None  # first note indexed without a bounds check: IndexError
    keep = bar_of < num_bar
    counts = np.bincount(bar_of[keep], minlength=num_bar).astype(np.float64)
    used = np.array([len(set(pitches[keep][bar_of[keep] == b].tolist())) for b in range(num_bar)], dtype=np.float64)
    return counts, used


def _toolbox_bar_pc_hist(frames: np.ndarray, pcs: np.ndarray, vel: np.ndarray, n_frames: int, num_bar):
    """``bar_pitch_class_histogram`` on a velocity piano roll of ``n_frames`` frames."""
    bar_f = 60.0 / TOOLBOX_BPM * 4 * 4 / 4 * FS  # 200.0 frames
    actual = n_frames / bar_f
    if num_bar is None:
        num_bar = _py2_round(actual)
        bar_len = _py2_round(bar_f)
    else:
        bar_len = int(math.ceil(bar_f))
    if actual > num_bar:
        kept = n_frames - n_frames % bar_len if n_frames % bar_len else 0  # roll[:-0] is empty
    elif actual == num_bar:
        kept = n_frames
    else:
        kept = num_bar * bar_len  # zero-padded
    if num_bar <= 0 or kept == 0 or kept % num_bar:
        return None  # numpy cannot reshape: the toolbox raises
    per_bar = kept // num_bar
    roll = np.zeros((N_PC, max(kept, n_frames) + 1))
    np.add.at(roll, (pcs, frames[:, 0]), vel)
    np.add.at(roll, (pcs, frames[:, 1]), -vel)
    roll = np.cumsum(roll, axis=1)[:, :kept]
    out = roll.reshape(N_PC, num_bar, per_bar).sum(axis=2).T
    sums = out.sum(axis=1, keepdims=True)
    return np.divide(out, sums, out=np.zeros_like(out), where=sums != 0)


def toolbox_features(notes, ticks_per_beat: int, num_bar: int | None = None, names=None) -> dict[str, np.ndarray]:
    """The toolbox's features of one piece (module docstring: mapping and quirks).

    Each value is a flat float vector (Euclidean distances between pieces are the same as
    the toolbox's Frobenius norms of its shapes); NaN where the toolbox fails. ``num_bar``
    is the toolbox's argument of the bar features (None: its rounding of the track length).
    """
    names = TOOLBOX_FEATURES if names is None else tuple(names)
    n = check_notes(notes)
    starts, ends, pitches, vel = n[:, 0], n[:, 1], n[:, 2], n[:, 3].astype(np.float64)
    sec_s, sec_e = _seconds(starts, ticks_per_beat), _seconds(ends, ticks_per_beat)
    frames = np.stack([(sec_s * FS).astype(np.int64), (sec_e * FS).astype(np.int64)], axis=1)
    n_frames = int(FS * sec_e.max()) if len(n) else 0
    pitch_weight = np.bincount(pitches, weights=vel * (frames[:, 1] - frames[:, 0]), minlength=128)
    used = np.flatnonzero(pitch_weight > 0)
    bar = BEATS_PER_BAR * ticks_per_beat
    last_tick = int(ends.max()) if len(n) else 0
    nan1 = np.array([np.nan])
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name == "total_used_pitch":
            v = np.array([float(len(used))])
        elif name in ("bar_used_pitch", "bar_used_note"):
            r = _toolbox_bar_counts(starts, pitches, last_tick, bar, num_bar)
            v = nan1 if r is None else r[1 if name == "bar_used_pitch" else 0]
        elif name == "total_used_note":
            v = np.array([float(len(n))])
        elif name == "total_pitch_class_histogram":
            with np.errstate(invalid="ignore"):
                h = np.bincount(np.arange(128) % N_PC, weights=pitch_weight, minlength=N_PC)
                v = h / h.sum()  # 0/0 is NaN in the toolbox too
        elif name == "bar_pitch_class_histogram":
            r = _toolbox_bar_pc_hist(frames, pitches % N_PC, vel, n_frames, num_bar) if len(n) else None
            v = nan1 if r is None else r.ravel()
        elif name == "pitch_class_transition_matrix":
            mat = np.zeros((N_PC, N_PC))
            if len(n) > 1:
                src, dst = np.nonzero(np.abs(np.subtract.outer(sec_e, sec_s)) < PC_TIME_THRESH)
                np.add.at(mat, (pitches[src] % N_PC, pitches[dst] % N_PC), 1)
            v = mat.ravel()
        elif name == "pitch_range":
            v = np.array([float(used.max() - used.min()) if len(used) else np.nan])
        elif name == "avg_pitch_shift":
            v = np.array([np.abs(np.diff(pitches)).mean() if len(n) > 1 else np.nan])
        elif name == "avg_IOI":
            v = np.array([np.diff(np.sort(sec_s)).mean() if len(n) > 1 else np.nan])
        elif name in ("note_length_hist", "note_length_transition_matrix"):
            # python-midi pairs each note-on with the next note-off of its pitch.
            same = pitches[None, :] == pitches[:, None]
            later = np.where(same & (ends[None, :] > starts[:, None]), ends[None, :], np.iinfo(np.int64).max)
            idx = _length_classes(later.min(axis=1) - starts, float(bar)) if len(n) else np.zeros(0, np.int64)
            if name == "note_length_hist":
                with np.errstate(invalid="ignore"):
                    h = np.bincount(idx, minlength=12).astype(np.float64)
                    v = h / h.sum()
            else:
                v = _transitions(idx, 12).ravel()
        else:
            raise DataError(f"unknown MGEval feature {name!r}; choose from {list(TOOLBOX_FEATURES)}")
        out[name] = np.asarray(v, dtype=np.float64)
    return out


def toolbox_num_bar(notes, ticks_per_beat: int) -> int:
    """The bar count the toolbox's ``bar_used_*`` infer for a piece when ``num_bar`` is None."""
    n = check_notes(notes)
    return _py2_round(float(n[:, 1].max() if len(n) else 0) / (BEATS_PER_BAR * ticks_per_beat))


# ---------------------------------------------------------------------------------------
# Corrected


def corrected_features(notes, ticks_per_beat: int, num_bar: int, names=None) -> dict[str, np.ndarray]:
    """The features as meant (module docstring), on exact ticks; NaN where undefined.

    ``num_bar`` bars of ``4 * ticks_per_beat`` ticks from tick 0 make every bar feature the
    same length for every piece; notes past the last bar are outside the bar features.
    """
    names = TOOLBOX_FEATURES if names is None else tuple(names)
    if num_bar < 1:
        raise DataError(f"num_bar must be >= 1, got {num_bar}")
    n = check_notes(notes)
    starts, ends, pitches = n[:, 0], n[:, 1], n[:, 2]
    pcs = pitches % N_PC
    bar = BEATS_PER_BAR * ticks_per_beat
    k = len(n)
    nan1 = np.array([np.nan])
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name == "total_used_pitch":
            v = np.array([float(len(np.unique(pitches)))])
        elif name in ("bar_used_pitch", "bar_used_note"):
            bar_of = starts // bar
            keep = bar_of < num_bar
            if name == "bar_used_note":
                v = np.bincount(bar_of[keep], minlength=num_bar).astype(np.float64)
            else:
                pairs = np.unique(np.stack([bar_of[keep], pitches[keep]], axis=1), axis=0)
                v = np.bincount(pairs[:, 0], minlength=num_bar).astype(np.float64) if len(pairs) else np.zeros(num_bar)
        elif name == "total_used_note":
            v = np.array([float(k)])
        elif name == "total_pitch_class_histogram":
            v = _normalized(np.bincount(pcs, weights=(ends - starts).astype(np.float64), minlength=N_PC))
        elif name == "bar_pitch_class_histogram":
            edges = np.arange(num_bar + 1) * bar
            ov = np.clip(np.minimum(ends[:, None], edges[None, 1:]) - np.maximum(starts[:, None], edges[None, :-1]), 0, None)
            h = np.zeros((num_bar, N_PC))
            np.add.at(h, (slice(None), pcs), ov.T.astype(np.float64))
            s = h.sum(axis=1, keepdims=True)
            v = np.divide(h, s, out=np.zeros_like(h), where=s != 0).ravel()
        elif name == "pitch_class_transition_matrix":
            v = _transitions(pcs, N_PC).ravel()
        elif name == "pitch_range":
            v = np.array([float(np.ptp(pitches))]) if k else nan1
        elif name == "avg_pitch_shift":
            v = np.array([np.abs(np.diff(pitches)).mean()]) if k > 1 else nan1
        elif name == "avg_IOI":
            v = np.array([np.diff(starts).mean() / ticks_per_beat]) if k > 1 else nan1
        elif name in ("note_length_hist", "note_length_transition_matrix"):
            idx = _length_classes(ends - starts, float(bar))
            if name == "note_length_hist":
                v = _normalized(np.bincount(idx, minlength=12).astype(np.float64))
            else:
                v = _transitions(idx, 12).ravel()
        else:
            raise DataError(f"unknown MGEval feature {name!r}; choose from {list(TOOLBOX_FEATURES)}")
        out[name] = np.asarray(v, dtype=np.float64)
    return out
