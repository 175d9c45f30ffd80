"""Compiled per-sample loops of the APU synthesizer: voices, mixer and console filters in one pass.

Why: the numpy formulation this replaces made about fifteen passes over every voice's
samples (a per-sample note index, per-sample steps and offsets, two cumulative sums, the
running integral's temporaries, a divmod) and then imported scipy.signal (a second per
process) for three first-order filters; a 64 s piece took ~0.5 s. Here one loop runs
over the piece in blocks of :data:`BLOCK` samples: per block, each voice follows its notes
sample by sample into a small buffer, then mixer and filters turn the four buffers into
output (~0.07 s a piece). Only the output is a full-length array, which also spares the
page faults of four more 22 MB arrays per piece.

The arithmetic is the numpy formulation's, operation for operation and in the same order
(the phase is the same running sum, the running integral the same three terms, the
filters scipy ``lfilter``'s transposed direct form II), so the audio is the same signal to
the last bit; ``tests/audio/test_apu_kernel.py`` holds it to the numpy reference. What
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


from numba import types  # noqa: E402

BLOCK = 4096  # samples per block: the four voice buffers (128 KiB) stay in cache

# Per-voice loop state carried from block to block (see _voice_block).
_FOLLOWING, _CURRENT, _PLAYING, _WHOLE, _PERIODS, _INDEX, _START_KNOWN = range(7)
_ACC, _OFFSET, _START_INTEGRAL, _LO, _HI = range(5)


@njit
def _reset_state(ints, floats, seq):
    """A voice's loop state before its first sample: no note yet, phase 0."""
    ints[:] = 0
    ints[_CURRENT] = -1
    ints[_PLAYING] = -2
    floats[:] = 0.0
    floats[_LO] = seq.min()
    floats[_HI] = seq.max()


@njit
def _voice_block(seq, integral, starts, ends, step, gain, restart, silent_gain, ints, floats, s0, out):
    """Levels of one voice for samples ``s0 .. s0 + len(out) - 1`` into ``out``.

    ``ints``/``floats`` hold the loop's state between blocks (:func:`_reset_state`),
    including the sequence's range (its min and max, found once: the noise sequence has
    32767 steps).
    The voice plays the periodic step sequence ``seq``: ``starts``/``ends`` (samples,
    sorted by start) are its notes; note ``j`` advances the phase by ``step[j]`` sequence
    steps per sample and is scaled by ``gain[j]``; where no note sounds the phase halts and
    the level is scaled by ``silent_gain``. A sample plays the last note started at or
    before it, unless that note has ended (a monophonic voice: a later note cuts an earlier
    one off). With ``restart`` the phase is measured from each note's first sample (the
    pulse's sequencer reset at a note-on); without it the phase runs on from note to note.

    Each sample is the mean of the sequence over the sample's phase interval: the
    difference of the running integral ``integral`` (``integral[k]`` = sum of ``seq[:k]``)
    at its two ends, divided by the step; a halted sample holds ``seq`` at its phase.
    """
    lo = floats[_LO]
    hi = floats[_HI]
    n_notes = starts.shape[0]
    following = ints[_FOLLOWING]  # the next note to start
    current = ints[_CURRENT]  # the last note started so far
    playing = ints[_PLAYING]  # the note of the previous sample (-1: none, -2: before the first sample)
    # The running integral at the sample's start phase, with the phase's whole steps split
    # as periods * n + index; kept from sample to sample, so that the usual case (same
    # offset, the phase moved on by less than a period) needs no integer division.
    whole = ints[_WHOLE]
    periods = ints[_PERIODS]
    index = ints[_INDEX]
    start_known = ints[_START_KNOWN] != 0
    acc = floats[_ACC]  # running sum of the steps: the phase at the start of this sample
    offset = floats[_OFFSET]  # the phase the sounding note started at (restart) or 0
    start_integral = floats[_START_INTEGRAL]
    for k in range(out.shape[0]):
        s = s0 + k
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
        out[k] = level * g
    ints[_FOLLOWING] = following
    ints[_CURRENT] = current
    ints[_PLAYING] = playing
    ints[_WHOLE] = whole
    ints[_PERIODS] = periods
    ints[_INDEX] = index
    ints[_START_KNOWN] = 1 if start_known else 0
    floats[_ACC] = acc
    floats[_OFFSET] = offset
    floats[_START_INTEGRAL] = start_integral


@njit
def _mix_filter_block(p1, p2, tr, no, filters, state, first, out):
    """The APU's non-linear mixer, then first-order filters in cascade, into ``out``.

    ``filters`` has one row ``(b0, b1, a1, zi)`` per filter (``a0`` = 1): scipy
    ``lfilter``'s recursion ``y = z + b0 x; z = b1 x - a1 y``, its state (``state``, kept
    between blocks) starting at ``zi`` times the filter's first input (``lfilter_zi``
    scaling: the steady state) when ``first`` is the piece's first block.
    """
    m = filters.shape[0]
    for s in range(out.shape[0]):
        pulses = p1[s] + p2[s]
        pulse_out = 95.88 / (8128.0 / pulses + 100.0) if pulses > 0.0 else 0.0
        tnd = tr[s] / 8227.0 + no[s] / 12241.0
        tnd_out = 159.79 / (1.0 / tnd + 100.0) if tnd > 0.0 else 0.0
        y = pulse_out + tnd_out
        for f in range(m):
            x = y
            if first and s == 0:
                state[f] = filters[f, 3] * x
            y = state[f] + filters[f, 0] * x
            state[f] = x * filters[f, 1] - y * filters[f, 2]
        out[s] = y


_F64 = types.float64[::1]
_I64 = types.int64[::1]
_VOICE_ARGS = (_F64, _F64, _I64, _I64, _F64, _F64, types.boolean, types.float64)


@njit(_F64(*_VOICE_ARGS, types.int64), cache=True, nogil=True)
def voice_levels(seq, integral, starts, ends, step, gain, restart, silent_gain, n_samples):
    """One voice's levels for a whole piece (see :func:`_voice_block` for the arguments)."""
    out = np.empty(n_samples)
    ints = np.empty(7, dtype=np.int64)
    floats = np.empty(5)
    _reset_state(ints, floats, seq)
    _voice_block(seq, integral, starts, ends, step, gain, restart, silent_gain, ints, floats, 0, out)
    return out


@njit(_F64(_F64, _F64, _F64, _F64, types.float64[:, ::1]), cache=True, nogil=True)
def mix_and_filter(p1, p2, tr, no, filters):
    """Mixer and filters (:func:`_mix_filter_block`) over whole voices."""
    out = np.empty(p1.shape[0])
    _mix_filter_block(p1, p2, tr, no, filters, np.zeros(filters.shape[0]), True, out)
    return out


_VOICES = types.UniTuple(types.Tuple(_VOICE_ARGS), 4)


@njit(_F64(_VOICES, types.float64[:, ::1], types.int64), cache=True, nogil=True)
def synthesize(voices, filters, n_samples):
    """A whole piece: four voices (p1, p2, tr, no; each :func:`voice_levels`'s arguments
    but ``n_samples``), mixed and filtered block by block."""
    out = np.empty(n_samples)
    levels = np.empty((4, BLOCK))
    ints = np.empty((4, 7), dtype=np.int64)
    floats = np.empty((4, 5))
    for v in range(4):
        _reset_state(ints[v], floats[v], voices[v][0])
    state = np.zeros(filters.shape[0])
    for s0 in range(0, n_samples, BLOCK):
        m = min(BLOCK, n_samples - s0)
        for v in range(4):  # the four voices' tuples have one type, so a loop can index them
            seq, integral, starts, ends, step, gain, restart, silent_gain = voices[v]
            _voice_block(seq, integral, starts, ends, step, gain, restart, silent_gain, ints[v], floats[v], s0, levels[v, :m])
        _mix_filter_block(levels[0, :m], levels[1, :m], levels[2, :m], levels[3, :m], filters, state, s0 == 0,
                          out[s0:s0 + m])
    return out
