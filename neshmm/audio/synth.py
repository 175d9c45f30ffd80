"""An NES APU (NTSC 2A03) synthesizer: notes per voice in, 16-bit PCM out.

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

Every channel is a periodic step sequence read by a phase accumulator (a running sum of
per-sample phase increments). Each output sample is the exact average of the sequence
over that sample's interval, computed from the sequence's running integral; this box
filter removes most of the aliasing that naive point sampling of a 1.79 MHz chip at
44.1 kHz produces. This module decides the sound per note (timers, volumes, sequences,
filter coefficients) in numpy; the per-sample work (voices, mixer and filters in one pass
over the piece) is compiled (:mod:`neshmm.audio.apu_kernel`, numba, imported on first use).
There is no randomness and no wall-clock input, so equal notes give byte-equal audio.
"""

from __future__ import annotations

import math
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
    """One monophonic voice's notes, times in samples, as the voice loop reads them.

    Only notes that sound are kept (non-empty, starting before the end), sorted by start;
    which note each sample plays is decided sample by sample in the loop
    (:func:`neshmm.audio.apu_kernel.voice_levels`).
    """

    notes: np.ndarray  # (n, 4) int64: start, end (in samples), pitch, velocity
    n_samples: int


def ticks_to_samples(ticks: np.ndarray, ticks_per_beat: int, sample_rate: int) -> np.ndarray:
    return np.rint(np.asarray(ticks, dtype=np.float64) * (sample_rate * 60.0 / BPM) / ticks_per_beat).astype(np.int64)


def timeline(notes: np.ndarray, n_samples: int) -> Timeline:
    """One voice whose note times are already in samples.

    A voice is monophonic: when notes overlap, the one that started last sounds (as when a
    driver writes a new note into the channel's registers); among notes starting on the
    same sample, the last one given.
    """
    notes = np.asarray(notes, dtype=np.int64).reshape(-1, 4)
    notes = notes[(notes[:, 1] > notes[:, 0]) & (notes[:, 0] < n_samples)]
    return Timeline(notes=notes[np.argsort(notes[:, 0], kind="stable")], n_samples=int(n_samples))


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


def _kernel():
    """The compiled loops; imported on first use: numba and the cached kernels take ~0.5 s to load."""
    from neshmm.audio import apu_kernel

    return apu_kernel


def _voice(tl: Timeline, sequence, step: np.ndarray, gain: np.ndarray, restart: bool, silent_gain: float) -> tuple:
    """One voice as the compiled loop takes it (see :func:`~neshmm.audio.apu_kernel.voice_levels`).

    Each output sample is the exact average of the step sequence over that sample's phase
    interval, from the sequence's running integral: a box filter that removes most of the
    aliasing that point sampling a 1.79 MHz chip at 44.1 kHz produces.
    """
    seq = np.ascontiguousarray(sequence, dtype=np.float64)
    integral = np.concatenate([[0.0], np.cumsum(seq)])
    f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    return (seq, integral, np.ascontiguousarray(tl.notes[:, 0]), np.ascontiguousarray(tl.notes[:, 1]), f64(step),
            f64(gain), bool(restart), float(silent_gain))


def _levels(tl: Timeline, voice: tuple) -> np.ndarray:
    return _kernel().voice_levels(*voice, tl.n_samples)


def pulse_voice(tl: Timeline, duty: float, sample_rate: int) -> tuple:
    """A pulse channel (:func:`pulse`) as the compiled loop takes it."""
    if duty not in DUTY_SEQUENCES:
        raise ValueError(f"duty {duty} is not one of {sorted(DUTY_SEQUENCES)}")
    hz = timer_hz(tl.notes[:, 2], 16, PULSE_TIMER_RANGE)
    gain = np.where(hz > 0, np.clip(tl.notes[:, 3], 0, 15), 0)
    # The sequencer restarts at each note-on: the phase is measured from the note's first sample.
    return _voice(tl, DUTY_SEQUENCES[duty], 8.0 * hz / sample_rate, gain, True, 0.0)


def pulse(tl: Timeline, duty: float, sample_rate: int) -> np.ndarray:
    """Pulse channel level 0..15 per sample; exactly 0 where no note sounds."""
    return _levels(tl, pulse_voice(tl, duty, sample_rate))


def triangle_voice(tl: Timeline, sample_rate: int) -> tuple:
    """The triangle channel (:func:`triangle`) as the compiled loop takes it."""
    hz = np.where(tl.notes[:, 3] > 0, timer_hz(tl.notes[:, 2], 32, TRIANGLE_TIMER_RANGE), 0.0)
    # Never reset: between notes the sequencer halts and holds its level, then resumes.
    return _voice(tl, TRIANGLE_SEQUENCE, 32.0 * hz / sample_rate, np.ones(len(hz)), False, 1.0)


def triangle(tl: Timeline, sample_rate: int) -> np.ndarray:
    """Triangle channel level 0..15; any note with velocity >= 1 plays at full level."""
    return _levels(tl, triangle_voice(tl, sample_rate))


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


def noise_voice(tl: Timeline, sample_rate: int, short_mode: bool = False) -> tuple:
    """The noise channel (:func:`noise`) as the compiled loop takes it."""
    volume = np.clip(tl.notes[:, 3], 0, 15).astype(np.float64)
    step = np.where(volume > 0, CPU_HZ / noise_period(tl.notes[:, 2]) / sample_rate, 0.0)
    return _voice(tl, lfsr_levels(short_mode), step, volume, False, 0.0)


def noise(tl: Timeline, sample_rate: int, short_mode: bool = False) -> np.ndarray:
    """Noise channel level 0..15; the LFSR runs on from note to note, as on the console."""
    return _levels(tl, noise_voice(tl, sample_rate, short_mode))


def mix(p1: np.ndarray, p2: np.ndarray, tr: np.ndarray, no: np.ndarray) -> np.ndarray:
    """The APU's non-linear mixer (nesdev "APU Mixer"), without the DMC; output 0..~0.63.

    ``95.88 / (8128 / (p1 + p2) + 100) + 159.79 / (1 / (tr / 8227 + no / 12241) + 100)``,
    each term 0 where its inputs are (:func:`~neshmm.audio.apu_kernel.mix_and_filter`
    without filters).
    """
    f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    return _kernel().mix_and_filter(f64(p1), f64(p2), f64(tr), f64(no), np.zeros((0, 4)))


CONSOLE_FILTERS = ((90.0, "highpass"), (440.0, "highpass"), (14000.0, "lowpass"))


def butter_first_order(cutoff: float, kind: str, sample_rate: int) -> tuple[float, float, float]:
    """``(b0, b1, a1)`` of a first-order digital Butterworth filter (``a0`` = 1).

    What ``scipy.signal.butter(1, cutoff, kind, fs=sample_rate)`` returns (tested against
    it), written out so that rendering does not import scipy.signal (~1 s per process):
    the analog prototype pole -1 moved to the prewarped cutoff ``w = 4 tan(pi cutoff /
    sample_rate)`` (scipy designs at fs = 2), then the bilinear transform. Like scipy's
    complex arithmetic, the divisions by ``4 + w`` multiply by its reciprocal, so the
    coefficients match scipy's to the last bit.
    """
    if kind not in ("lowpass", "highpass"):
        raise ValueError(f"kind {kind!r} is neither 'lowpass' nor 'highpass'")
    if not 0 < cutoff < sample_rate / 2:
        raise ValueError(f"cutoff {cutoff} Hz is not between 0 and the Nyquist frequency {sample_rate / 2} Hz")
    w = 4.0 * math.tan(math.pi * (2.0 * cutoff / sample_rate) / 2.0)
    scale = 1.0 / (4.0 + w)
    a1 = -((4.0 - w) * scale)  # the digital pole, (4 - w) / (4 + w)
    if kind == "lowpass":
        gain = w * scale  # zero at Nyquist
        return gain, gain, a1
    gain = 4.0 * scale  # zero at DC
    return gain, -gain, a1


def console_filters(sample_rate: int) -> np.ndarray:
    """One row ``(b0, b1, a1, zi)`` per output filter of the console, in the order applied.

    The NES's analog output chain: first-order high-pass 90 Hz and 440 Hz, low-pass 14 kHz
    (a filter whose cutoff is not below the Nyquist frequency is left out). ``zi`` is
    ``scipy.signal.lfilter_zi``'s steady state for a unit input, ``(b1 - a1 b0) / (1 +
    a1)``: each filter starts as if its first input had always been there, so a held
    triangle level at time 0 does not thump.
    """
    rows = []
    for cutoff, kind in CONSOLE_FILTERS:
        if cutoff >= sample_rate / 2:
            continue
        b0, b1, a1 = butter_first_order(cutoff, kind, sample_rate)
        rows.append((b0, b1, a1, (b1 - a1 * b0) / (1.0 + a1)))
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


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
    voices = []
    for voice in ("p1", "p2", "tr", "no"):
        v = np.asarray(notes.get(voice, np.zeros((0, 4), np.int64)), dtype=np.int64).reshape(-1, 4).copy()
        v[:, :2] = ticks_to_samples(v[:, :2], ticks_per_beat, sample_rate)
        tl = timeline(v, n_samples)
        if voice == "p1":
            voices.append(pulse_voice(tl, voicing.duty_p1, sample_rate))
        elif voice == "p2":
            voices.append(pulse_voice(tl, voicing.duty_p2, sample_rate))
        elif voice == "tr":
            voices.append(triangle_voice(tl, sample_rate))
        else:
            voices.append(noise_voice(tl, sample_rate, voicing.noise_short_mode))
    # Voices, mixer and console filters in one compiled pass (block by block).
    return _kernel().synthesize(tuple(voices), console_filters(sample_rate), int(n_samples))


def to_pcm16(audio: np.ndarray, gain: float) -> np.ndarray:
    """Scale by a fixed gain (no per-file normalization, so loudness compares across files).

    ``rint(clip(audio * gain, -1, 1) * 32767)``, computed in one scratch array (a piece is
    2.8 M samples: each temporary costs a pass and its page faults).
    """
    x = np.multiply(audio, gain, dtype=np.float64)
    np.clip(x, -1.0, 1.0, out=x)
    x *= 32767.0
    np.rint(x, out=x)
    return x.astype(np.int16)
