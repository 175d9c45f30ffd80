"""Notes of the four voices on one beat-synchronous frame grid, for a joint model.

The token streams of :mod:`neshmm.data.tokens` advance each voice by its own durations,
so the voices of a piece are not aligned and cannot share one hidden chain. Here time is
cut into frames of ``frame_beats`` beats (relative to each file's ticks per beat, so files
of any resolution share one grid) and, at every frame, each voice emits one symbol:

- ``REST`` (code 0): the voice is silent;
- ``HOLD`` (code 1): the note sounding in the previous frame goes on;
- ``ONSET + P`` (codes 2..129): a note of MIDI pitch ``P`` starts (for the noise voice
  NES-MDB's "pitch" is the noise period, and is treated the same way).

Quantization: a note's start and end are rounded to the nearest frame boundary. A note
whose rounded length is zero is *short* and is kept as a one-frame note rather than
dropped: NES-MDB is full of notes shorter than any useful frame (drum hits, arpeggios of
one or two 60 Hz video frames), and dropping them loses most of the noise voice. Of several
notes rounding to the same onset frame only the last one is kept (the others are
*merged*, since the last is the one that goes on sounding); a note still sounding when the
next one starts is *cut* there (a voice is monophonic). :func:`grid_loss` counts all
three and the sounding time lost (and added, by stretched short notes).

Velocity is not part of the symbol: folding it in multiplies the onset vocabulary (see
``benchmarks/frame_grid.py`` for the measured sizes) and, in NES-MDB, most dynamics live
in CC 11 volume messages that this project does not model anyway. Each voice is written
back at one fixed velocity, its most common training velocity (kept in the vocabulary).

A rendered hold that follows a rest (possible in sampled output, never in encoded
MIDI) has no note to continue and is read back as silence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neshmm.data.voices import VOICES
from neshmm.errors import ConfigError, DataError

REST = 0
HOLD = 1
ONSET = 2  # code of an onset of pitch P is ONSET + P
N_CODES = ONSET + 128
UNK_ID = 0  # frame-vocabulary id of a symbol never seen in training


def check_frame_beats(frame_beats: float) -> float:
    """``frame_beats`` as a float, or a one-line ConfigError for a non-positive value."""
    try:
        value = float(frame_beats)
    except (TypeError, ValueError):
        raise ConfigError(f"frame_beats={frame_beats!r}: must be a number of beats > 0 (e.g. 0.125)") from None
    if not (value > 0 and np.isfinite(value)):
        raise ConfigError(f"frame_beats={frame_beats!r}: must be a number of beats > 0 (e.g. 0.125)")
    return value


def frame_ticks(ticks_per_beat: int, frame_beats: float) -> float:
    """Length of one frame in ticks; may be fractional (22050 / 16), so kept as a float."""
    return float(ticks_per_beat) * check_frame_beats(frame_beats)


@dataclass
class VoiceFrames:
    """One voice's frame codes plus what quantizing its notes cost.

    ``short`` notes rounded to zero frames and were stretched to one; ``merged`` notes
    shared an onset frame with a later note and are gone; ``cut`` notes were shortened by
    the next note's onset.
    """

    codes: np.ndarray
    short: int = 0
    merged: int = 0
    cut: int = 0


def notes_to_codes(notes: np.ndarray, ticks_per_beat: int, frame_beats: float) -> VoiceFrames:
    """Frame codes of one voice's ``(n, 4)`` notes (start, end, pitch, velocity) in ticks."""
    notes = np.asarray(notes, dtype=np.int64).reshape(-1, 4)
    step = frame_ticks(ticks_per_beat, frame_beats)
    order = np.argsort(notes[:, 0], kind="stable")
    notes = notes[order]
    s = np.rint(notes[:, 0] / step).astype(np.int64)
    e = np.rint(notes[:, 1] / step).astype(np.int64)
    short = int((e <= s).sum())
    e = np.maximum(e, s + 1)
    pitch = notes[:, 2]
    # Of notes sharing an onset frame keep the last (in start order): it is the one heard.
    last_of_onset = np.ones(len(s), dtype=bool)
    if len(s) > 1:
        last_of_onset[:-1] = s[1:] != s[:-1]
    merged = int((~last_of_onset).sum())
    s, e, pitch = s[last_of_onset], e[last_of_onset], pitch[last_of_onset]
    next_s = np.concatenate([s[1:], [np.iinfo(np.int64).max]])
    cut = int((e > next_s).sum())
    e = np.minimum(e, next_s)
    n = int(e.max()) if len(e) else 0
    cover = np.zeros(n + 1, dtype=np.int64)
    np.add.at(cover, s, 1)
    np.add.at(cover, e, -1)
    codes = np.where(np.cumsum(cover)[:n] > 0, HOLD, REST).astype(np.int64)
    codes[s] = ONSET + pitch
    return VoiceFrames(codes, short=short, merged=merged, cut=cut)


def codes_to_notes(codes: np.ndarray, ticks_per_beat: int, frame_beats: float, velocity: int) -> np.ndarray:
    """Notes ``(n, 4)`` of one voice's frame codes; a hold after a rest is silence."""
    codes = np.asarray(codes, dtype=np.int64).reshape(-1)
    if codes.size and (codes.min() < 0 or codes.max() >= N_CODES):
        raise DataError(f"frame codes must lie in 0..{N_CODES - 1}")
    step = frame_ticks(ticks_per_beat, frame_beats)
    onsets = np.flatnonzero(codes >= ONSET)
    breaks = np.flatnonzero(codes != HOLD)
    # Each note lasts until the next frame that is not a hold (or the end).
    nxt = np.searchsorted(breaks, onsets, side="right")
    ends = np.append(breaks, len(codes))[nxt]
    start_ticks = np.rint(onsets * step).astype(np.int64)
    end_ticks = np.rint(ends * step).astype(np.int64)
    vel = np.full(len(onsets), int(velocity), dtype=np.int64)
    return np.stack([start_ticks, end_ticks, codes[onsets] - ONSET, vel], axis=1).reshape(-1, 4)


def song_frames(
    notes: dict[str, np.ndarray], ticks_per_beat: int, frame_beats: float
) -> tuple[np.ndarray, dict[str, VoiceFrames]]:
    """Codes ``(T, 4)`` of one song (columns in :data:`VOICES` order; a missing voice rests).

    ``T`` is the frame of the last note end over all voices; shorter voices rest to there.
    """
    per_voice = {v: notes_to_codes(notes.get(v, np.zeros((0, 4))), ticks_per_beat, frame_beats) for v in VOICES}
    n = max(len(vf.codes) for vf in per_voice.values())
    for vf in per_voice.values():
        vf.codes = np.concatenate([vf.codes, np.full(n - len(vf.codes), REST, dtype=np.int64)])
    return np.stack([per_voice[v].codes for v in VOICES], axis=1).reshape(n, len(VOICES)), per_voice


def _coverage(intervals: np.ndarray, tag: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Endpoint events (pitch, time, delta, tag) of ``(n, 3)`` rows (start, end, pitch)."""
    n = len(intervals)
    pitch = np.repeat(intervals[:, 2], 2)
    time = np.stack([intervals[:, 0], intervals[:, 1]], axis=1).reshape(-1)
    delta = np.tile([1, -1], n)
    return pitch, time, delta, np.full(2 * n, tag)


def _starts_ends_pitches(notes: np.ndarray) -> np.ndarray:
    notes = np.asarray(notes, dtype=np.int64)
    return notes.reshape(len(notes), -1)[:, :3] if notes.size else np.zeros((0, 3), dtype=np.int64)


def sounding_overlap(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """(ticks sounding in ``a``, ticks of those where ``b`` sounds the same pitch).

    ``a`` and ``b`` are notes ``(n, >=3)`` (start, end, pitch, ...); overlapping notes of
    one pitch count once (a union), so the result is a length of time, not a note sum.
    """
    a, b = _starts_ends_pitches(a), _starts_ends_pitches(b)
    if len(a) == 0:
        return 0, 0
    pa, ta, da, ga = _coverage(a, 0)
    pb, tb, db, gb = _coverage(b, 1)
    pitch, time = np.concatenate([pa, pb]), np.concatenate([ta, tb])
    da_all = np.concatenate([da, np.zeros_like(db)])
    db_all = np.concatenate([np.zeros_like(da), db])
    order = np.lexsort((time, pitch))
    pitch, time, da_all, db_all = pitch[order], time[order], da_all[order], db_all[order]
    # Each pitch's deltas sum to zero, so running sums restart at 0 at every pitch change.
    ca, cb = np.cumsum(da_all), np.cumsum(db_all)
    seg = np.diff(time)
    same = pitch[1:] == pitch[:-1]
    in_a = (ca[:-1] > 0) & same
    both = in_a & (cb[:-1] > 0)
    return int(seg[in_a].sum()), int(seg[both].sum())


@dataclass
class GridLoss:
    """What a frame grid loses on some songs, summed over voices."""

    notes: int = 0
    short: int = 0
    merged: int = 0
    cut: int = 0
    sounding_ticks: int = 0
    kept_ticks: int = 0
    added_ticks: int = 0
    frames: int = 0
    songs: int = 0

    def add(self, other: "GridLoss") -> None:
        for k in self.__dataclass_fields__:
            setattr(self, k, getattr(self, k) + getattr(other, k))

    @property
    def notes_lost(self) -> float:
        """Fraction of notes with no onset of their own on the grid (merged into a later one)."""
        return self.merged / self.notes if self.notes else 0.0

    @property
    def notes_short(self) -> float:
        """Fraction of notes shorter than a frame (kept, stretched to one frame)."""
        return self.short / self.notes if self.notes else 0.0

    @property
    def time_lost(self) -> float:
        """Fraction of sounding time not sounding at the same pitch after the round trip."""
        return 1.0 - self.kept_ticks / self.sounding_ticks if self.sounding_ticks else 0.0

    @property
    def time_added(self) -> float:
        """Time sounding after the round trip where the original was not (same pitch), as a
        fraction of the original sounding time: what stretching short notes invents."""
        return self.added_ticks / self.sounding_ticks if self.sounding_ticks else 0.0


def grid_loss(notes: dict[str, np.ndarray], ticks_per_beat: int, frame_beats: float) -> GridLoss:
    """Round-trip one song through the grid and count what did not come back."""
    codes, per_voice = song_frames(notes, ticks_per_beat, frame_beats)
    return _loss(notes, codes, per_voice, ticks_per_beat, frame_beats)


def _loss(notes, codes, per_voice, ticks_per_beat, frame_beats) -> GridLoss:
    out = GridLoss(frames=len(codes), songs=1)
    for i, v in enumerate(VOICES):
        orig = np.asarray(notes.get(v, np.zeros((0, 4))), dtype=np.int64).reshape(-1, 4)
        back = codes_to_notes(codes[:, i], ticks_per_beat, frame_beats, velocity=1)
        sounding, kept = sounding_overlap(orig, back)
        back_sounding, _ = sounding_overlap(back, orig)
        vf = per_voice[v]
        out.add(GridLoss(notes=len(orig), short=vf.short, merged=vf.merged, cut=vf.cut,
                         sounding_ticks=sounding, kept_ticks=kept, added_ticks=back_sounding - kept))
    return out


@dataclass
class FrameVocab:
    """Per voice, the frame codes seen in training; id 0 is ``<unk>``, known codes 1..V.

    ``REST`` and ``HOLD`` are always in the vocabulary (ids 1 and 2) so that any piece,
    including a silent voice, can be encoded and decoded. ``velocity`` is the MIDI
    velocity each voice is written with.
    """

    codes: dict[str, np.ndarray]
    velocity: dict[str, int]

    @classmethod
    def build(cls, codes: np.ndarray, velocities: dict[str, np.ndarray] | None = None) -> "FrameVocab":
        """From training codes ``(T, 4)``; ``velocities`` are the voices' training note velocities."""
        codes = _check_codes(codes)
        vocab, vel = {}, {}
        for i, v in enumerate(VOICES):
            vocab[v] = np.union1d([REST, HOLD], codes[:, i]).astype(np.int64)
            found = np.asarray((velocities or {}).get(v, ()), dtype=np.int64)
            vel[v] = int(np.bincount(found).argmax()) if found.size else 64
        return cls(vocab, vel)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Symbols per voice a model must cover, ``<unk>`` included."""
        return tuple(len(self.codes[v]) + 1 for v in VOICES)

    def encode(self, codes: np.ndarray) -> np.ndarray:
        """Ids ``(T, 4)``; codes absent from the vocabulary become ``UNK_ID`` (never dropped)."""
        codes = _check_codes(codes)
        ids = np.empty_like(codes)
        for i, v in enumerate(VOICES):
            known = self.codes[v]
            pos = np.minimum(np.searchsorted(known, codes[:, i]), len(known) - 1)
            ids[:, i] = np.where(known[pos] == codes[:, i], pos + 1, UNK_ID)
        return ids

    def decode(self, ids: np.ndarray) -> np.ndarray:
        """Codes ``(T, 4)`` of ids; ``<unk>`` (which a sampler never draws) decodes as a rest."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1, len(VOICES))
        out = np.empty_like(ids)
        for i, v in enumerate(VOICES):
            if ids[:, i].size and (ids[:, i].min() < 0 or ids[:, i].max() > len(self.codes[v])):
                raise DataError(f"voice {v}: ids must lie in 0..{len(self.codes[v])}")
            table = np.concatenate([[REST], self.codes[v]])
            out[:, i] = table[ids[:, i]]
        return out

    def to_notes(self, ids: np.ndarray, ticks_per_beat: int, frame_beats: float) -> dict[str, np.ndarray]:
        """Notes per voice of sampled ids, ready for :func:`neshmm.data.midi_io.write_midi`."""
        codes = self.decode(ids)
        return {
            v: codes_to_notes(codes[:, i], ticks_per_beat, frame_beats, self.velocity[v])
            for i, v in enumerate(VOICES)
        }

    def to_dict(self) -> dict:
        """JSON-able form, e.g. for a model file header."""
        return {"codes": {v: self.codes[v].tolist() for v in VOICES}, "velocity": dict(self.velocity)}

    @classmethod
    def from_dict(cls, d: dict) -> "FrameVocab":
        try:
            return cls({v: np.asarray(d["codes"][v], dtype=np.int64) for v in VOICES},
                       {v: int(d["velocity"][v]) for v in VOICES})
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"not a frame vocabulary ({type(exc).__name__}: {exc})") from None


def _check_codes(codes: np.ndarray) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.int64)
    if codes.ndim != 2 or codes.shape[1] != len(VOICES):
        raise DataError(f"frame codes must have shape (T, {len(VOICES)}), got {codes.shape}")
    if codes.size and (codes.min() < 0 or codes.max() >= N_CODES):
        raise DataError(f"frame codes must lie in 0..{N_CODES - 1}")
    return codes


@dataclass
class FrameSequences:
    """Codes of several songs stacked ``(sum T, 4)`` with their lengths, the grid loss, and
    the note velocities per voice (what :meth:`FrameVocab.build` picks each voice's from)."""

    codes: np.ndarray
    lengths: np.ndarray
    loss: GridLoss
    velocities: dict[str, np.ndarray]


def split_frames(split, frame_beats: float, file_indices=None, with_loss: bool = False) -> FrameSequences:
    """Frame codes of the chosen files of a prepared :class:`~neshmm.data.corpus.Split`.

    Songs without notes (no frame) are left out.
    """
    indices = range(len(split.files)) if file_indices is None else file_indices
    parts, lengths, loss = [], [], GridLoss()
    velocities: dict[str, list] = {v: [] for v in VOICES}
    for i in indices:
        notes = {v: split.voice_notes(v, int(i)) for v in VOICES}
        for v in VOICES:
            velocities[v].append(notes[v][:, 3])
        tpb = int(split.ticks_per_beat[int(i)])
        codes, per_voice = song_frames(notes, tpb, frame_beats)
        if with_loss:
            loss.add(_loss(notes, codes, per_voice, tpb, frame_beats))
        if len(codes):
            parts.append(codes)
            lengths.append(len(codes))
    codes = np.concatenate(parts) if parts else np.zeros((0, len(VOICES)), dtype=np.int64)
    vel = {v: np.concatenate(velocities[v]) if velocities[v] else np.zeros(0, np.int64) for v in VOICES}
    return FrameSequences(codes, np.asarray(lengths, dtype=np.int64), loss, vel)
