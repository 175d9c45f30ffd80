"""An NES APU (NTSC 2A03) synthesizer in numpy: notes per voice in, 16-bit PCM out.

What makes it sound like the NES rather than like a generic chip synth:

- pitches are snapped to the 11-bit timer the hardware really plays
  (pulse f = CPU / (16 (t+1)), triangle f = CPU / (32 (t+1))), and pulse notes the
  timer cannot reach (t < 8 or t > 0x7FF) are silent as on the console;
- the pulse is the 8-step duty sequencer (12.5 / 25 / 50 / 75 %) restarted at every note
  (a note-on writes $4003, which resets the sequencer); volume is the 4-bit MIDI velocity;
- the triangle is the 32-step, 4-bit staircase without volume; its sequencer halts (holds
  its level) between notes, so rests do not click;
- the noise is the 15-bit LFSR (feedback bit 1, or bit 6 in "short" mode), clocked at
  CPU / period with the NTSC period table; NES-MDB writes the noise "pitch" as
  ``16 - period_index`` (nesmdb/score/rawsco.py), so pitch 16 is the brightest period
  (4 cycles) and pitch 1 the darkest (4068 cycles);
- the channels go through the APU's non-linear mixer and then the console's output
  filters (high-pass 90 Hz and 440 Hz, low-pass 14 kHz).

Every channel is a periodic step sequence read by a phase accumulator (a cumulative sum
of per-sample phase increments). Each output sample is the exact average of the sequence
over that sample's interval, computed from the sequence's running integral; this box
filter removes most of the aliasing that naive point sampling of a 1.79 MHz chip at
44.1 kHz produces, at the cost of a few array operations. There are no per-sample Python
loops, no randomness and no wall-clock input, so equal notes give byte-equal audio.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

CPU_HZ = 1_789_773.0  # NTSC 2A03 CPU clock; the APU timers count CPU cycles
NOISE_PERIODS = np.array(
    [4, 8, 16, 32, 64, 96, 128, 160, 202, 254, 380, 508, 762, 1016, 2034, 4068], dtype=np.float64
)
DUTY_SEQUENCES: dict[float, tuple[int, ...]] = {
    0.125: (0, 1, 0, 0, 0, 0, 0, 0),
    0.25: (0, 1, 1, 0, 0, 0, 0, 0),
    0.5: (0, 1, 1, 1, 1, 0, 0, 0),
    0.75: (1, 0, 0, 1, 1, 1, 1, 1),
}
TRIANGLE_SEQUENCE = tuple(range(15, -1, -1)) + tuple(range(16))
PULSE_TIMER_RANGE = (8, 0x7FF)
TRIANGLE_TIMER_RANGE = (2, 0x7FF)  # t < 2 is ultrasonic; games use it to mute the channel
# NES-MDB's MIDI tempo (every file, and every file we write): 120 quarter notes a minute.
BPM = 120.0


@dataclass(frozen=True)
class Timeline:
    """Which note each audio sample plays (-1: none) for one monophonic voice.

    Channel code computes a quantity once per note (frequency, volume) and spreads it over
    samples with :meth:`per_sample`, which is much cheaper than per-sample arithmetic.
    """

    note: np.ndarray  # (n_samples,) index into notes, -1 where silent
    notes: np.ndarray  # (n, 4) start, end (in samples), pitch, velocity

    @property
    def active(self) -> np.ndarray:
        return self.note >= 0

    def per_sample(self, per_note: np.ndarray, silent=0) -> np.ndarray:
        """Spread one value per note over the samples (``silent`` where no note sounds)."""
        table = np.append(np.asarray(per_note), np.asarray(silent, dtype=np.asarray(per_note).dtype))
        return table[self.note]  # index -1 picks the appended ``silent`` value


def ticks_to_samples(ticks: np.ndarray, ticks_per_beat: int, sample_rate: int) -> np.ndarray:
    return np.rint(np.asarray(ticks, dtype=np.float64) * (sample_rate * 60.0 / BPM) / ticks_per_beat).astype(np.int64)


def timeline(notes: np.ndarray, n_samples: int) -> Timeline:
    """Which note each sample plays, for one voice whose note times are already in samples.

    A voice is monophonic: when notes overlap, the one that started last sounds (as when a
    driver writes a new note into the channel's registers).
    """
    notes = np.asarray(notes, dtype=np.int64).reshape(-1, 4)
    notes = notes[(notes[:, 1] > notes[:, 0]) & (notes[:, 0] < n_samples)]
    notes = notes[np.argsort(notes[:, 0], kind="stable")]
    # Index of the last note started at or before each sample: a running count of starts.
    starts = np.zeros(n_samples, dtype=np.int64)
    np.add.at(starts, notes[:, 0], 1)
    idx = np.cumsum(starts) - 1
    if len(notes):
        ends = np.append(notes[:, 1], -1)
        idx[np.arange(n_samples) >= ends[idx]] = -1
    return Timeline(note=idx, notes=notes)


def midi_to_hz(pitch: np.ndarray) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69.0) / 12.0)


def timer_hz(pitch: np.ndarray, steps: int, timer_range: tuple[int, int]) -> np.ndarray:
    """The frequency the APU plays for a MIDI pitch (0 where the timer cannot reach it).

    ``steps`` is CPU cycles per timer tick times sequencer length: 2 x 8 = 16 for the
    pulse (its timer runs at half the CPU clock), 1 x 32 for the triangle.
    """
    timer = np.rint(CPU_HZ / (steps * midi_to_hz(pitch)) - 1.0)
    ok = (timer >= timer_range[0]) & (timer <= timer_range[1])
    return np.where(ok, CPU_HZ / (steps * (timer + 1.0)), 0.0)


def _running_integral(seq: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integral of the periodic step sequence ``seq`` from 0 to ``x`` (in steps), and the step index at x.

    Written with few, in-place temporaries: it runs on millions of samples per voice.
    """
    n = len(seq)
    integral = np.concatenate([[0.0], np.cumsum(seq)])
    whole = np.floor(x)
    periods, i = np.divmod(whole.astype(np.int64), n)
    frac = np.subtract(x, whole, out=whole)  # reuse the buffer: only frac is needed below
    out = periods.astype(np.float64)
    out *= integral[n]
    out += integral[i]
    frac *= seq[i]
    out += frac
    return out, i


def box_sample_running(sequence, step: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray:
    """Mean of a periodic step sequence over each sample, the phase advancing by ``step``.

    The phase is the running sum of ``step`` minus ``offset`` (constant within a note, so a
    channel can restart its sequencer at a note-on). Where the offset stays the same from
    one sample to the next, the integral at a sample's end is the one at the next sample's
    start, so only the samples before an offset change need a second evaluation. Where
    ``step`` is 0 the channel is halted and the result is the level it holds.
    """
    seq = np.asarray(sequence, dtype=np.float64)
    edges = np.concatenate([[0.0], np.cumsum(step)])
    if offset is None:
        r, i = _running_integral(seq, edges)
        width = np.diff(r)
        start_index = i[:-1]
    else:
        r, start_index = _running_integral(seq, edges[:-1] - offset)
        jump = np.flatnonzero(np.diff(offset) != 0)
        end = np.append(r[1:], 0.0)
        last = np.append(jump, len(step) - 1) if len(step) else jump
        end[last] = _running_integral(seq, edges[last + 1] - offset[last])[0]
        width = np.subtract(end, r, out=end)
    moving = step > 0
    out = np.where(moving, width / np.where(moving, step, 1.0), seq[start_index])
    return np.clip(out, seq.min(), seq.max(), out=out)  # rounding must not leave the 4-bit range


def pulse(tl: Timeline, duty: float, sample_rate: int) -> np.ndarray:
    """Pulse channel level 0..15 per sample; exactly 0 where no note sounds."""
    if duty not in DUTY_SEQUENCES:
        raise ValueError(f"duty {duty} is not one of {sorted(DUTY_SEQUENCES)}")
    hz = timer_hz(tl.notes[:, 2], 16, PULSE_TIMER_RANGE)
    step = tl.per_sample(8.0 * hz / sample_rate, 0.0)
    # The sequencer restarts at each note-on: measure the phase from the note's first sample.
    note_start_phase = np.concatenate([[0.0], np.cumsum(step)])[tl.notes[:, 0]]
    level = box_sample_running(DUTY_SEQUENCES[duty], step, tl.per_sample(note_start_phase, 0.0))
    gain = tl.per_sample(np.where(hz > 0, np.clip(tl.notes[:, 3], 0, 15), 0).astype(np.float64), 0.0)
    return level * gain


def triangle(tl: Timeline, sample_rate: int) -> np.ndarray:
    """Triangle channel level 0..15; any note with velocity >= 1 plays at full level."""
    hz = np.where(tl.notes[:, 3] > 0, timer_hz(tl.notes[:, 2], 32, TRIANGLE_TIMER_RANGE), 0.0)
    step = tl.per_sample(32.0 * hz / sample_rate, 0.0)
    # Never reset: between notes the sequencer halts and holds its level, then resumes.
    return box_sample_running(TRIANGLE_SEQUENCE, step)


@lru_cache(maxsize=2)
def lfsr_levels(short_mode: bool) -> np.ndarray:
    """Noise output (1 = sounding, 0 = muted) over one full period of the 15-bit LFSR.

    A one-off loop over the register's 32767 (or 93) states, cached; rendering then reads
    this table like any other step sequence.
    """
    tap = 6 if short_mode else 1
    reg = 1
    levels = []
    while True:
        levels.append(1 - (reg & 1))  # the channel is muted while bit 0 is set
        feedback = (reg ^ (reg >> tap)) & 1
        reg = (reg >> 1) | (feedback << 14)
        if reg == 1:
            return np.array(levels, dtype=np.float64)


def noise_period(pitch: np.ndarray) -> np.ndarray:
    """CPU cycles per LFSR clock for NES-MDB noise "pitches" 1..16 (clipped into range)."""
    index = 16 - np.clip(np.asarray(pitch, dtype=np.int64), 1, 16)
    return NOISE_PERIODS[index]


def noise(tl: Timeline, sample_rate: int, short_mode: bool = False) -> np.ndarray:
    """Noise channel level 0..15; the LFSR runs on from note to note, as on the console."""
    volume = np.clip(tl.notes[:, 3], 0, 15).astype(np.float64)
    step = tl.per_sample(np.where(volume > 0, CPU_HZ / noise_period(tl.notes[:, 2]) / sample_rate, 0.0), 0.0)
    level = box_sample_running(lfsr_levels(short_mode), step)
    return level * tl.per_sample(volume, 0.0)


def mix(p1: np.ndarray, p2: np.ndarray, tr: np.ndarray, no: np.ndarray) -> np.ndarray:
    """The APU's non-linear mixer (nesdev "APU Mixer"), without the DMC; output 0..~0.63."""
    pulses = p1 + p2
    pulse_out = np.zeros_like(pulses)
    np.divide(95.88, 8128.0 / np.where(pulses > 0, pulses, 1.0) + 100.0, out=pulse_out, where=pulses > 0)
    tnd = tr / 8227.0 + no / 12241.0
    tnd_out = np.zeros_like(tnd)
    np.divide(159.79, 1.0 / np.where(tnd > 0, tnd, 1.0) + 100.0, out=tnd_out, where=tnd > 0)
    return pulse_out + tnd_out


def console_filter(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """The NES's analog output chain: first-order high-pass 90 Hz and 440 Hz, low-pass 14 kHz.

    Each filter starts in its steady state for the first sample, so a held triangle level
    at time 0 does not thump.
    """
    from scipy.signal import butter, lfilter, lfilter_zi

    y = np.asarray(x, dtype=np.float64)
    for cutoff, kind in ((90.0, "highpass"), (440.0, "highpass"), (14000.0, "lowpass")):
        if cutoff >= sample_rate / 2:
            continue
        b, a = butter(1, cutoff, btype=kind, fs=sample_rate)
        y, _ = lfilter(b, a, y, zi=lfilter_zi(b, a) * (y[0] if len(y) else 0.0))
    return y


@dataclass(frozen=True)
class Voicing:
    """The NES state MIDI notes do not carry (NES-MDB keeps it in CC 12, which we drop)."""

    duty_p1: float = 0.5
    duty_p2: float = 0.5
    noise_short_mode: bool = False


def synthesize(
    notes: dict[str, np.ndarray],
    ticks_per_beat: int,
    n_samples: int,
    sample_rate: int,
    voicing: Voicing = Voicing(),
) -> np.ndarray:
    """Mixed, filtered audio (float, about -0.63..0.63) of notes per voice given in ticks."""
    levels = {}
    for voice in ("p1", "p2", "tr", "no"):
        v = np.asarray(notes.get(voice, np.zeros((0, 4), np.int64)), dtype=np.int64).reshape(-1, 4).copy()
        v[:, :2] = ticks_to_samples(v[:, :2], ticks_per_beat, sample_rate)
        tl = timeline(v, n_samples)
        if voice == "p1":
            levels[voice] = pulse(tl, voicing.duty_p1, sample_rate)
        elif voice == "p2":
            levels[voice] = pulse(tl, voicing.duty_p2, sample_rate)
        elif voice == "tr":
            levels[voice] = triangle(tl, sample_rate)
        else:
            levels[voice] = noise(tl, sample_rate, voicing.noise_short_mode)
    return console_filter(mix(levels["p1"], levels["p2"], levels["tr"], levels["no"]), sample_rate)


def to_pcm16(audio: np.ndarray, gain: float) -> np.ndarray:
    """Scale by a fixed gain (no per-file normalization, so loudness compares across files)."""
    return np.rint(np.clip(audio * gain, -1.0, 1.0) * 32767.0).astype(np.int16)
