"""The NES APU synthesizer: pitch, duty, spectra, silence, mixer, determinism.

Signals are checked by what they sound like (FFT peaks, harmonic ratios, spectral
centroids), not by comparing against stored arrays, so the tests say what "sounds like an
NES" means and survive harmless refactoring.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from neshmm.audio.synth import (
    CPU_HZ,
    DUTY_SEQUENCES,
    PULSE_TIMER_RANGE,
    Voicing,
    lfsr_levels,
    midi_to_hz,
    mix,
    noise,
    noise_period,
    pulse,
    synthesize,
    timeline,
    timer_hz,
    to_pcm16,
    triangle,
)

SR = 44100


def one_note(pitch: int, seconds: float = 1.0, velocity: int = 15, start: int = 0) -> np.ndarray:
    return np.array([[start, start + int(seconds * SR), pitch, velocity]])


def spectrum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = x - x.mean()
    mag = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1.0 / SR), mag


def peak_near(freqs: np.ndarray, mag: np.ndarray, hz: float, rel: float = 0.01) -> float:
    band = (freqs > hz * (1 - rel)) & (freqs < hz * (1 + rel))
    return float(mag[band].max())


def centroid(x: np.ndarray) -> float:
    freqs, mag = spectrum(x)
    power = mag**2
    return float((freqs * power).sum() / power.sum())


@pytest.mark.parametrize("pitch", [45, 57, 69, 81, 93])
def test_pulse_fundamental_within_one_percent(pitch):
    wave = pulse(timeline(one_note(pitch), SR), 0.5, SR)
    freqs, mag = spectrum(wave)
    found = freqs[np.argmax(mag)]
    assert abs(found - midi_to_hz(pitch)) / midi_to_hz(pitch) < 0.01, (pitch, found)


@pytest.mark.parametrize("duty", sorted(DUTY_SEQUENCES))
def test_pulse_duty_cycle(duty):
    wave = pulse(timeline(one_note(57, velocity=12), SR), duty, SR)
    assert wave.max() == pytest.approx(12.0)
    assert wave.min() == pytest.approx(0.0)
    high = np.mean(wave > 6.0)  # box-filtered edges are in between; half level splits them fairly
    assert high == pytest.approx(duty, abs=0.01)


def test_duty_changes_the_timbre_not_the_pitch():
    """12.5 % is thinner than 50 %: more energy in the upper harmonics, same fundamental."""
    thin = pulse(timeline(one_note(57), SR), 0.125, SR)
    square = pulse(timeline(one_note(57), SR), 0.5, SR)
    f0 = timer_hz(np.array([57]), 16, PULSE_TIMER_RANGE)[0]
    for wave in (thin, square):
        freqs, mag = spectrum(wave)
        assert abs(freqs[np.argmax(mag)] - f0) < 2.0
    freqs, mag_sq = spectrum(square)
    _, mag_thin = spectrum(thin)
    # A 50 % square has (almost) no 2nd harmonic; 12.5 % has a strong one.
    assert peak_near(freqs, mag_sq, 2 * f0) < 0.05 * peak_near(freqs, mag_sq, f0)
    assert peak_near(freqs, mag_thin, 2 * f0) > 0.5 * peak_near(freqs, mag_thin, f0)


def test_pulse_silent_during_rests_and_outside_notes():
    notes = np.array([[1000, 5000, 69, 10], [9000, 12000, 72, 8]])
    wave = pulse(timeline(notes, 15000), 0.5, SR)
    assert np.all(wave[:1000] == 0)
    assert np.all(wave[5000:9000] == 0)
    assert np.all(wave[12000:] == 0)
    assert wave[1000:5000].max() == pytest.approx(10.0)
    assert wave[9000:12000].max() == pytest.approx(8.0)


def test_pulse_restarts_its_sequencer_at_each_note():
    """Two identical notes back to back start with identical waveforms (a $4003 write resets the phase)."""
    notes = np.array([[0, 1000, 64, 9], [1000, 2000, 64, 9]])
    wave = pulse(timeline(notes, 2000), 0.25, SR)
    np.testing.assert_allclose(wave[:1000], wave[1000:])


def test_pulse_out_of_timer_range_is_silent():
    low = one_note(20)  # 26 Hz: timer > 0x7FF, the console cannot play it
    assert CPU_HZ / (16 * midi_to_hz(20)) - 1 > PULSE_TIMER_RANGE[1]
    assert np.all(pulse(timeline(low, SR), 0.5, SR) == 0)


def test_velocity_is_the_4bit_volume():
    loud = pulse(timeline(one_note(69, velocity=15), SR), 0.5, SR)
    quiet = pulse(timeline(one_note(69, velocity=3), SR), 0.5, SR)
    np.testing.assert_allclose(quiet * 5, loud)
    clipped = pulse(timeline(one_note(69, velocity=100), SR), 0.5, SR)
    assert clipped.max() == pytest.approx(15.0)


def test_triangle_odd_harmonics_falling_as_one_over_n_squared():
    wave = triangle(timeline(one_note(45, seconds=2.0, velocity=1), 2 * SR), SR)
    assert wave.min() >= 0 and wave.max() <= 15
    assert len(np.unique(np.round(wave[wave.size // 4 :: 997]))) > 8  # a staircase, not a square
    f0 = timer_hz(np.array([45]), 32, (2, 0x7FF))[0]
    freqs, mag = spectrum(wave)
    a = {n: peak_near(freqs, mag, n * f0, rel=0.004) for n in range(1, 8)}
    assert abs(freqs[np.argmax(mag)] - f0) / f0 < 0.01
    assert a[3] / a[1] == pytest.approx(1 / 9, rel=0.2)
    assert a[5] / a[1] == pytest.approx(1 / 25, rel=0.25)
    assert a[7] / a[1] == pytest.approx(1 / 49, rel=0.3)
    for even in (2, 4, 6):
        assert a[even] < 0.02 * a[1], even


def test_triangle_has_no_volume_and_holds_between_notes():
    soft = triangle(timeline(one_note(50, velocity=1), SR), SR)
    loud = triangle(timeline(one_note(50, velocity=15), SR), SR)
    np.testing.assert_array_equal(soft, loud)
    notes = np.array([[0, 1003, 50, 1], [3000, 4000, 50, 1]])
    wave = triangle(timeline(notes, 5000), SR)
    # Halted, not dropped to 0: the level after the note is held (so the rest is a DC step).
    assert np.all(wave[1100:3000] == wave[1100])
    assert np.all(wave[4100:] == wave[4100])


def test_lfsr_periods():
    long, short = lfsr_levels(False), lfsr_levels(True)
    assert len(long) == 32767 and len(short) == 93
    assert long.sum() == 16383  # the all-ones state is the only missing one: 2^14 - 1 zeros of bit 0
    assert set(np.unique(long)) == {0.0, 1.0}


def test_noise_pitch_is_nesmdb_period_index():
    """NES-MDB writes noise pitch = 16 - period index: 16 is the fastest LFSR clock."""
    assert noise_period(np.array([16]))[0] == 4
    assert noise_period(np.array([1]))[0] == 4068
    assert noise_period(np.array([8]))[0] == 202
    assert list(noise_period(np.array([0, 17]))) == [4068, 4]  # clipped into 1..16


def test_noise_is_broadband_and_darker_for_longer_periods():
    waves = {p: noise(timeline(one_note(p, velocity=15), SR), SR) for p in (16, 12, 8, 4, 1)}
    centroids = [centroid(waves[p]) for p in (16, 12, 8, 4, 1)]
    assert all(a > b for a, b in zip(centroids, centroids[1:])), centroids
    freqs, mag = spectrum(waves[16])
    power = mag**2
    # Broadband: every octave from 250 Hz to 16 kHz carries a real share of the energy,
    # and no single frequency dominates the way a tone's fundamental does.
    bands = [(lo, 2 * lo) for lo in (250, 500, 1000, 2000, 4000, 8000)]
    shares = [power[(freqs >= lo) & (freqs < hi)].sum() / power.sum() for lo, hi in bands]
    assert min(shares) > 0.003, shares
    assert power.max() / power.sum() < 0.001


def test_noise_short_mode_is_tonal():
    """The 93-step mode repeats quickly, so its spectrum has strong lines (a metallic tone)."""
    white = noise(timeline(one_note(10), SR), SR, short_mode=False)
    metal = noise(timeline(one_note(10), SR), SR, short_mode=True)
    _, mw = spectrum(white)
    _, mm = spectrum(metal)
    assert (mm**2).max() / (mm**2).sum() > 10 * (mw**2).max() / (mw**2).sum()


def test_noise_silent_during_rests():
    notes = np.array([[100, 2000, 12, 9]])
    wave = noise(timeline(notes, 4000), SR)
    assert np.all(wave[:100] == 0) and np.all(wave[2000:] == 0)
    assert wave[100:2000].max() > 0


def test_mixer_is_the_nes_formula():
    p = np.array([0.0, 15.0, 8.0])
    t = np.array([0.0, 15.0, 0.0])
    n = np.array([0.0, 15.0, 4.0])
    out = mix(p, p, t, n)
    assert out[0] == 0.0
    assert out[1] == pytest.approx(95.88 / (8128 / 30 + 100) + 159.79 / (1 / (15 / 8227 + 15 / 12241) + 100))
    assert out[2] == pytest.approx(95.88 / (8128 / 16 + 100) + 159.79 / (1 / (4 / 12241) + 100))
    # Non-linear: two pulses at 15 are less than twice one pulse at 15.
    assert mix(np.array([15.0]), np.array([15.0]), np.zeros(1), np.zeros(1))[0] < 2 * mix(
        np.array([15.0]), np.zeros(1), np.zeros(1), np.zeros(1)
    )[0]


def test_box_sampling_matches_heavy_oversampling():
    """Averaging the step sequence exactly over each sample = the limit of oversampling."""
    wave = pulse(timeline(one_note(57, seconds=3000 / SR, velocity=1), 3000), 0.25, SR)
    f = timer_hz(np.array([57]), 16, PULSE_TIMER_RANGE)[0]
    over = 512
    phase = np.arange(3000 * over) * (8 * f / SR / over)
    fine = np.array(DUTY_SEQUENCES[0.25], dtype=float)[np.floor(phase).astype(int) % 8]
    np.testing.assert_allclose(wave, fine.reshape(-1, over).mean(axis=1), atol=3e-3)


def four_voices(seconds: float = 4.0) -> dict[str, np.ndarray]:
    tpb = 22050  # at 120 bpm one tick is one 44.1 kHz sample
    beat = tpb
    return {
        "p1": np.array([[0, beat, 72, 12], [beat, 2 * beat, 76, 10], [3 * beat, 4 * beat, 79, 15]]),
        "p2": np.array([[0, 2 * beat, 64, 8], [2 * beat, 4 * beat, 67, 8]]),
        "tr": np.array([[0, 4 * beat, 40, 1]]),
        "no": np.array([[i * beat // 2, i * beat // 2 + 2000, 14 if i % 2 else 4, 11] for i in range(8)]),
    }


def test_synthesize_is_deterministic_and_in_range():
    notes = four_voices()
    a = to_pcm16(synthesize(notes, 22050, 4 * 22050, SR, Voicing(duty_p1=0.25)), 1.5)
    b = to_pcm16(synthesize({k: v.copy() for k, v in notes.items()}, 22050, 4 * 22050, SR, Voicing(duty_p1=0.25)), 1.5)
    assert a.dtype == np.int16 and len(a) == 4 * 22050
    assert hashlib.sha256(a.tobytes()).hexdigest() == hashlib.sha256(b.tobytes()).hexdigest()
    assert np.abs(a).max() > 1000  # audible, not silence


def test_synthesize_respects_ticks_per_beat():
    """The same music at 480 ticks per beat renders to the same length and nearly the same audio."""
    notes = four_voices()
    fine = synthesize(notes, 22050, 4 * 22050, SR)
    coarse_notes = {v: np.column_stack([n[:, :2] * 480 // 22050, n[:, 2:]]) for v, n in notes.items()}
    coarse = synthesize(coarse_notes, 480, 4 * 22050, SR)
    assert len(coarse) == len(fine)
    assert np.corrcoef(fine, coarse)[0, 1] > 0.9


def test_synthesize_settles_to_silence_after_the_music():
    notes = {"p1": np.array([[0, 11025, 69, 15]])}
    out = synthesize(notes, 22050, 3 * 22050, SR)
    assert np.abs(out[: 11025]).max() > 0.05
    assert np.abs(out[-22050:]).max() < 1e-3  # held triangle DC and pulse tail filtered away
