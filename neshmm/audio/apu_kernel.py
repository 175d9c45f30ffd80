"""Compiled per-sample loops of the APU synthesizer: one pass per voice, one for mixer and filters.

Why: the numpy formulation this replaces made about fifteen passes over every voice's
samples (a per-sample note index, per-sample steps and offsets, two cumulative sums, the
running integral's temporaries, a divmod) and then imported scipy.signal (a second per
process) for three first-order filters; a 64 s piece took ~0.5 s. Here each voice is one
loop that follows the notes as it goes, and mixer plus filters are one more loop (~0.05 s).

The arithmetic is the numpy formulation's, operation for operation and in the same order
(the phase is the same running sum, the running integral the same three terms, the
filters scipy ``lfilter``'s transposed direct form II), so the audio is the same signal to
the last bits; ``tests/audio/test_synth.py`` holds it to the numpy reference. What
:mod:`neshmm.audio.synth` documents as sound (duty sequences, timers, LFSR, mixer) is
decided there; this module only runs the loops.

This module imports numba at import time, so it is imported only when audio is rendered.
Signatures are given explicitly, so the kernels are compiled, or loaded from the on-disk
cache keyed by this file's content (:mod:`neshmm.models.numba_cache`), at import, before
the render stage forks its workers: they inherit the machine code instead of each loading it.
"""

from __future__ import annotations

import numpy as np

from neshmm.models import numba_cache

numba_cache.install()  # before numba compiles anything: cache keyed by content (see there)

from numba import njit  # noqa: E402


@njit(inline="always")
def _running_integral(x, whole, periods, index, seq, integral):
    """Integral of the periodic ``seq`` from 0 to phase ``x``, and ``x``'s whole steps split as periods * n + index.

    ``whole, periods, index`` describe the previous phase; when ``x`` moved on by less than
    a period the split is updated by addition instead of an integer division (the result
    is the same integers). The sum is the numpy formulation's: (periods * total +
    integral[index]) + fraction * seq[index].
    """
    n = seq.shape[0]
    w = np.floor(x)
    frac = x - w
    wi = np.int64(w)
    if 0 <= wi - whole < n:
        index += wi - whole
        if index >= n:
            index -= n
            periods += 1
    else:
        periods = wi // n
        index = wi - periods * n
    return wi, periods, index, (periods * integral[n] + integral[index]) + frac * seq[index]


_VOICE_SIGNATURE = "float64[::1](float64[::1], float64[::1], int64[::1], int64[::1], float64[::1], float64[::1], boolean, float64, int64)"


@njit(_VOICE_SIGNATURE, cache=True, nogil=True)
def voice_levels(seq, integral, starts, ends, step, gain, restart, silent_gain, n_samples):
    """Level per sample of one voice playing the periodic step sequence ``seq``.

    ``starts``/``ends`` (samples, sorted by start) are the voice's notes; note ``j`` advances
    the phase by ``step[j]`` sequence steps per sample and is scaled by ``gain[j]``; where
    no note sounds the phase halts and the level is scaled by ``silent_gain``. A sample
    plays the last note started at or before it, unless that note has ended (a monophonic
    voice: a later note cuts an earlier one off). With ``restart`` the phase is measured
    from each note's first sample (the pulse's sequencer reset at a note-on); without it
    the phase runs on from note to note.

    Each sample is the mean of the sequence over the sample's phase interval: the
    difference of the running integral ``integral`` (``integral[k]`` = sum of ``seq[:k]``)
    at its two ends, divided by the step; a halted sample holds ``seq`` at its phase.
    """
    lo = seq.min()
    hi = seq.max()
    out = np.empty(n_samples)
    n_notes = starts.shape[0]
    following = 0  # the next note to start
    current = -1  # the last note started so far
    playing = -2  # the note of the previous sample (-1: none), to spot note-ons
    acc = 0.0  # running sum of the steps: the phase at the start of this sample
    offset = 0.0  # the phase the sounding note started at (restart) or 0
    # Running integral at the sample's start phase, with the phase's whole steps split as
    # periods * n + index. Kept from sample to sample, so that the usual case (same
    # offset, the phase moved on by less than a period) needs no integer division.
    whole = 0  # floor of the phase: 0 = 0 * n + 0 until the first evaluation says otherwise
    periods = 0
    index = 0
    start_integral = 0.0
    start_known = False
    for s in range(n_samples):
        while following < n_notes and starts[following] <= s:
            current = following
            following += 1
        note = current if current >= 0 and s < ends[current] else -1
        if note >= 0:
            st = step[note]
            g = gain[note]
        else:
            st = 0.0
            g = silent_gain
        if note != playing:
            new_offset = acc if (restart and note >= 0) else 0.0
            if new_offset != offset:
                start_known = False
            offset = new_offset
            playing = note
        if not start_known:
            whole, periods, index, start_integral = _running_integral(acc - offset, whole, periods, index, seq, integral)
            start_known = True
        if st > 0.0:
            acc_next = acc + st
            whole, periods, index, end_integral = _running_integral(acc_next - offset, whole, periods, index, seq, integral)
            level = (end_integral - start_integral) / st
            start_integral = end_integral  # the next sample starts where this one ends
            acc = acc_next
        else:
            level = seq[index]  # halted: the level at the (unchanged) phase
        level = min(max(level, lo), hi)  # rounding must not leave the 4-bit range
        out[s] = level * g
    return out


_MIX_SIGNATURE = "float64[::1](float64[::1], float64[::1], float64[::1], float64[::1], float64[:, ::1])"


@njit(_MIX_SIGNATURE, cache=True, nogil=True)
def mix_and_filter(p1, p2, tr, no, filters):
    """The APU's non-linear mixer, then first-order filters in cascade, in one pass.

    ``filters`` has one row ``(b0, b1, a1, zi)`` per filter (``a0`` = 1): scipy
    ``lfilter``'s recursion ``y = z + b0 x; z = b1 x - a1 y``, its state starting at
    ``zi`` times the filter's first input (``lfilter_zi`` scaling: the steady state).
    """
    n = p1.shape[0]
    m = filters.shape[0]
    out = np.empty(n)
    state = np.zeros(m)
    for s in range(n):
        pulses = p1[s] + p2[s]
        pulse_out = 95.88 / (8128.0 / pulses + 100.0) if pulses > 0.0 else 0.0
        tnd = tr[s] / 8227.0 + no[s] / 12241.0
        tnd_out = 159.79 / (1.0 / tnd + 100.0) if tnd > 0.0 else 0.0
        y = pulse_out + tnd_out
        for f in range(m):
            x = y
            if s == 0:
                state[f] = filters[f, 3] * x
            y = state[f] + filters[f, 0] * x
            state[f] = x * filters[f, 1] - y * filters[f, 2]
        out[s] = y
    return out
