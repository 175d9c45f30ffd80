"""The compiled synthesizer loops play the same signal as the numpy synthesizer they replaced.

The numpy formulation (neshmm/audio/synth.py before the loops were compiled) is kept here,
verbatim apart from names, as the reference: a per-sample note index, cumulative sums of
per-sample phase increments, the running integral of the step sequence evaluated on whole
arrays, and scipy.signal's Butterworth design and ``lfilter``. The compiled loops do the
same operations in the same order, so on this machine the two agree to the last bit; the
tests allow 1e-9 (far below one 16-bit step, 3e-5) so that a compiler that reorders
floating-point arithmetic differently still passes, and check the 16-bit output directly.
"""

from __future__ import annotations

import numpy as np
import pytest

from neshmm.audio.synth import (
    CONSOLE_FILTERS,
    DUTY_SEQUENCES,
    PULSE_TIMER_RANGE,
    TRIANGLE_SEQUENCE,
    TRIANGLE_TIMER_RANGE,
    CPU_HZ,
    Voicing,
    butter_first_order,
    console_filters,
    lfsr_levels,
    mix,
    noise,
    noise_period,
    pulse,
    synthesize,
    ticks_to_samples,
    timeline,
    timer_hz,
    to_pcm16,
    triangle,
)

SR = 44100
TOLERANCE = 1e-9


# --- the numpy reference ---------------------------------------------------------------


class RefTimeline:
    def __init__(self, notes: np.ndarray, n_samples: int):
        notes = np.asarray(notes, dtype=np.int64).reshape(-1, 4)
        notes = notes[(notes[:, 1] > notes[:, 0]) & (notes[:, 0] < n_samples)]
        notes = notes[np.argsort(notes[:, 0], kind="stable")]
        starts = np.zeros(n_samples, dtype=np.int64)
        np.add.at(starts, notes[:, 0], 1)
        idx = np.cumsum(starts) - 1
        if len(notes):
            ends = np.append(notes[:, 1], -1)
            idx[np.arange(n_samples) >= ends[idx]] = -1
        self.note, self.notes = idx, notes

    def per_sample(self, per_note, silent=0):
        table = np.append(np.asarray(per_note), np.asarray(silent, dtype=np.asarray(per_note).dtype))
        return table[self.note]


def ref_running_integral(seq, x):
    n = len(seq)
    integral = np.concatenate([[0.0], np.cumsum(seq)])
    whole = np.floor(x)
    periods, i = np.divmod(whole.astype(np.int64), n)
    frac = np.subtract(x, whole, out=whole)
    out = periods.astype(np.float64)
    out *= integral[n]
    out += integral[i]
    frac *= seq[i]
    out += frac
    return out, i


def ref_box_sample_running(sequence, step, offset=None):
    seq = np.asarray(sequence, dtype=np.float64)
    edges = np.concatenate([[0.0], np.cumsum(step)])
    if offset is None:
        r, i = ref_running_integral(seq, edges)
        width = np.diff(r)
        start_index = i[:-1]
    else:
        r, start_index = ref_running_integral(seq, edges[:-1] - offset)
        jump = np.flatnonzero(np.diff(offset) != 0)
        end = np.append(r[1:], 0.0)
        last = np.append(jump, len(step) - 1) if len(step) else jump
        end[last] = ref_running_integral(seq, edges[last + 1] - offset[last])[0]
        width = np.subtract(end, r, out=end)
    moving = step > 0
    out = np.where(moving, width / np.where(moving, step, 1.0), seq[start_index])
    return np.clip(out, seq.min(), seq.max(), out=out)


def ref_pulse(tl, duty, sample_rate):
    hz = timer_hz(tl.notes[:, 2], 16, PULSE_TIMER_RANGE)
    step = tl.per_sample(8.0 * hz / sample_rate, 0.0)
    note_start_phase = np.concatenate([[0.0], np.cumsum(step)])[tl.notes[:, 0]]
    level = ref_box_sample_running(DUTY_SEQUENCES[duty], step, tl.per_sample(note_start_phase, 0.0))
    gain = tl.per_sample(np.where(hz > 0, np.clip(tl.notes[:, 3], 0, 15), 0).astype(np.float64), 0.0)
    return level * gain


def ref_triangle(tl, sample_rate):
    hz = np.where(tl.notes[:, 3] > 0, timer_hz(tl.notes[:, 2], 32, TRIANGLE_TIMER_RANGE), 0.0)
    return ref_box_sample_running(TRIANGLE_SEQUENCE, tl.per_sample(32.0 * hz / sample_rate, 0.0))


def ref_noise(tl, sample_rate, short_mode=False):
    volume = np.clip(tl.notes[:, 3], 0, 15).astype(np.float64)
    step = tl.per_sample(np.where(volume > 0, CPU_HZ / noise_period(tl.notes[:, 2]) / sample_rate, 0.0), 0.0)
    return ref_box_sample_running(lfsr_levels(short_mode), step) * tl.per_sample(volume, 0.0)


def ref_mix(p1, p2, tr, no):
    pulses = p1 + p2
    pulse_out = np.zeros_like(pulses)
    np.divide(95.88, 8128.0 / np.where(pulses > 0, pulses, 1.0) + 100.0, out=pulse_out, where=pulses > 0)
    tnd = tr / 8227.0 + no / 12241.0
    tnd_out = np.zeros_like(tnd)
    np.divide(159.79, 1.0 / np.where(tnd > 0, tnd, 1.0) + 100.0, out=tnd_out, where=tnd > 0)
    return pulse_out + tnd_out


def ref_console_filter(x, sample_rate):
    from scipy.signal import butter, lfilter, lfilter_zi

    y = np.asarray(x, dtype=np.float64)
    for cutoff, kind in ((90.0, "highpass"), (440.0, "highpass"), (14000.0, "lowpass")):
        if cutoff >= sample_rate / 2:
            continue
        b, a = butter(1, cutoff, btype=kind, fs=sample_rate)
        y, _ = lfilter(b, a, y, zi=lfilter_zi(b, a) * (y[0] if len(y) else 0.0))
    return y


def ref_synthesize(notes, ticks_per_beat, n_samples, sample_rate, voicing=Voicing()):
    levels = {}
    for voice in ("p1", "p2", "tr", "no"):
        v = np.asarray(notes.get(voice, np.zeros((0, 4), np.int64)), dtype=np.int64).reshape(-1, 4).copy()
        v[:, :2] = ticks_to_samples(v[:, :2], ticks_per_beat, sample_rate)
        tl = RefTimeline(v, n_samples)
        if voice == "p1":
            levels[voice] = ref_pulse(tl, voicing.duty_p1, sample_rate)
        elif voice == "p2":
            levels[voice] = ref_pulse(tl, voicing.duty_p2, sample_rate)
        elif voice == "tr":
            levels[voice] = ref_triangle(tl, sample_rate)
        else:
            levels[voice] = ref_noise(tl, sample_rate, voicing.noise_short_mode)
    return ref_console_filter(ref_mix(levels["p1"], levels["p2"], levels["tr"], levels["no"]), sample_rate)


# --- notes shaped like NES-MDB voices, with the awkward cases mixed in ---------------------


def real_shaped_notes(seed: int, n_samples: int, voice: str) -> np.ndarray:
    """A voice's notes in samples: runs of short notes and longer ones, rests, overlaps,
    notes starting on the same sample, notes past the end, velocities 0..15 (and beyond),
    pitches the pulse timer cannot play (pitch < 33 or > 108) and noise pitches 0..17."""
    rng = np.random.default_rng(seed)
    rows, t = [], int(rng.integers(0, 2000))
    while t < n_samples:
        length = int(rng.choice([600, 1400, 2756, 5512, 11025, 22050]) * rng.uniform(0.5, 1.5))
        if voice == "no":
            pitch = int(rng.integers(0, 18))
        else:
            pitch = int(rng.choice([rng.integers(36, 96), rng.integers(10, 33), rng.integers(109, 127)], p=[0.9, 0.05, 0.05]))
        velocity = int(rng.choice([rng.integers(1, 16), 0, 20], p=[0.9, 0.05, 0.05]))
        rows.append([t, t + length, pitch, velocity])
        kind = rng.random()
        if kind < 0.1:  # overlapping: the next note starts before this one ends
            t += max(1, length // 2)
        elif kind < 0.15:  # same start: the later row wins
            rows.append([t, t + length // 3, pitch + 2, velocity])
            t += length
        elif kind < 0.35:  # a rest
            t += length + int(rng.integers(1, 8000))
        else:
            t += length
    rows.append([n_samples - 500, n_samples + 3000, 60, 9])  # runs past the end
    notes = np.array(rows, dtype=np.int64)
    return notes[rng.permutation(len(notes))]  # any input order


N = 8 * SR


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("duty", sorted(DUTY_SEQUENCES))
def test_pulse_matches_numpy_reference(seed, duty):
    notes = real_shaped_notes(seed, N, "p1")
    got = pulse(timeline(notes, N), duty, SR)
    want = ref_pulse(RefTimeline(notes, N), duty, SR)
    assert got.shape == want.shape and np.abs(got - want).max() < TOLERANCE


@pytest.mark.parametrize("seed", [0, 1])
def test_triangle_matches_numpy_reference(seed):
    notes = real_shaped_notes(seed, N, "tr")
    got = triangle(timeline(notes, N), SR)
    want = ref_triangle(RefTimeline(notes, N), SR)
    assert np.abs(got - want).max() < TOLERANCE
    assert np.abs(got).max() == 15.0 and np.any(np.diff(got) == 0)  # played, and held during rests


@pytest.mark.parametrize("short_mode", [False, True])
def test_noise_matches_numpy_reference(short_mode):
    notes = real_shaped_notes(2, N, "no")
    got = noise(timeline(notes, N), SR, short_mode)
    want = ref_noise(RefTimeline(notes, N), SR, short_mode)
    assert np.abs(got - want).max() < TOLERANCE


def test_silent_voices_match_numpy_reference():
    """No notes at all: pulse and noise are 0, the halted triangle holds its first step (15)."""
    empty = np.zeros((0, 4), np.int64)
    assert np.array_equal(pulse(timeline(empty, 1000), 0.5, SR), ref_pulse(RefTimeline(empty, 1000), 0.5, SR))
    assert np.array_equal(triangle(timeline(empty, 1000), SR), ref_triangle(RefTimeline(empty, 1000), SR))
    assert np.all(triangle(timeline(empty, 1000), SR) == 15.0)
    assert np.array_equal(noise(timeline(empty, 1000), SR), np.zeros(1000))
    assert len(synthesize({}, 480, 0, SR)) == 0


VOICINGS = [Voicing(), Voicing(duty_p1=0.125, duty_p2=0.75, noise_short_mode=True), Voicing(duty_p1=0.25, duty_p2=0.25)]


@pytest.mark.parametrize("voicing", VOICINGS)
def test_synthesized_piece_matches_numpy_reference(voicing):
    """Four real-shaped voices at NES-MDB's 22050 ticks per beat, mixed and filtered, then as 16-bit PCM."""
    n = 12 * SR
    notes = {v: real_shaped_notes(10 + k, n, v) for k, v in enumerate(("p1", "p2", "tr", "no"))}
    got = synthesize(notes, 22050, n, SR, voicing)
    want = ref_synthesize(notes, 22050, n, SR, voicing)
    assert np.abs(got - want).max() < TOLERANCE
    pcm_got, pcm_want = to_pcm16(got, 1.5), to_pcm16(want, 1.5)
    differ = np.abs(pcm_got.astype(np.int64) - pcm_want)
    assert differ.max() <= 1 and np.count_nonzero(differ) <= 1e-5 * n
    assert np.abs(pcm_want).max() > 3000  # a real signal was compared, not silence


def test_synthesis_at_low_sample_rates_matches_numpy_reference():
    """At 22.05 kHz the 14 kHz low-pass is above Nyquist and left out, as before."""
    sr = 22050
    notes = {v: real_shaped_notes(20 + k, 4 * SR, v) for k, v in enumerate(("p1", "p2", "tr", "no"))}
    assert len(console_filters(sr)) == 2
    got = synthesize(notes, 22050, 4 * sr, sr)
    assert np.abs(got - ref_synthesize(notes, 22050, 4 * sr, sr)).max() < TOLERANCE


@pytest.mark.parametrize("sample_rate", [8000, 22050, 44100, 48000, 96000])
@pytest.mark.parametrize("cutoff, kind", [*CONSOLE_FILTERS, (1000.0, "lowpass"), (3.0, "highpass")])
def test_butterworth_coefficients_are_scipys(sample_rate, cutoff, kind):
    from scipy.signal import butter, lfilter_zi

    if cutoff >= sample_rate / 2:
        with pytest.raises(ValueError, match="Nyquist"):
            butter_first_order(cutoff, kind, sample_rate)
        return
    b, a = butter(1, cutoff, btype=kind, fs=sample_rate)
    b0, b1, a1 = butter_first_order(cutoff, kind, sample_rate)
    assert a[0] == 1.0
    np.testing.assert_allclose([b0, b1, a1], [b[0], b[1], a[1]], rtol=1e-14, atol=0)
    if (cutoff, kind) in CONSOLE_FILTERS:
        row = console_filters(sample_rate)[[c for c, _ in CONSOLE_FILTERS if c < sample_rate / 2].index(cutoff)]
        np.testing.assert_allclose(row, [b[0], b[1], a[1], lfilter_zi(b, a)[0]], rtol=1e-14, atol=0)


def test_mixer_and_filters_match_scipy_lfilter():
    """Levels with a held start (the steady-state case), rests and jumps, through mixer and filters."""
    rng = np.random.default_rng(5)
    levels = [np.repeat(rng.integers(0, 16, 400).astype(np.float64), 250) for _ in range(4)]
    for x in levels:
        x[30000:40000] = 0.0
    levels[2][:20000] = 15.0
    want = ref_console_filter(ref_mix(*levels), SR)
    from neshmm.audio import apu_kernel

    got = apu_kernel.mix_and_filter(*levels, console_filters(SR))
    assert np.abs(got - want).max() < TOLERANCE
    assert np.abs(mix(*levels) - ref_mix(*levels)).max() < TOLERANCE
